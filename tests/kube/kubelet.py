"""The local kubelet: runs, as real processes, the pods the real scheduler binds to this node.

Why: there is no container runtime here, so this is the one part of the cluster that is ours. Everything
above it is the real control plane (`controlplane.py`): the Deployment and ReplicaSet controllers create
the JobManager pod, Flink's resource manager creates TaskManager pods, the scheduler binds them to node
`kube-local-node`, the garbage collector removes what a deleted owner owned. This kubelet, as a real one:

- authenticates as `system:node:kube-local-node` (client certificate, group `system:nodes`), so the Node
  authorizer and NodeRestriction apply: it sees only pods bound to its node (`spec.nodeName` field
  selector), reads only the ConfigMaps its pods mount, and writes pods through the `status` subresource;
- gives every pod its own network namespace and address (`podnet.py`), its hostname, a hosts file with
  the cluster's Services, and the projected service-account volume (bound token from the TokenRequest
  API, `ca.crt`, `namespace`) at /var/run/secrets/kubernetes.io/serviceaccount plus
  `KUBERNETES_SERVICE_HOST/PORT` — so Flink's fabric8 client runs in-cluster as the pod's service account
  (`flink-sa`), and `include/k8s/20-role-flink-native.yaml` is what authorizes it;
- runs the container's `bash -c …` command from the FLINK_HOME matching the configuration Flink wrote,
  with the few local substitutions of `substitutions.py` (jars, HDFS, Java 17 flags);
- reports Running/ready, restarts `restartPolicy: Always` containers (CrashLoopBackOff 10 s … 5 min from
  the second restart; the first is immediate to keep tests short), reports Succeeded/Failed for `Never`;
- deletes gracefully: SIGTERM, SIGKILL at the grace deadline, then the final status and a delete with
  grace period 0 preconditioned on the pod's uid.

Two ways to run it. The node daemon (`python -m tests.kube.kubelet`, started by `make kube-up`) also
registers the Node (capacity, addresses, Ready) and renews its Lease, serves NodePorts on the node address
(the kube-proxy role, userspace; as `system:kube-proxy`) and pod logs to the API server over HTTPS (the
kubelet's `/containerLogs` endpoint), and runs the pods of every namespace no test claimed. A test runs
an in-process `LocalKubelet(namespace=…)`, which claims its namespace (`.kube-local/claims/<ns>`) so the
daemon leaves its pods alone, and gives the test direct access to the processes (kill -9, hold restarts).

It polls the API every `interval` seconds (level-triggered, like a controller's resync) instead of
holding watches: simpler to stop, and no event can be missed.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tests.fixtures import procs
from tests.kube import flinkconf, podnet, substitutions
from tests.kube.controlplane import NODE_IP, NODE_NAME, Cluster

log = logging.getLogger(__name__)
TIMEOUT = 10
SA_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
HOST_ENV = ("PATH", "JAVA_HOME", "LANG", "LC_ALL", "TZ")  # what a pod inherits from the node (the "image")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _exit_code(proc: procs.ManagedProcess) -> int:
    """A container's exit code as a kubelet reports it: 128 + the signal for a killed process."""
    code = proc.popen.returncode
    return 128 - code if code < 0 else code


@dataclass
class PodRun:
    """One pod this kubelet runs: its process, network, restarts, and what was last reported."""
    name: str
    namespace: str
    uid: str
    cluster_id: str
    role: str  # "jobmanager" | "taskmanager" | "" (not a Flink pod)
    restart_policy: str
    grace: float
    container: str
    net: podnet.PodNet | None = None
    proc: procs.ManagedProcess | None = None
    rest_port: int = 8081
    restarts: int = 0
    finished: bool = False  # terminal status reported; never restarted
    restart_at: float | None = None  # a restart is pending (CrashLoopBackOff) until this monotonic time
    kill_at: float | None = None  # terminating: SIGTERM sent, SIGKILL due at this monotonic time
    exit_codes: list[int] = field(default_factory=list)

    @property
    def ip(self) -> str | None:
        return self.net.ip if self.net else None


@dataclass(frozen=True)
class Prepared:
    """What a container needs on this node: its FLINK_HOME and conf dir (Flink pods), volumes, token dir."""
    flink_home: Path | None
    conf_dir: Path | None
    volumes: dict[str, Path]
    secrets: Path | None


