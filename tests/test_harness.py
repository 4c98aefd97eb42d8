"""The local native-Kubernetes harness (issue 4): what the real Flink CLI deploys really runs.

The first test checks the kubelet's own mechanics with a plain `sleep` container (no JVM). The
others submit with the real Flink 2.3.0 CLI (the seed's command rendered for 2.3 by hand, test
values, modest memory) and observe only what a user could: the Kubernetes API, Flink REST (through
NodePort and through the API server's service proxy), the real `flink list/cancel`, process logs
and the job's output. No HA data is seeded: every ConfigMap asserted on was written by Flink.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from kubernetes import client, watch

from tests.fixtures.paths import FLINK_23, FLINK_115
from tests.fixtures.procs import wait_until
from tests.fixtures.test_jobs import read_batch_result, read_counts
from tests.kube import audit, flinkconf, seed, substitutions
from tests.kube.cli import conf_copy, hadoop_conf_dir, run_flink
from tests.kube.controlplane import NODE_IP, NODE_NAME

LEADER = "control-plane.alpha.kubernetes.io/leader"
POD_NETWORK = ipaddress.ip_network("10.244.0.0/16")  # podnet.py: addresses that exist only in our namespaces


# ---- helpers ----------------------------------------------------------------------------------


def seed_23(native, cluster_id: str, jar_uri: str, program_args: list[str]) -> list[str]:
    return seed.seed_command_23(native.api.namespace, native.api.kubeconfig, cluster_id, jar_uri, program_args)


def cluster_args(native, cluster_id: str) -> list[str]:
    return seed.cluster_args(native.api.namespace, native.api.kubeconfig, cluster_id)


def flink(native, tmp_path: Path, *args: str):
    result = run_flink(FLINK_23, list(args), conf_dir=conf_copy(FLINK_23, tmp_path / "cli-conf"),
                       log_dir=tmp_path / "cli-log")
    assert result.returncode == 0, f"flink {args[0]} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result


def rest(url: str, path: str) -> dict:
    with urllib.request.urlopen(f"{url}{path}", timeout=5) as resp:  # noqa: S310 - local test URL
        return json.loads(resp.read())


def jobs(url: str) -> list[dict]:
    return rest(url, "/jobs/overview")["jobs"]


def completed_checkpoints(url: str, job_id: str) -> int:
    return rest(url, f"/jobs/{job_id}/checkpoints")["counts"]["completed"]


def configmaps(native) -> dict[str, object]:
    """The namespace's ConfigMaps but `kube-root-ca.crt` (the root-CA publisher puts one in every namespace)."""
    return {c.metadata.name: c for c in native.api.core.list_namespaced_config_map(native.api.namespace).items
            if c.metadata.name != "kube-root-ca.crt"}


def jm_pod(native, cluster_id: str):
    pods = native.api.core.list_namespaced_pod(
        native.api.namespace, label_selector=f"app={cluster_id},component=jobmanager").items
    return pods[0] if pods else None


def jm_log(native, cluster_id: str) -> str:
    run = native.kubelet.jobmanager(cluster_id)
    if run is None:
        return ""
    logs = sorted((native.work_dir / "logs").glob(f"{run.name}-*.log"))
    return "".join(p.read_text(errors="replace") for p in logs)


def submit_streaming(native, tmp_path, cluster_id: str, streaming_job_jar: Path, output: Path,
                     jar_name: str = "Streaming-Job.jar") -> tuple[str, str]:
    jar_uri = native.add_jar(jar_name, streaming_job_jar)
    flink(native, tmp_path, *seed_23(native, cluster_id, jar_uri, [
        "--output", str(output), "--rate", "20", "--checkpoint-interval-ms", "1000"]))
    url = wait_until(lambda: native.kubelet.rest_url(cluster_id),
                     120, "the kubelet to start the JobManager")
    running = wait_until(lambda: [j for j in jobs(url) if j["state"] == "RUNNING"], 180,
                         f"a RUNNING job on {cluster_id}'s REST endpoint")
    return url, running[0]["jid"]


# ---- the kubelet's own mechanics (no JVM) -----------------------------------------------------


