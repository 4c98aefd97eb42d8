"""A "local kubelet": runs, as real processes, the Flink pods that the real Flink CLI deploys.

Why: HA-aware health checks, redeploys and the stale-HA-ConfigMap trap depend on what a real
JobManager writes into Kubernetes. This reconciler gives the emulated API the parts of a cluster
Flink relies on, and nothing more:

- Deployment controller: a Flink JobManager Deployment (`type=flink-native-kubernetes`,
  `component=jobmanager`) gets one Pod owned by it.
- kubelet: every Flink pod (JobManager, and the TaskManager pods Flink's resource manager creates)
  is "scheduled" (spec.nodeName, status Running/podIP/conditions — the resource manager rejects
  TaskManagers of pods that do not look scheduled) and its container's `bash -c …` command runs
  from the FLINK_HOME matching the configuration Flink wrote, with the configuration of its
  ConfigMap volumes plus the documented substitutions of `substitutions.py`. Process exits are
  reflected into pod status; `restartPolicy: Always` (JobManager) restarts the container and
  counts `restartCount` (CrashLoopBackOff 10 s…5 min from the second restart on; the first one is
  immediate, unlike a real kubelet, to keep tests short); `Never` (TaskManagers) reports
  Succeeded/Failed with the exit code. Deletion is graceful, as on a real node: the API server
  only marks a scheduled pod (`deletionTimestamp`, phase unchanged: "Terminating"); the kubelet
  SIGTERMs the process group, SIGKILLs it at the grace deadline, and once the container has
  exited reports its final status and deletes the pod with gracePeriodSeconds=0 (preconditioned
  on its uid). So "the JobManager pod is gone" means its process has exited, which a redeploy
  that reuses the cluster id relies on. Flink's own shutdown deletes its Deployment; the
  resulting SIGTERM races with Flink's last cleanup exactly as on a real cluster.
- kube-proxy/NodePort: the JobManager's REST port is the `<id>-rest` Service's nodePort (the
  emulator allocates one that is free on 127.0.0.1, and its Node's ExternalIP is 127.0.0.1), and
  the API server's service proxy is pointed at it until that pod starts terminating. Ports and
  proxy backends belong to one pod (by uid): a new cluster with the same id gets its own.
Garbage collection through ownerReferences is done by the emulator itself (on delete, and for
objects created after all their owners are gone).

It polls the API every `interval` seconds (level-triggered, like a controller's resync) instead of
holding watches: simpler to stop, and no event can be missed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tests.fixtures import procs
from tests.kube import flinkconf, substitutions
from tests.kube.emulator import NODE_NAME
from tests.kube.server import EmulatorServer

log = logging.getLogger(__name__)
FLINK_LABELS = "type=flink-native-kubernetes"
JM_LABELS = "type=flink-native-kubernetes,component=jobmanager"
POD_IP = "127.0.0.1"
TIMEOUT = 10


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _exit_code(proc: procs.ManagedProcess) -> int:
    """A container's exit code as a kubelet reports it: 128 + the signal for a killed process."""
    code = proc.popen.returncode
    return 128 - code if code < 0 else code


@dataclass
class PodRun:
    """One pod this kubelet runs: its process, restarts, and what was last reported."""
    name: str
    uid: str
    cluster_id: str
    role: str  # "jobmanager" | "taskmanager"
    restart_policy: str
    grace: float
    proc: procs.ManagedProcess | None = None
    restarts: int = 0
    finished: bool = False  # terminal status reported; never restarted
    restart_at: float | None = None  # a restart is pending (CrashLoopBackOff) until this monotonic time
    kill_at: float | None = None  # terminating: SIGTERM sent, SIGKILL due at this monotonic time
    ports: tuple[int, int, int] | None = None  # JobManager: (rpc, blob, rest), kept across restarts
    exit_codes: list[int] = field(default_factory=list)