class LocalKubelet:
    """Reconciles the pods bound to this node (of one namespace, or of every unclaimed one)."""

    def __init__(self, cluster: Cluster, work_dir: Path, jar_dir: Path, flink_homes: dict[str, Path],
                 namespace: str | None = None, interval: float = 0.3) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.work_dir = work_dir
        self.local = substitutions.Local(jar_dir=jar_dir, hdfs_root=work_dir / "hdfs",
                                         artifacts_dir=work_dir / "artifacts")
        self.flink_homes = flink_homes  # Flink config file name ("config.yaml", "flink-conf.yaml") -> home
        self.interval = interval
        self.pods: dict[str, PodRun] = {}  # by pod uid
        self.gone: list[PodRun] = []  # runs of deleted pods, oldest first (their logs stay on disk)
        self.errors: list[str] = []
        self.holding_restarts = False  # see `hold_restarts`
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"kubelet-{namespace or 'node'}", daemon=True)
        self._api = config.new_client_from_config(str(cluster.node_kubeconfig))
        self.core = client.CoreV1Api(self._api)
        self._claim = cluster.state / "claims" / namespace if namespace else None
        self._logs = cluster.state / "pod-logs"

    # ---- lifecycle -----------------------------------------------------------------------------

    def start(self) -> LocalKubelet:
        if self._claim is not None:
            self._claim.parent.mkdir(parents=True, exist_ok=True)
            self._claim.write_text(str(os.getpid()))
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop reconciling and every process this kubelet started (SIGTERM, then SIGKILL); free their networks."""
        self._stop.set()
        self._thread.join(timeout=30)
        for run in [*self.pods.values(), *self.gone]:
            if run.proc is not None and run.proc.alive():
                run.proc.stop(grace=5.0)
            self._free(run)
        if self._claim is not None:
            self._claim.unlink(missing_ok=True)
        self._api.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.reconcile()
            except Exception as exc:  # noqa: BLE001 - a reconcile error must not kill the kubelet
                message = f"{type(exc).__name__}: {exc}"
                if not self.errors or self.errors[-1] != message:
                    self.errors.append(message)
                    log.warning("kubelet reconcile failed: %s", message)
            self._stop.wait(self.interval)

    @contextlib.contextmanager
    def hold_restarts(self) -> Iterator[None]:
        """Containers that exit inside the block stay down (CrashLoopBackOff) until it ends.

        A real kubelet waits 10 s before the first restart; this one restarts at once (tests that kill a
        JobManager once need not wait). A test that must observe a JobManager that is *down* holds restarts.
        """
        self.holding_restarts = True
        try:
            yield
        finally:
            self.holding_restarts = False

    # ---- queries for tests ---------------------------------------------------------------------

    def process(self, pod_name: str) -> procs.ManagedProcess | None:
        for run in self.pods.values():
            if run.name == pod_name:
                return run.proc
        return None

    def jobmanager(self, cluster_id: str) -> PodRun | None:
        """The newest JobManager run of a cluster whose pod exists, else the latest one that is gone."""
        for run in [*reversed(self.pods.values()), *reversed(self.gone)]:
            if run.cluster_id == cluster_id and run.role == "jobmanager":
                return run
        return None

    def rest_url(self, cluster_id: str) -> str | None:
        """Flink REST of the cluster's current JobManager, at its pod address (None before it runs)."""
        run = self.jobmanager(cluster_id)
        if run is None or run.ip is None or run.kill_at is not None:
            return None
        return f"http://{run.ip}:{run.rest_port}"

    # ---- reconcile -----------------------------------------------------------------------------

    def _claimed(self, namespace: str) -> bool:
        return (self.cluster.state / "claims" / namespace).exists()

    def reconcile(self) -> None:
        selector = f"spec.nodeName={NODE_NAME}"
        if self.namespace:
            pods = self.core.list_namespaced_pod(self.namespace, field_selector=selector,
                                                 _request_timeout=TIMEOUT).items
        else:
            pods = [p for p in self.core.list_pod_for_all_namespaces(field_selector=selector,
                                                                      _request_timeout=TIMEOUT).items
                    if p.metadata.uid in self.pods or not self._claimed(p.metadata.namespace)]
        live = {p.metadata.uid for p in pods}
        for pod in pods:
            run = self.pods.get(pod.metadata.uid)
            if pod.metadata.deletion_timestamp:
                self._terminate(pod, run)
            elif run is None:
                if (pod.status.phase or "Pending") == "Pending":
                    self._start_pod(pod)
            elif run.restart_at is not None:
                if time.monotonic() >= run.restart_at and not self.holding_restarts:
                    self._restart(pod, run)
            elif not run.finished and run.proc is not None and not run.proc.alive():
                self._on_exit(pod, run)
        for uid in [uid for uid in self.pods if uid not in live]:
            self.gone.append(self.pods.pop(uid))
            self._on_removed(self.gone[-1])
        self._enforce_deadlines()
        self._refresh_hosts(pods)

    def _refresh_hosts(self, pods: list[Any]) -> None:
        """Each running pod's hosts file: its own name, and every Service of its namespace -> its pods."""
        namespaces = {run.namespace for run in self.pods.values() if run.net}
        services: dict[str, list[Any]] = {}
        for ns in namespaces:
            services[ns] = self.core.list_namespaced_service(ns, _request_timeout=TIMEOUT).items
        ips = {p.metadata.uid: self.pods[p.metadata.uid].ip for p in pods
               if p.metadata.uid in self.pods and self.pods[p.metadata.uid].ip}
        for run in self.pods.values():
            if run.net is None or run.kill_at is not None:
                continue
            entries = [(run.net.ip, run.name)]
            for svc in services.get(run.namespace, []):
                selector = svc.spec.selector or {}
                if not selector:
                    continue
                names = [svc.metadata.name, f"{svc.metadata.name}.{run.namespace}",
                         f"{svc.metadata.name}.{run.namespace}.svc",
                         f"{svc.metadata.name}.{run.namespace}.svc.cluster.local"]
                for pod in pods:
                    labels = pod.metadata.labels or {}
                    ip = ips.get(pod.metadata.uid)
                    if ip and pod.metadata.namespace == run.namespace and not pod.metadata.deletion_timestamp \
                            and all(labels.get(k) == v for k, v in selector.items()):
                        entries.append((ip, " ".join(names)))
            entries.append((NODE_IP, "kubernetes kubernetes.default kubernetes.default.svc "
                                     "kubernetes.default.svc.cluster.local"))
            podnet.write_hosts(run.net, entries)

    def _prepare(self, pod: Any, run: PodRun) -> Prepared | None:
        """Write the pod's volumes (Flink's configuration with the substitutions); None while one is missing."""
        volumes = self._volumes(pod)
        if volumes is None:
            return None  # a ConfigMap it mounts does not exist yet; a kubelet would wait too
        secrets = volumes.pop(SA_MOUNT, None)
        conf_dir = next((d for d in volumes.values() if any((d / n).exists() for n in flinkconf.CONF_FILES)),
                        None)
        if conf_dir is None:
            return Prepared(None, None, volumes, secrets)  # not a Flink pod: its command runs as it is
        conf_name = next(n for n in flinkconf.CONF_FILES if (conf_dir / n).exists())
        major = 2 if conf_name == "config.yaml" else 1
        conf = flinkconf.parse(conf_name, (conf_dir / conf_name).read_text())
        run.rest_port = int(conf.get("rest.port") or 8081)
        if run.role == "jobmanager":
            overrides = substitutions.jobmanager(conf, self.local, major, conf_dir)
        else:
            overrides = substitutions.taskmanager(conf, self.local, major)
        (conf_dir / conf_name).write_text(flinkconf.render(conf_name, {**conf, **overrides}))
        return Prepared(self.flink_homes[conf_name], conf_dir, volumes, secrets)

    def _start_pod(self, pod: Any) -> None:
        labels = pod.metadata.labels or {}
        grace = pod.spec.termination_grace_period_seconds
        run = PodRun(name=pod.metadata.name, namespace=pod.metadata.namespace, uid=pod.metadata.uid,
                     cluster_id=labels.get("app", ""), role=labels.get("component", ""),
                     restart_policy=pod.spec.restart_policy or "Always",
                     grace=float(30 if grace is None else grace), container=pod.spec.containers[0].name)
        prepared = self._prepare(pod, run)
        if prepared is None:
            return
        run.net = podnet.allocate()
        self.pods[run.uid] = run
        self._launch(pod, run, prepared)

    def _volumes(self, pod: Any) -> dict[str, Path] | None:
        """ConfigMap and projected volumes written to local dirs: mountPath -> dir (None if one is missing)."""
        container = pod.spec.containers[0]
        mounts = {m.name: m.mount_path for m in container.volume_mounts or []}
        result: dict[str, Path] = {}
        for volume in pod.spec.volumes or []:
            if volume.name not in mounts:
                continue
            dest = self.work_dir / "pods" / pod.metadata.namespace / pod.metadata.name / volume.name
            if volume.config_map is not None:
                files = self._config_map_files(pod, volume.config_map.name, volume.config_map.items)
            elif volume.projected is not None:
                files = self._projected_files(pod, volume.projected.sources or [])
            else:
                continue
            if files is None:
                return None
            dest.mkdir(parents=True, exist_ok=True)
            for name, text in files.items():
                (dest / name).write_text(text)
            result[mounts[volume.name]] = dest
        return result

    def _config_map_files(self, pod: Any, name: str, items: Any) -> dict[str, str] | None:
        try:
            cm = self.core.read_namespaced_config_map(name, pod.metadata.namespace, _request_timeout=TIMEOUT)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        data = cm.data or {}
        pairs = [(i.key, i.path) for i in items] if items else [(k, k) for k in data]
        return {path: data[key] for key, path in pairs if key in data}

    def _projected_files(self, pod: Any, sources: list[Any]) -> dict[str, str] | None:
        """The service-account volume the ServiceAccount admission plugin adds: token, ca.crt, namespace."""
        files: dict[str, str] = {}
        for source in sources:
            if source.service_account_token is not None:
                token = self.core.create_namespaced_service_account_token(
                    pod.spec.service_account_name or "default", pod.metadata.namespace, {"spec": {
                        "expirationSeconds": max(int(source.service_account_token.expiration_seconds or 3607),
                                                 86400),
                        "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": pod.metadata.name,
                                           "uid": pod.metadata.uid}}}, _request_timeout=TIMEOUT)
                files[source.service_account_token.path] = token.status.token
            elif source.config_map is not None:
                part = self._config_map_files(pod, source.config_map.name, source.config_map.items)
                if part is None:
                    return None
                files.update(part)
            elif source.downward_api is not None:
                for item in source.downward_api.items or []:
                    if item.field_ref is not None and item.field_ref.field_path == "metadata.namespace":
                        files[item.path] = pod.metadata.namespace
        return files

    def _env(self, pod: Any, run: PodRun, prepared: Prepared) -> dict[str, str]:
        assert run.net is not None
        fields = {"status.podIP": run.net.ip, "spec.nodeName": NODE_NAME, "metadata.name": run.name,
                  "metadata.namespace": run.namespace, "status.hostIP": NODE_IP,
                  "spec.serviceAccountName": pod.spec.service_account_name or "default"}
        env = {k: os.environ[k] for k in HOST_ENV if k in os.environ}
        for var in pod.spec.containers[0].env or []:
            if var.value is not None:
                value = var.value
                for mount, local in prepared.volumes.items():
                    value = value.replace(mount, str(local))
                env[var.name] = value
            elif var.value_from is not None and var.value_from.field_ref is not None:
                env[var.name] = fields.get(var.value_from.field_ref.field_path, "")
        pod_dir = self.work_dir / "pods" / run.namespace / run.name
        log_dir = pod_dir / "log"
        log_dir.mkdir(parents=True, exist_ok=True)
        env.update({"HOME": str(pod_dir), "HOSTNAME": run.name[:63], "PYTHONPATH": podnet.pythonpath(),
                    # As a kubelet sets them from the `kubernetes` Service; its ClusterIP is not routed here
                    # (no kube-proxy for ClusterIPs), so they name the API server's own address and port.
                    "KUBERNETES_SERVICE_HOST": NODE_IP, "KUBERNETES_SERVICE_PORT": str(self.cluster.ports.apiserver)})
        if prepared.flink_home is not None and prepared.conf_dir is not None:
            env.update({"FLINK_CONF_DIR": str(prepared.conf_dir), "FLINK_LOG_DIR": str(log_dir),
                        "PATH": f"{prepared.flink_home / 'bin'}:{env.get('PATH', os.defpath)}"})
        return env

    def _launch(self, pod: Any, run: PodRun, prepared: Prepared, last_exit: int | None = None) -> None:
        assert run.net is not None
        container = pod.spec.containers[0]
        if prepared.flink_home is not None:
            args = list(container.args or [])
            if len(args) != 3 or args[:2] != ["bash", "-c"]:
                raise ValueError(f"pod {run.name}: container args {args!r} are not the `bash -c <cmd>` form "
                                 "Flink's pod factories produce")
            command = ["bash", "-c", substitutions.dynamic_args(args[2], self.local)]
        else:  # any other pod: no image here, its command runs from the node's file system
            command = [*(container.command or []), *(container.args or [])]
            if not command:
                raise ValueError(f"pod {run.name}: no command (images are not run here; name the program)")
        env = self._env(pod, run, prepared)
        run.proc = procs.start(f"{run.name}-{run.restarts}",
                               podnet.exec_argv(run.net, run.name, prepared.secrets, command),
                               self.work_dir / "logs", env=env, cwd=self.work_dir, inherit_env=False)
        self._link_log(run)
        self._report_running(run, last_exit)

    def _link_log(self, run: PodRun) -> None:
        """Where the node daemon serves `kubectl logs` from (as /var/log/pods on a real node)."""
        assert run.proc is not None
        self._logs.mkdir(parents=True, exist_ok=True)
        link = self._logs / f"{run.namespace}_{run.name}_{run.container}.log"
        tmp = link.with_name(link.name + f".{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(run.proc.log_path)
        tmp.rename(link)

    def _patch_status(self, run: PodRun, status: dict[str, Any]) -> None:
        try:
            self.core.patch_namespaced_pod_status(run.name, run.namespace, {"status": status},
                                                  _request_timeout=TIMEOUT)
        except ApiException as exc:
            if exc.status != 404:  # deleted meanwhile: nothing left to report on
                raise

    def _report_running(self, run: PodRun, last_exit: int | None = None) -> None:
        assert run.net is not None
        now = _now()
        self._patch_status(run, {
            "phase": "Running", "podIP": run.net.ip, "hostIP": NODE_IP, "podIPs": [{"ip": run.net.ip}],
            "hostIPs": [{"ip": NODE_IP}], "startTime": now,
            "conditions": [{"type": t, "status": "True", "lastTransitionTime": now}
                           for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")],
            "containerStatuses": [{
                "name": run.container, "ready": True, "started": True,
                "restartCount": run.restarts, "image": "local", "imageID": "local",
                "state": {"running": {"startedAt": now}},
                "lastState": ({"terminated": {"exitCode": last_exit, "reason": "Error" if last_exit else
                                              "Completed", "finishedAt": now}} if last_exit is not None else {}),
            }],
        })

    def _on_exit(self, pod: Any, run: PodRun) -> None:
        assert run.proc is not None
        try:  # the JobManager deletes its own Deployment (and so marks this pod) before it exits
            if self.core.read_namespaced_pod(run.name, run.namespace,
                                             _request_timeout=TIMEOUT).metadata.deletion_timestamp:
                return  # terminating: no restart; `_terminate` reports and removes it
        except ApiException as exc:
            if exc.status == 404:
                return
            raise
        code = _exit_code(run.proc)
        run.exit_codes.append(code)
        restart = run.restart_policy == "Always" or (run.restart_policy == "OnFailure" and code != 0)
        if restart:
            # CrashLoopBackOff: 10 s doubling to 5 min, except that the first restart is immediate
            # (a real kubelet waits 10 s there too; tests that kill a JobManager once need not).
            delay = 0.0 if run.restarts == 0 else min(10.0 * 2 ** (run.restarts - 1), 300.0)
            run.restart_at = time.monotonic() + delay
            if delay or self.holding_restarts:
                self._report_waiting(run, code)
            return
        self._report_terminated(run, code)

    def _report_terminated(self, run: PodRun, code: int) -> None:
        run.finished = True
        now = _now()
        self._patch_status(run, {
            "phase": "Succeeded" if code == 0 else "Failed",
            "conditions": [{"type": t, "status": "False", "lastTransitionTime": now}
                           for t in ("ContainersReady", "Ready")],
            "containerStatuses": [{
                "name": run.container, "ready": False, "started": False,
                "restartCount": run.restarts, "image": "local", "imageID": "local",
                "state": {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                                         "finishedAt": now}}}]})

    def _restart(self, pod: Any, run: PodRun) -> None:
        run.restart_at = None
        run.restarts += 1
        prepared = self._prepare(pod, run)
        if prepared is None:
            raise RuntimeError(f"pod {run.name}: its ConfigMaps disappeared, cannot restart it")
        self._launch(pod, run, prepared, last_exit=run.exit_codes[-1])

    def _report_waiting(self, run: PodRun, code: int) -> None:
        now = _now()
        self._patch_status(run, {
            "conditions": [{"type": t, "status": "False", "lastTransitionTime": now}
                           for t in ("ContainersReady", "Ready")],
            "containerStatuses": [{
                "name": run.container, "ready": False, "started": False,
                "restartCount": run.restarts, "image": "local", "imageID": "local",
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": code, "reason": "Error" if code else "Completed",
                                             "finishedAt": now}}}]})

    # ---- deletion --------------------------------------------------------------------------------

    def _terminate(self, pod: Any, run: PodRun | None) -> None:
        """A pod marked for deletion: stop its container, then remove the object (grace period 0)."""
        if run is not None and run.proc is not None:
            if run.kill_at is None:
                self._stop_container(run, float(pod.metadata.deletion_grace_period_seconds or 0))
            if run.proc.alive():
                return  # still shutting down: the pod stays "Terminating" (see `_enforce_deadlines`)
            run.proc.stop(grace=1.0)  # the container's main process is gone: so is the rest of it
            if not run.finished:
                self._report_terminated(run, _exit_code(run.proc))
        try:
            self.core.delete_namespaced_pod(pod.metadata.name, pod.metadata.namespace, body=client.V1DeleteOptions(
                grace_period_seconds=0, preconditions=client.V1Preconditions(uid=pod.metadata.uid)),
                _request_timeout=TIMEOUT)
        except ApiException as exc:
            if exc.status not in (404, 409):  # already removed (force delete), or a new pod of that name
                raise

    def _stop_container(self, run: PodRun, grace: float) -> None:
        """SIGTERM the process group once; no restart; SIGKILL is due `grace` seconds from now."""
        run.kill_at = time.monotonic() + grace
        run.restart_at = None
        if run.proc is not None and run.proc.alive():
            try:
                os.killpg(run.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def _enforce_deadlines(self) -> None:
        for run in [*self.pods.values(), *self.gone]:
            if run.kill_at is not None and time.monotonic() >= run.kill_at and run.proc is not None \
                    and run.proc.alive():
                try:
                    os.killpg(run.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                run.proc.popen.wait(timeout=5)
            if run.kill_at is not None and (run.proc is None or not run.proc.alive()) and run in self.gone:
                self._free(run)

    def _on_removed(self, run: PodRun) -> None:
        """The pod object is gone. Force-deleted before its container stopped: stop it anyway."""
        if run.kill_at is None:
            self._stop_container(run, run.grace)
        if run.proc is None or not run.proc.alive():
            self._free(run)

    def _free(self, run: PodRun) -> None:
        if run.net is not None:
            podnet.release(run.net)
            run.net = None
        link = self._logs / f"{run.namespace}_{run.name}_{run.container}.log"
        with contextlib.suppress(OSError):
            if link.is_symlink() and run.proc is not None and Path(os.readlink(link)) == run.proc.log_path:
                link.unlink()


def jar_dir_with(dest: Path, jars: dict[str, Path]) -> Path:
    """A stand-in for the image's /opt/flink/usrlib: `{"Streaming-Job.jar": built_jar}` symlinked."""
    dest.mkdir(parents=True, exist_ok=True)
    for name, jar in jars.items():
        if not re.fullmatch(r"[\w.-]+\.jar", name):
            raise ValueError(f"jar name {name!r} is not a plain `<name>.jar` file name")
        link = dest / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(jar)
    return dest


def main(argv: list[str] | None = None) -> None:
    """The node daemon: Node + Lease, NodePorts, pod logs, and the pods of unclaimed namespaces."""
    from tests.fixtures.paths import FLINK_23, FLINK_115
    from tests.kube import controlplane, node

    parser = argparse.ArgumentParser(prog="python -m tests.kube.kubelet")
    parser.add_argument("--state", type=Path, default=controlplane.STATE)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cluster = controlplane.Cluster(state=args.state, ports=controlplane.cluster().ports)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    agent = node.NodeAgent(cluster).start()
    work = args.state / "node"
    kubelet = LocalKubelet(cluster, work_dir=work, jar_dir=work / "usrlib",
                           flink_homes={"config.yaml": FLINK_23, "flink-conf.yaml": FLINK_115}).start()
    try:
        stop.wait()
    finally:
        kubelet.stop()
        agent.stop()


if __name__ == "__main__":
    main()


def claim_namespace(cluster: Cluster, namespace: str) -> Path:
    """Keep the node daemon off a namespace without running its pods (they stay Pending); unlink to release."""
    claim = cluster.state / "claims" / namespace
    claim.parent.mkdir(parents=True, exist_ok=True)
    claim.write_text(str(os.getpid()))
    return claim