# Keys a substitution could use to redirect a pod's traffic or API access. With one network namespace
# and address per pod, Flink's default ports and the in-cluster service account work as in a real
# cluster, so the kubelet must leave every one of them as Flink wrote it.
ADDRESS_KEYS = {"rest.port", "rest.address", "rest.bind-address", "rest.bind-port", "jobmanager.rpc.address",
                "jobmanager.rpc.port", "jobmanager.bind-host", "taskmanager.host", "taskmanager.bind-host",
                "taskmanager.rpc.port", "blob.server.port", "taskmanager.data.port", "kubernetes.config.file",
                "kubernetes.context", "kubernetes.namespace", "kubernetes.service-account"}


@pytest.mark.parametrize("major", [1, 2])
def test_substitutions_touch_only_documented_keys(tmp_path, major):
    local = substitutions.Local(jar_dir=tmp_path / "usrlib", hdfs_root=tmp_path / "hdfs",
                                artifacts_dir=tmp_path / "art")
    conf = {"pipeline.jars": "local:///opt/flink/usrlib/A.jar",
            "high-availability.storageDir": "hdfs://dc/flink/recovery", "fs.default-scheme": "hdfs://dc",
            "state.backend.type": "hashmap", "taskmanager.numberOfTaskSlots": "1",
            "kubernetes.container.image.ref": "flink:1", "kubernetes.flink.conf.dir": "/opt/flink/conf",
            **{key: "as-flink-wrote-it" for key in ADDRESS_KEYS}}
    jm = substitutions.jobmanager(conf, local, major, tmp_path / "conf")
    tm = substitutions.taskmanager(conf, local, major)
    assert jm["pipeline.jars"] == f"local://{tmp_path}/usrlib/A.jar"
    assert jm["high-availability.storageDir"] == f"file://{tmp_path}/hdfs/dc/flink/recovery"
    assert jm["fs.default-scheme"] == "file:///"
    # The JobManager's one path override: where its configuration really is (TM pods copy its log4j files).
    assert jm["kubernetes.flink.conf.dir"] == str(tmp_path / "conf")
    assert "kubernetes.flink.conf.dir" not in tm
    assert ("env.java.opts" in jm and "env.java.opts" in tm) == (major == 1)  # Java 17 flags for 1.x only
    value_mapped = {"pipeline.jars", "high-availability.storageDir", "fs.default-scheme"}
    for key in (set(jm) | set(tm)) - value_mapped:
        assert key in substitutions.__doc__, f"substitution of {key} is not documented in substitutions.py"
    assert not (ADDRESS_KEYS | {"state.backend.type", "taskmanager.numberOfTaskSlots",
                                "kubernetes.container.image.ref"}) & (set(jm) | set(tm))