class LocalKubelet:
    """Reconciles one namespace of the emulator into local Flink processes (start/stop it)."""

    def __init__(self, server: EmulatorServer, namespace: str, kubeconfig: Path, work_dir: Path,
                 jar_dir: Path, flink_homes: dict[str, Path], interval: float = 0.3) -> None:
        self.server = server
        self.namespace = namespace
        self.kubeconfig = kubeconfig
        self.work_dir = work_dir
        self.local = substitutions.Local(kubeconfig=kubeconfig, jar_dir=jar_dir,
                                         hdfs_root=work_dir / "hdfs", artifacts_dir=work_dir / "artifacts")
        self.flink_homes = flink_homes  # Flink config file name ("config.yaml", "flink-conf.yaml") -> home
        self.interval = interval
        self.pods: dict[str, PodRun] = {}  # by pod uid
        self.gone: list[PodRun] = []  # runs of deleted pods, oldest first (their logs stay on disk)
        self.ports: dict[str, tuple[int, int, int]] = {}  # cluster id -> its latest JobManager's ports
        self.errors: list[str] = []
        self.holding_restarts = False  # see `hold_restarts`
        self._backends: dict[tuple[str, str], str] = {}  # service proxy key -> uid of the pod behind it
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"kubelet-{namespace}", daemon=True)
        self._api = config.new_client_from_config(str(kubeconfig))
        self.core = client.CoreV1Api(self._api)
        self.apps = client.AppsV1Api(self._api)

    # ---- lifecycle -----------------------------------------------------------------------------

    def start(self) -> LocalKubelet:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop reconciling and every process this kubelet started (SIGTERM, then SIGKILL)."""
        self._stop.set()
        self._thread.join(timeout=30)
        for run in [*self.pods.values(), *self.gone]:
            if run.proc is not None and run.proc.alive():
                run.proc.stop(grace=5.0)
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

        A real kubelet waits 10 s before the first restart; this harness restarts at once (tests that kill a
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

    def rest_url(self, cluster_id: str) -> str:
        return f"http://127.0.0.1:{self.ports[cluster_id][2]}"

    # ---- reconcile -----------------------------------------------------------------------------

    def reconcile(self) -> None:
        ns = self.namespace
        for dep in self.apps.list_namespaced_deployment(ns, label_selector=JM_LABELS,
                                                        _request_timeout=TIMEOUT).items:
            self._ensure_jobmanager_pod(dep)
        pods = self.core.list_namespaced_pod(ns, label_selector=FLINK_LABELS, _request_timeout=TIMEOUT).items
        live = {p.metadata.uid for p in pods}
        for pod in pods:
            run = self.pods.get(pod.metadata.uid)
            if pod.metadata.deletion_timestamp:
                self._terminate(pod, run)
            elif run is None:
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

    def _ensure_jobmanager_pod(self, dep: Any) -> None:
        """`spec.replicas` (0 or 1) active pods per Deployment, as its ReplicaSet keeps them.

        A terminating pod does not count. Scaled to 0, the active pod is deleted with its grace period
        (SIGTERM first), and the Deployment's status says 0 replicas.
        """
        if dep.metadata.deletion_timestamp:
            return
        labels = dep.spec.template.metadata.labels or {}
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        active = [p for p in self.core.list_namespaced_pod(self.namespace, label_selector=selector,
                                                           _request_timeout=TIMEOUT).items
                  if any(o.uid == dep.metadata.uid for o in p.metadata.owner_references or [])
                  and not p.metadata.deletion_timestamp]
        wanted = 1 if dep.spec.replicas is None else min(int(dep.spec.replicas), 1)
        if wanted == 0:
            for pod in active:
                try:
                    self.core.delete_namespaced_pod(pod.metadata.name, self.namespace, _request_timeout=TIMEOUT)
                except ApiException as exc:
                    if exc.status != 404:
                        raise
            if dep.status is None or (dep.status.replicas or 0) != 0:
                self.apps.patch_namespaced_deployment_status(dep.metadata.name, self.namespace, {"status": {
                    "replicas": 0, "readyReplicas": 0, "availableReplicas": 0, "updatedReplicas": 0}},
                    _request_timeout=TIMEOUT)
            return
        if active:
            return
        template = self._api.sanitize_for_serialization(dep.spec.template)
        pod = {"metadata": {"name": f"{dep.metadata.name}-{uuid.uuid4().hex[:10]}-{uuid.uuid4().hex[:5]}",
                            "labels": labels, "annotations": template["metadata"].get("annotations", {}),
                            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                                 "name": dep.metadata.name, "uid": dep.metadata.uid,
                                                 "controller": True, "blockOwnerDeletion": True}]},
               "spec": template["spec"]}
        self.core.create_namespaced_pod(self.namespace, pod, _request_timeout=TIMEOUT)

    def _prepare(self, pod: Any, run: PodRun) -> tuple[Path, Path, dict[str, Path]] | None:
        """Write the pod's ConfigMap volumes with the substitutions; None while something is missing."""
        volumes = self._volumes(pod)
        if volumes is None:
            return None  # a ConfigMap it mounts does not exist yet; a kubelet would wait too
        conf_dir = next((d for d in volumes.values() if any((d / n).exists() for n in flinkconf.CONF_FILES)),
                        None)
        if conf_dir is None:
            return None
        conf_name = next(n for n in flinkconf.CONF_FILES if (conf_dir / n).exists())
        major = 2 if conf_name == "config.yaml" else 1
        conf = flinkconf.parse(conf_name, (conf_dir / conf_name).read_text())
        if run.role == "jobmanager":
            run.ports = run.ports or self._jobmanager_ports(run.cluster_id)
            if run.ports is None:
                return None  # the `<id>-rest` Service is not there yet
            self.ports[run.cluster_id] = run.ports
            overrides = substitutions.jobmanager(conf, self.local, major, conf_dir, *run.ports)
        else:
            jm_ports = self.ports.get(run.cluster_id)
            overrides = substitutions.taskmanager(conf, self.local, major, jm_ports[0] if jm_ports else None)
        (conf_dir / conf_name).write_text(flinkconf.render(conf_name, {**conf, **overrides}))
        return self.flink_homes[conf_name], conf_dir, volumes

    def _start_pod(self, pod: Any) -> None:
        labels = pod.metadata.labels or {}
        grace = pod.spec.termination_grace_period_seconds
        run = PodRun(name=pod.metadata.name, uid=pod.metadata.uid, cluster_id=labels.get("app", ""),
                     role=labels.get("component", ""), restart_policy=pod.spec.restart_policy or "Always",
                     grace=float(30 if grace is None else grace))
        prepared = self._prepare(pod, run)
        if prepared is None:
            return
        self.pods[run.uid] = run
        self.core.patch_namespaced_pod(run.name, self.namespace, {"spec": {"nodeName": NODE_NAME}},
                                       _request_timeout=TIMEOUT)
        self._launch(pod, run, *prepared)
        if run.role == "jobmanager" and run.ports is not None:
            key, rest = (self.namespace, f"{run.cluster_id}-rest"), f"http://127.0.0.1:{run.ports[2]}"
            self._backends[key] = run.uid
            self.server.call(lambda e: e.service_backends.__setitem__(key, rest))

    def _volumes(self, pod: Any) -> dict[str, Path] | None:
        """ConfigMap volumes written to local dirs: mountPath -> dir (None if a ConfigMap is missing)."""
        container = pod.spec.containers[0]
        mounts = {m.name: m.mount_path for m in container.volume_mounts or []}
        result: dict[str, Path] = {}
        for volume in pod.spec.volumes or []:
            if volume.config_map is None or volume.name not in mounts:
                continue
            try:
                cm = self.core.read_namespaced_config_map(volume.config_map.name, self.namespace,
                                                          _request_timeout=TIMEOUT)
            except ApiException as exc:
                if exc.status == 404:
                    return None
                raise
            data = cm.data or {}
            items = volume.config_map.items or [client.V1KeyToPath(key=k, path=k) for k in data]
            dest = self.work_dir / "pods" / pod.metadata.name / volume.name
            dest.mkdir(parents=True, exist_ok=True)
            for item in items:
                if item.key in data:
                    (dest / item.path).write_text(data[item.key])
            result[mounts[volume.name]] = dest
        return result

    def _jobmanager_ports(self, cluster_id: str) -> tuple[int, int, int] | None:
        """Fresh (rpc, blob, rest) ports for a new JobManager pod; rest = the current Service's nodePort."""
        try:
            svc = self.core.read_namespaced_service(f"{cluster_id}-rest", self.namespace,
                                                    _request_timeout=TIMEOUT)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        node_port = next((p.node_port for p in svc.spec.ports or [] if p.node_port), None)
        return procs.free_port(), procs.free_port(), node_port or procs.free_port()

    def _env(self, pod: Any, run: PodRun, flink_home: Path, conf_dir: Path,
             volumes: dict[str, Path]) -> dict[str, str]:
        fields = {"status.podIP": POD_IP, "spec.nodeName": NODE_NAME, "metadata.name": run.name,
                  "metadata.namespace": self.namespace, "status.hostIP": POD_IP}
        env = {}
        for var in pod.spec.containers[0].env or []:
            if var.value is not None:
                value = var.value
                for mount, local in volumes.items():
                    value = value.replace(mount, str(local))
                env[var.name] = value
            elif var.value_from is not None and var.value_from.field_ref is not None:
                env[var.name] = fields.get(var.value_from.field_ref.field_path, "")
        log_dir = self.work_dir / "pods" / run.name / "log"
        log_dir.mkdir(parents=True, exist_ok=True)
        env.update({"FLINK_CONF_DIR": str(conf_dir), "FLINK_LOG_DIR": str(log_dir),
                    "PATH": f"{flink_home / 'bin'}:{os.environ.get('PATH', '')}"})
        env.pop("FLINK_HOME", None)
        return env

    def _launch(self, pod: Any, run: PodRun, flink_home: Path, conf_dir: Path,
                volumes: dict[str, Path], last_exit: int | None = None) -> None:
        args = list(pod.spec.containers[0].args or [])
        if len(args) != 3 or args[:2] != ["bash", "-c"]:
            raise ValueError(f"pod {run.name}: container args {args!r} are not the `bash -c <cmd>` form "
                             "Flink's pod factories produce")
        command = substitutions.dynamic_args(args[2], self.local)
        env = self._env(pod, run, flink_home, conf_dir, volumes)
        run.proc = procs.start(f"{run.name}-{run.restarts}", ["bash", "-c", command],
                               self.work_dir / "logs", env=env, cwd=self.work_dir)
        log_path = run.proc.log_path
        self.server.call(lambda e: e.pod_logs.__setitem__(
            (self.namespace, run.name), lambda: log_path.read_text(errors="replace")))
        self._report_running(run, last_exit)

    def _report_running(self, run: PodRun, last_exit: int | None = None) -> None:
        now = _now()
        status: dict[str, Any] = {
            "phase": "Running", "podIP": POD_IP, "hostIP": POD_IP, "podIPs": [{"ip": POD_IP}],
            "startTime": now,
            "conditions": [{"type": t, "status": "True", "lastTransitionTime": now}
                           for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")],
            "containerStatuses": [{
                "name": "flink-main-container", "ready": True, "started": True,
                "restartCount": run.restarts, "image": "local", "imageID": "local",
                "state": {"running": {"startedAt": now}},
                "lastState": ({"terminated": {"exitCode": last_exit, "reason": "Error" if last_exit else
                                              "Completed", "finishedAt": now}} if last_exit is not None else {}),
            }],
        }
        self.core.patch_namespaced_pod_status(run.name, self.namespace, {"status": status},
                                              _request_timeout=TIMEOUT)
        if run.role == "jobmanager":
            try:
                self.apps.patch_namespaced_deployment_status(run.cluster_id, self.namespace, {"status": {
                    "replicas": 1, "readyReplicas": 1, "availableReplicas": 1, "updatedReplicas": 1}},
                    _request_timeout=TIMEOUT)
            except ApiException as exc:
                if exc.status != 404:
                    raise

    def _on_exit(self, pod: Any, run: PodRun) -> None:
        assert run.proc is not None
        try:  # the JobManager deletes its own Deployment (and so marks this pod) before it exits
            if self.core.read_namespaced_pod(run.name, self.namespace,
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
        self.core.patch_namespaced_pod_status(run.name, self.namespace, {"status": {
            "phase": "Succeeded" if code == 0 else "Failed",
            "conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": now}],
            "containerStatuses": [{
                "name": "flink-main-container", "ready": False, "started": False,
                "restartCount": run.restarts, "image": "local", "imageID": "local",
                "state": {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                                         "finishedAt": now}}}]}}, _request_timeout=TIMEOUT)

    def _restart(self, pod: Any, run: PodRun) -> None:
        run.restart_at = None
        run.restarts += 1
        prepared = self._prepare(pod, run)
        if prepared is None:
            raise RuntimeError(f"pod {run.name}: its ConfigMaps disappeared, cannot restart it")
        self._launch(pod, run, *prepared, last_exit=run.exit_codes[-1])

    def _report_waiting(self, run: PodRun, code: int) -> None:
        now = _now()
        self.core.patch_namespaced_pod_status(run.name, self.namespace, {"status": {
            "conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": now}],
            "containerStatuses": [{
                "name": "flink-main-container", "ready": False, "started": False,
                "restartCount": run.restarts, "image": "local", "imageID": "local",
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": code, "reason": "Error" if code else "Completed",
                                             "finishedAt": now}}}]}}, _request_timeout=TIMEOUT)

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
            self.core.delete_namespaced_pod(pod.metadata.name, self.namespace, body=client.V1DeleteOptions(
                grace_period_seconds=0, preconditions=client.V1Preconditions(uid=pod.metadata.uid)),
                _request_timeout=TIMEOUT)
        except ApiException as exc:
            if exc.status not in (404, 409):  # already removed (force delete), or a new pod of that name
                raise

    def _stop_container(self, run: PodRun, grace: float) -> None:
        """SIGTERM the process group once; no restart; SIGKILL is due `grace` seconds from now."""
        run.kill_at = time.monotonic() + grace
        run.restart_at = None
        self._release_backend(run)
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

    def _on_removed(self, run: PodRun) -> None:
        """The pod object is gone. Force-deleted before its container stopped: stop it anyway."""
        if run.kill_at is None:
            self._stop_container(run, run.grace)

    def _release_backend(self, run: PodRun) -> None:
        """Take the pod out of its Service's proxy, unless a newer pod already serves that Service."""
        key = (self.namespace, f"{run.cluster_id}-rest")
        if run.role == "jobmanager" and self._backends.get(key) == run.uid:
            del self._backends[key]
            self.server.call(lambda e: e.service_backends.pop(key, None))


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