def fake_cluster(api, name: str, command: str, grace: int | None = None, config: bool = True):
    """What the Flink CLI creates, with a plain bash container: Deployment, `<name>-rest`, ConfigMap."""
    ns = api.namespace
    labels = {"app": name, "component": "jobmanager", "type": "flink-native-kubernetes"}
    spec = {"containers": [{"name": "flink-main-container", "image": "x", "args": ["bash", "-c", command],
                            "volumeMounts": [{"name": "conf", "mountPath": "/opt/flink/conf"}]}],
            "volumes": [{"name": "conf", "configMap": {"name": f"flink-config-{name}"}}]}
    if grace is not None:
        spec["terminationGracePeriodSeconds"] = grace
    dep = api.apps.create_namespaced_deployment(ns, {
        "metadata": {"name": name, "labels": labels},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": spec}}})
    owner = [{"apiVersion": "apps/v1", "kind": "Deployment", "name": name, "uid": dep.metadata.uid}]
    api.core.create_namespaced_service(ns, {"metadata": {"name": f"{name}-rest", "ownerReferences": owner},
                                            "spec": {"type": "NodePort", "selector": labels,
                                                     "ports": [{"port": 8081}]}})
    if config:
        fake_config(api, name, owner)
    return dep


def fake_config(api, name: str, owner: list[dict]) -> None:
    api.core.create_namespaced_config_map(api.namespace, {
        "metadata": {"name": f"flink-config-{name}", "ownerReferences": owner},
        "data": {"config.yaml": "rest:\n  port: 8081\n"}})


def pods_of(native, dep) -> list:
    """The pods of a Deployment: owned by its ReplicaSet, which the real Deployment controller created."""
    api = native.api
    replica_sets = {rs.metadata.uid for rs in api.apps.list_namespaced_replica_set(api.namespace).items
                    if any(o.uid == dep.metadata.uid for o in rs.metadata.owner_references or [])}
    return [p for p in api.core.list_namespaced_pod(api.namespace).items
            if any(o.uid in replica_sets for o in p.metadata.owner_references or [])]


def running_pod(native, dep):
    return wait_until(lambda: (p := pods_of(native, dep)) and p[0].status.phase == "Running" and p[0], 30,
                      f"the pod of Deployment {dep.metadata.uid} to run")


def endpoints(api, service: str) -> dict[str, tuple[bool, bool]]:
    """Pod IP -> (ready, terminating) in the Service's EndpointSlices (written by the real controller)."""
    slices = client.DiscoveryV1Api(api.client).list_namespaced_endpoint_slice(
        api.namespace, label_selector=f"kubernetes.io/service-name={service}").items
    return {address: (bool(e.conditions.ready), bool(e.conditions.terminating))
            for s in slices for e in s.endpoints or [] for address in e.addresses}


def ready_endpoints(api, service: str) -> set[str]:
    return {ip for ip, (ready, _) in endpoints(api, service).items() if ready}


def via_service_proxy(api, service: str, path: str) -> str:
    """GET through the API server's service proxy (which refuses loopback pod IPs: a real pod address)."""
    return api.core.connect_get_namespaced_service_proxy_with_path(
        f"{service}:8081", api.namespace, path, _preload_content=False, _request_timeout=10).data.decode()


def via_node_port(api, service: str, path: str) -> str:
    node_port = api.core.read_namespaced_service(service, api.namespace).spec.ports[0].node_port
    with urllib.request.urlopen(f"http://{NODE_IP}:{node_port}/{path}", timeout=5) as resp:  # noqa: S310
        return resp.read().decode()


# On SIGTERM it runs on until the test creates `release` (in the kubelet's working dir). It prints
# what the process itself sees as its host name and address.
SLOW_TO_STOP = ("trap 'echo terminating; until [ -e release ]; do sleep 0.1; done; exit 0' TERM; "
                "echo started as $(hostname) on $(ip -4 -o addr show dev eth0); sleep 600 & wait $!")
# Serves a file naming the pod (HOSTNAME), to tell which pod a proxied request reached.
SERVES_ITS_NAME = (f'cd "$HOME" && echo "$HOSTNAME" > whoami && echo started && '
                   f"exec {shlex.quote(sys.executable)} -m http.server 8081")


def test_kubelet_runs_restarts_and_gracefully_stops_pods_of_a_deployment(native_k8s):
    api, ns, kubelet = native_k8s.api, native_k8s.api.namespace, native_k8s.kubelet
    dep = fake_cluster(api, "fake", SLOW_TO_STOP, config=False)
    # No pod runs before its ConfigMap volume exists, as with a real kubelet.
    wait_until(lambda: jm_pod(native_k8s, "fake"), 20, "the Deployment's pod")
    assert kubelet.jobmanager("fake") is None
    fake_config(api, "fake", [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "fake",
                               "uid": dep.metadata.uid}])
    pod = running_pod(native_k8s, dep)
    ip = pod.status.pod_ip
    assert pod.spec.node_name == NODE_NAME and ipaddress.ip_address(ip) in POD_NETWORK and ip != NODE_IP
    # The process really has that address (its own network namespace) and the pod's name as host name.
    log = wait_until(lambda: "started" in (t := api.core.read_namespaced_pod_log(pod.metadata.name, ns)) and t,
                     20, "the pod log (API server -> kubelet)")
    assert f"started as {pod.metadata.name} on " in log and f" inet {ip}/" in log, log
    # The kubelet changed only documented keys: Flink's own port stays, no address or kubeconfig override.
    conf_dir = native_k8s.work_dir / "pods" / ns / pod.metadata.name / "conf"
    written = flinkconf.parse("config.yaml", (conf_dir / "config.yaml").read_text())
    assert written == {"rest.port": "8081", "kubernetes.flink.conf.dir": str(conf_dir),
                       "user.artifacts.base-dir": str(native_k8s.work_dir / "artifacts")}
    # The real EndpointSlice controller publishes the ready pod behind the Service.
    wait_until(lambda: endpoints(api, "fake-rest") == {ip: (True, False)}, 20, "the pod in the EndpointSlice")

    proc = kubelet.process(pod.metadata.name)
    os.killpg(proc.pid, signal.SIGKILL)
    restarted = wait_until(
        lambda: (s := jm_pod(native_k8s, "fake").status.container_statuses) and s[0].restart_count == 1 and s[0],
        20, "the container restart")
    assert restarted.last_state.terminated.exit_code == 128 + signal.SIGKILL  # 137, as a kubelet reports
    old = kubelet.process(pod.metadata.name)
    assert old.pid != proc.pid and old.alive()
    wait_until(lambda: "started" in old.log_tail(), 20, "the restarted container's trap to be set")
    assert api.core.read_namespaced_pod(pod.metadata.name, ns).status.pod_ip == ip  # same pod, same address

    # Deleting the Deployment: the garbage collector removes ReplicaSet, ConfigMap and Service, and
    # only marks the pod; the kubelet SIGTERMs it, and the pod stays "Terminating" while it runs on.
    api.apps.delete_namespaced_deployment("fake", ns)
    wait_until(lambda: "terminating" in old.log_tail(), 30, "SIGTERM to reach the container")
    marked = api.core.read_namespaced_pod(pod.metadata.name, ns)
    assert marked.metadata.deletion_timestamp and marked.status.phase == "Running"
    assert marked.status.container_statuses[0].state.running is not None and old.alive()
    wait_until(lambda: "flink-config-fake" not in configmaps(native_k8s) and not api.core.list_namespaced_service(
        ns, field_selector="metadata.name=fake-rest").items, 30, "the garbage collector to remove ConfigMap and Service")

    # A new cluster with the same id starts meanwhile; the old pod's removal must not touch it. Its
    # Service selects the still-terminating old pod too: the controller lists that one as terminating,
    # never ready, so neither the service proxy nor the NodePort sends anything there.
    new_dep = fake_cluster(api, "fake", SERVES_ITS_NAME)
    new_pod = running_pod(native_k8s, new_dep)
    new_ip = new_pod.status.pod_ip
    assert ipaddress.ip_address(new_ip) in POD_NETWORK and new_ip != ip
    wait_until(lambda: endpoints(api, "fake-rest").get(new_ip) == (True, False), 20,
               "the new pod in the new Service's EndpointSlice")
    assert ready_endpoints(api, "fake-rest") == {new_ip}
    assert endpoints(api, "fake-rest").get(ip, (False, True)) == (False, True)
    name = new_pod.metadata.name
    wait_until(lambda: via_service_proxy(api, "fake-rest", "whoami").strip() == name, 30,
               "a request through the API server's service proxy to reach the new pod")
    # The node's proxy (kube-proxy's role) follows the EndpointSlices on its own schedule.
    wait_until(lambda: via_node_port(api, "fake-rest", "whoami").strip() == name, 20,
               f"the NodePort on {NODE_IP} to reach the new pod")
    assert kubelet.jobmanager("fake").uid == new_pod.metadata.uid
    (native_k8s.work_dir / "release").touch()
    wait_until(lambda: [p.metadata.uid for p in api.core.list_namespaced_pod(ns).items] == [new_pod.metadata.uid],
               30, "the old pod to be removed once its process exited")
    assert old.popen.returncode == 0
    wait_until(lambda: pod.metadata.uid in [r.uid for r in kubelet.gone], 20, "the kubelet to see it gone")
    wait_until(lambda: endpoints(api, "fake-rest") == {new_ip: (True, False)}, 20,
               "the removed pod to leave the EndpointSlice")
    assert via_service_proxy(api, "fake-rest", "whoami").strip() == name
    assert kubelet.process(new_pod.metadata.name).alive()


def test_kubelet_kills_a_pod_ignoring_sigterm_at_its_grace_deadline(native_k8s):
    api, ns = native_k8s.api, native_k8s.api.namespace
    dep = fake_cluster(api, "stubborn", "trap '' TERM; echo started; exec sleep 600", grace=1)
    pod = running_pod(native_k8s, dep)
    proc = native_k8s.kubelet.process(pod.metadata.name)
    wait_until(lambda: "started" in proc.log_tail(), 20, "the container to ignore SIGTERM")
    since = api.core.list_namespaced_pod(ns).metadata.resource_version
    api.apps.delete_namespaced_deployment("stubborn", ns)
    events = []
    for event in watch.Watch().stream(api.core.list_namespaced_pod, ns, resource_version=since, timeout_seconds=30):
        events.append((event["type"], event["object"]))
        if event["type"] == "DELETED":
            break
    assert events[0][0] == "MODIFIED" and events[0][1].metadata.deletion_grace_period_seconds == 1
    assert events[-1][0] == "DELETED", "the pod was not removed after its grace period"
    assert proc.popen.returncode == -signal.SIGKILL
    final = events[-2][1].status  # the kubelet's last report before removing the pod
    assert final.phase == "Failed" and final.container_statuses[0].state.terminated.exit_code == 137


# ---- Flink 2.3.0, the real CLI, Kubernetes HA -------------------------------------------------


@pytest.mark.slow
def test_streaming_job_lifecycle_with_kubernetes_ha(native_k8s, streaming_job_jar, tmp_path):
    """Acceptance 1-4: submit → RUNNING + checkpoints + HA ConfigMaps; `flink list`; kill -9 of the
    JobManager → restarted, recovered from the latest checkpoint with keyed state intact;
    `flink cancel` → CANCELED, Deployment removed and HA ConfigMaps cleaned up by Flink."""
    ns, cid = native_k8s.api.namespace, "streaming-job"
    output = tmp_path / "out"
    since = audit.mark(native_k8s.api.cluster.audit_log)
    url, job_id = submit_streaming(native_k8s, tmp_path, cid, streaming_job_jar, output)
    jm_ip = jm_pod(native_k8s, cid).status.pod_ip
    assert ipaddress.ip_address(jm_ip) in POD_NETWORK and url == f"http://{jm_ip}:8081"  # Flink's own port

    # 1. checkpoints complete, and Flink's own HA ConfigMaps carry leadership and checkpoint pointers.
    wait_until(lambda: completed_checkpoints(url, job_id) >= 2, 120, "two completed checkpoints")
    cluster_cm, job_cm = f"{cid}-cluster-config-map", f"{cid}-{job_id}-config-map"
    cms = wait_until(lambda: (c := configmaps(native_k8s)) and job_cm in c and "counter" in (c[job_cm].data or {})
                     and c, 60, "the job's HA ConfigMap with a checkpoint counter")
    leader = json.loads(cms[cluster_cm].metadata.annotations[LEADER])
    assert leader["holderIdentity"] and leader["renewTime"] and leader["leaseDuration"]
    leader_keys = {k for k in cms[cluster_cm].data if k.startswith("org.apache.flink.k8s.leader.")}
    assert {"org.apache.flink.k8s.leader.dispatcher", "org.apache.flink.k8s.leader.resourcemanager",
            "org.apache.flink.k8s.leader.restserver", f"org.apache.flink.k8s.leader.job-{job_id}"} <= leader_keys
    assert any(k.startswith("checkpointID-") for k in cms[job_cm].data)
    assert cms[cluster_cm].metadata.labels["app"] == cid
    # Flink wrote them in-cluster as flink-sa (the pod's token: the CLI's kubeconfig is not shipped),
    # authorized by include/k8s/20-role-flink-native.yaml alone.
    by_pods = [e for e in audit.events(native_k8s.api.cluster.audit_log, since, ns)
               if e.user == f"system:serviceaccount:{ns}:flink-sa"]
    assert {("create", "configmaps"), ("create", "pods")} <= {(e.verb, e.resource) for e in by_pods}
    assert not [e for e in by_pods if e.code == 403 or e.decision == "forbid"], "flink-sa was refused"
    # The REST endpoint is reachable through the API server's service proxy as well.
    proxied = native_k8s.api.core.connect_get_namespaced_service_proxy_with_path(
        f"{cid}-rest:rest", ns, "jobs/overview", _preload_content=False)
    assert json.loads(proxied.data)["jobs"][0]["jid"] == job_id

    # 2. the seed's `flink list` (rendered for 2.3) reaches the JobManager through NodePort.
    listed = flink(native_k8s, tmp_path, "list", *cluster_args(native_k8s, cid))
    assert re.search(rf"{job_id} : .*\(RUNNING\)", listed.stdout), listed.stdout

    # 3. kill -9 the JobManager: the kubelet restarts it; the job recovers through Kubernetes HA.
    before = completed_checkpoints(url, job_id)
    latest = rest(url, f"/jobs/{job_id}/checkpoints")["latest"]["completed"]["id"]
    jm = native_k8s.kubelet.jobmanager(cid)
    os.killpg(jm.proc.pid, signal.SIGKILL)
    wait_until(lambda: jm_pod(native_k8s, cid).status.container_statuses[0].restart_count == 1, 30,
               "the JobManager container restart to show in pod status")
    wait_until(lambda: any(j["jid"] == job_id and j["state"] == "RUNNING" for j in jobs(url)), 180,
               "the recovered job to run again")
    recovered_log = jm_log(native_k8s, cid)
    restored = re.search(rf"Restoring job {job_id} from Checkpoint (\d+)", recovered_log)
    assert restored, "the restarted JobManager did not restore from a checkpoint"
    assert int(restored.group(1)) >= latest
    wait_until(lambda: completed_checkpoints(url, job_id) >= 1 and
               rest(url, f"/jobs/{job_id}/checkpoints")["latest"]["completed"]["id"] > int(restored.group(1)),
               120, f"a new checkpoint after the recovery (had {before} before)")
    counts = read_counts(output)
    assert counts and all(c.count(1) == 1 for c in counts.values()), \
        f"a key's count restarted from 1 after recovery: keyed state was lost ({counts})"

    # 4. the seed's `flink cancel`: the job is CANCELED, Flink deletes its Deployment and HA data.
    cancelled = flink(native_k8s, tmp_path, "cancel", *cluster_args(native_k8s, cid), job_id)
    assert "Cancelled job" in cancelled.stdout or "Cancelled job" in cancelled.stderr
    wait_until(lambda: not native_k8s.api.apps.list_namespaced_deployment(
        ns, field_selector=f"metadata.name={cid}").items, 60, "Flink to delete its Deployment")
    assert re.search(rf"Job .*\({job_id}\) switched from state CANCELLING to CANCELED", jm_log(native_k8s, cid))
    wait_until(lambda: not {cluster_cm, job_cm} & set(configmaps(native_k8s)), 60,
               "Flink to delete its HA ConfigMaps")
    assert not configmaps(native_k8s), "every ConfigMap of the cluster is gone"


@pytest.mark.slow
def test_stale_ha_configmaps_resurrect_the_old_job_graph(native_k8s, streaming_job_jar, tmp_path):
    """Acceptance 5, the seed FAQ trap: deleting only the Deployment leaves Flink's HA ConfigMaps;
    resubmitting the same cluster id with a different jar and arguments recovers the OLD job.

    (Observed with 2.3.0: a resubmission of a *different* program — another job name — does not
    hit the trap the same way: its job gets a new id and runs; the stale graph is recovered but
    not started. The seed's case, a new release of the same job, is the one asserted here.)"""
    ns, cid = native_k8s.api.namespace, "trap"
    old_out, new_out = tmp_path / "old-out", tmp_path / "new-out"
    url, job_id = submit_streaming(native_k8s, tmp_path, cid, streaming_job_jar, old_out)
    wait_until(lambda: completed_checkpoints(url, job_id) >= 1, 120, "a completed checkpoint")
    old_name = rest(url, f"/jobs/{job_id}")["name"]
    old_jm = native_k8s.kubelet.jobmanager(cid)

    native_k8s.api.apps.delete_namespaced_deployment(cid, ns)  # what `kubectl delete deployment` does
    wait_until(lambda: not old_jm.proc.alive() and jm_pod(native_k8s, cid) is None, 60,
               "the JobManager pod and process to go away")
    left = configmaps(native_k8s)
    assert f"flink-config-{cid}" not in left  # owned by the Deployment: garbage-collected
    assert {f"{cid}-cluster-config-map", f"{cid}-{job_id}-config-map"} <= set(left)  # no owner: they stay
    assert f"executionPlan-{job_id}" in left[f"{cid}-cluster-config-map"].data

    # Resubmit: same cluster id and program, a different jar and different arguments ("the new
    # release"): Flink recovers the old job graph (old jar, old arguments) and runs that instead.
    jar_uri = native_k8s.add_jar("Streaming-Job-v2.jar", streaming_job_jar)
    flink(native_k8s, tmp_path, *seed_23(native_k8s, cid, jar_uri, [
        "--output", str(new_out), "--rate", "50", "--keys", "2"]))
    new_url = wait_until(lambda: (r := native_k8s.kubelet.jobmanager(cid)) and r is not old_jm and r.proc
                         and native_k8s.kubelet.rest_url(cid), 120, "the new JobManager")
    running = wait_until(lambda: [j for j in jobs(new_url) if j["state"] == "RUNNING"], 180,
                         "the job of the resubmitted cluster to run")
    assert [(j["jid"], j["name"]) for j in running] == [(job_id, old_name)]
    assert f"Recovered StreamGraph(jobId: {job_id})" in jm_log(native_k8s, cid)
    lines_before = sum(len(c) for c in read_counts(old_out).values())
    wait_until(lambda: sum(len(c) for c in read_counts(old_out).values()) > lines_before + 20, 120,
               "the OLD job (old --output) to keep writing")
    assert not new_out.exists(), "the new release's arguments were never used"
    assert set(read_counts(old_out)) == {0, 1, 2, 3}, "still the old --keys 4"


@pytest.mark.slow
def test_batch_job_finishes_and_the_cluster_shuts_down(native_k8s, batch_job_jar, tmp_path):
    """Acceptance 6: a bounded job reaches FINISHED; the application cluster removes itself."""
    ns, cid = native_k8s.api.namespace, "batch-job"
    output = tmp_path / "out"
    jar_uri = native_k8s.add_jar("Batch-Job.jar", batch_job_jar)
    flink(native_k8s, tmp_path, *seed_23(native_k8s, cid, jar_uri,
                                                 ["--output", str(output), "--records", "1000"]))
    wait_until(lambda: native_k8s.kubelet.jobmanager(cid), 120, "the kubelet to start the JobManager")
    wait_until(lambda: not native_k8s.api.apps.list_namespaced_deployment(
        ns, field_selector=f"metadata.name={cid}").items, 300, "the application cluster to delete itself")
    assert re.search(r"Job .* switched from state RUNNING to FINISHED", jm_log(native_k8s, cid))
    assert read_batch_result(output) == {k: (250, sum(range(k, 1000, 4))) for k in range(4)}
    wait_until(lambda: not configmaps(native_k8s), 60, "Flink to delete its HA ConfigMaps")
    wait_until(lambda: not native_k8s.api.core.list_namespaced_pod(ns).items, 60, "every pod to be gone")


# ---- Flink 1.15.2 (the seed's version) on Java 17 ---------------------------------------------

LEGACY_SRC = Path(__file__).parent / "kube" / "jobs115"


@pytest.fixture(scope="session")
def legacy_job_jar(tmp_path_factory) -> Path:
    """A keyed-counter streaming job compiled against Flink 1.15.2 (the shared test jobs need 2.x)."""
    build = tmp_path_factory.mktemp("legacy-job")
    sources = [str(p) for p in LEGACY_SRC.rglob("*.java")]
    for argv in (["javac", "-Xlint:-options", "--release", "11", "-cp", f"{FLINK_115 / 'lib'}/*",
                  "-d", str(build / "classes"), *sources],
                 ["jar", "--create", "--file", str(build / "legacy.jar"), "--main-class",
                  "flinkk8s.legacy.LegacyCounterJob", "-C", str(build / "classes"), "."]):
        result = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
        assert result.returncode == 0, f"{argv[0]} failed:\n{result.stdout}\n{result.stderr}"
    return build / "legacy.jar"


def flink115(native, tmp_path: Path, *args: str):
    result = run_flink(FLINK_115, list(args), conf_dir=conf_copy(FLINK_115, tmp_path / "cli-conf-115"),
                       log_dir=tmp_path / "cli-log-115",
                       env={"HADOOP_CONF_DIR": str(hadoop_conf_dir(tmp_path / "hadoop"))})
    assert result.returncode == 0, f"flink {args[0]} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.mark.slow
def test_seed_command_on_flink_115_runs_on_java_17(native_k8s, legacy_job_jar, tmp_path):
    """The seed's unchanged 1.15.2 command: JobManager and TaskManager of Flink 1.15.2 run on Java 17
    (with the module flags Flink 1.18+ ships by default, see substitutions.py), Kubernetes HA writes
    its ConfigMaps, a kill -9 of the JobManager recovers keyed state, `flink list/cancel` work."""
    ns, cid = native_k8s.api.namespace, "task1"
    output = tmp_path / "out"
    jar_uri = native_k8s.add_jar("Streaming-Job.jar", legacy_job_jar)
    flink115(native_k8s, tmp_path, *seed.seed_command_115(ns, native_k8s.api.kubeconfig, cid, jar_uri,
                                                          ["--output", str(output)]))
    url = wait_until(lambda: native_k8s.kubelet.rest_url(cid), 120,
                     "the kubelet to start the 1.15.2 JobManager")
    job_id = "00000000000000000000000000000000"  # BRIEF.md: with HA the 1.15 job id is fixed
    wait_until(lambda: any(j["jid"] == job_id and j["state"] == "RUNNING" for j in jobs(url)), 240,
               "the job to run on Flink 1.15.2")
    wait_until(lambda: completed_checkpoints(url, job_id) >= 2, 120, "two completed checkpoints")
    cms = configmaps(native_k8s)
    assert {f"{cid}-cluster-config-map", f"{cid}-{job_id}-config-map", f"hadoop-config-{cid}"} <= set(cms)
    assert f"jobGraph-{job_id}" in cms[f"{cid}-cluster-config-map"].data  # 1.x name of the job graph key
    assert LEADER in cms[f"{cid}-cluster-config-map"].metadata.annotations

    listed = flink115(native_k8s, tmp_path, "list", *cluster_args(native_k8s, cid))
    assert re.search(rf"{job_id} : .*\(RUNNING\)", listed.stdout), listed.stdout

    latest = rest(url, f"/jobs/{job_id}/checkpoints")["latest"]["completed"]["id"]
    os.killpg(native_k8s.kubelet.jobmanager(cid).proc.pid, signal.SIGKILL)
    wait_until(lambda: jm_pod(native_k8s, cid).status.container_statuses[0].restart_count == 1, 30,
               "the JobManager restart")
    wait_until(lambda: any(j["jid"] == job_id and j["state"] == "RUNNING" for j in jobs(url)), 240,
               "the recovered job to run again")
    restored = re.search(rf"Restoring job {job_id} from Checkpoint (\d+)", jm_log(native_k8s, cid))
    assert restored and int(restored.group(1)) >= latest
    lines = sum(len(c) for c in read_counts(output).values())
    wait_until(lambda: sum(len(c) for c in read_counts(output).values()) > lines + 20, 120,
               "output after the recovery")
    counts = read_counts(output)
    assert all(c.count(1) == 1 for c in counts.values()), f"keyed state was lost: {counts}"

    flink115(native_k8s, tmp_path, "cancel", *cluster_args(native_k8s, cid), job_id)
    wait_until(lambda: not native_k8s.api.apps.list_namespaced_deployment(
        ns, field_selector=f"metadata.name={cid}").items, 120, "Flink to delete its Deployment")
    wait_until(lambda: not configmaps(native_k8s), 60, "Flink (and the garbage collector) to remove ConfigMaps")
