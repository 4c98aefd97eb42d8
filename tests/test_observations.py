"""Parsers from raw Kubernetes / Flink REST JSON to observation facts (pure; hand-written realistic samples).

Sample provenance: REST bodies are trimmed from a real Flink 2.3.0 MiniCluster (`/jobs/overview`, `/jobs/<id>`,
`/checkpoints`, `/checkpoints/config`, `/metrics`); leader annotations and HA checkpoint values were produced by
Flink 2.3.0's and 1.15.2's own classes (shaded fabric8 `LeaderElectionRecord` serialization,
`KubernetesStateHandleStore.StateHandleWithDeleteMarker` Java serialization, base64 as Flink stores it).
`REAL_HA_CONFIG_MAPS_23` are the HA ConfigMaps a real Flink 2.3.0 JobManager wrote in the local
native-Kubernetes harness (streaming test job, 5 checkpoints). Kubernetes objects follow what Flink's native
deployer creates (labels app/component/type, container `flink-main-container`).
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from flink_k8s.core.observations import (
    decode_state_handle,
    from_epoch_ms,
    is_ha_config_map,
    parse_checkpoints,
    parse_deployment,
    parse_ha_config_maps,
    parse_job_details,
    parse_jobs_overview,
    parse_k8s_time,
    parse_lease_duration,
    parse_metrics,
    parse_pod,
    parse_pods,
)

CID = "streaming-job"
JOB = "9c8e7a89805ad6a1df2e92cb9033f005"

# Real HA checkpoint values (base64 of Java-serialized state handles), pointing to these files:
V23_PATH = "file:/flink/recovery/demo/completedCheckpoint4f1e8a9b2c7d"
V115_PATH = "hdfs://datacluster/flink/recovery/task1/completedCheckpoint9d2b7c1e0a44"
V23_LIVE = (
    "rO0ABXNyAGNvcmcuYXBhY2hlLmZsaW5rLmt1YmVybmV0ZXMuaGlnaGF2YWlsYWJpbGl0eS5LdWJlcm5ldGVzU3RhdGVIYW5k"
    "bGVTdG9yZSRTdGF0ZUhhbmRsZVdpdGhEZWxldGVNYXJrZXIbrUSA74YNfAIAAloAEW1hcmtlZEZvckRlbGV0aW9uTAAFaW5u"
    "ZXJ0ADdMb3JnL2FwYWNoZS9mbGluay9ydW50aW1lL3N0YXRlL1JldHJpZXZhYmxlU3RhdGVIYW5kbGU7eHAAc3IAO29yZy5h"
    "cGFjaGUuZmxpbmsucnVudGltZS5zdGF0ZS5SZXRyaWV2YWJsZVN0cmVhbVN0YXRlSGFuZGxlAAEeGPFVlysCAAFMABh3cmFw"
    "cGVkU3RyZWFtU3RhdGVIYW5kbGV0ADJMb3JnL2FwYWNoZS9mbGluay9ydW50aW1lL3N0YXRlL1N0cmVhbVN0YXRlSGFuZGxl"
    "O3hwc3IAOW9yZy5hcGFjaGUuZmxpbmsucnVudGltZS5zdGF0ZS5maWxlc3lzdGVtLkZpbGVTdGF0ZUhhbmRsZQTcddhivRuz"
    "AgACSgAJc3RhdGVTaXplTAAIZmlsZVBhdGh0AB9Mb3JnL2FwYWNoZS9mbGluay9jb3JlL2ZzL1BhdGg7eHAAAAAAAAAFmHNy"
    "AB1vcmcuYXBhY2hlLmZsaW5rLmNvcmUuZnMuUGF0aAAAAAAAAAABAgABTAADdXJpdAAOTGphdmEvbmV0L1VSSTt4cHNyAAxq"
    "YXZhLm5ldC5VUkmsAXguQ55JqwMAAUwABnN0cmluZ3QAEkxqYXZhL2xhbmcvU3RyaW5nO3hwdAA5ZmlsZTovZmxpbmsvcmVj"
    "b3ZlcnkvZGVtby9jb21wbGV0ZWRDaGVja3BvaW50NGYxZThhOWIyYzdkeA=="
)

V23_DELETING = (
    "rO0ABXNyAGNvcmcuYXBhY2hlLmZsaW5rLmt1YmVybmV0ZXMuaGlnaGF2YWlsYWJpbGl0eS5LdWJlcm5ldGVzU3RhdGVIYW5k"
    "bGVTdG9yZSRTdGF0ZUhhbmRsZVdpdGhEZWxldGVNYXJrZXIbrUSA74YNfAIAAloAEW1hcmtlZEZvckRlbGV0aW9uTAAFaW5u"
    "ZXJ0ADdMb3JnL2FwYWNoZS9mbGluay9ydW50aW1lL3N0YXRlL1JldHJpZXZhYmxlU3RhdGVIYW5kbGU7eHABc3IAO29yZy5h"
    "cGFjaGUuZmxpbmsucnVudGltZS5zdGF0ZS5SZXRyaWV2YWJsZVN0cmVhbVN0YXRlSGFuZGxlAAEeGPFVlysCAAFMABh3cmFw"
    "cGVkU3RyZWFtU3RhdGVIYW5kbGV0ADJMb3JnL2FwYWNoZS9mbGluay9ydW50aW1lL3N0YXRlL1N0cmVhbVN0YXRlSGFuZGxl"
    "O3hwc3IAOW9yZy5hcGFjaGUuZmxpbmsucnVudGltZS5zdGF0ZS5maWxlc3lzdGVtLkZpbGVTdGF0ZUhhbmRsZQTcddhivRuz"
    "AgACSgAJc3RhdGVTaXplTAAIZmlsZVBhdGh0AB9Mb3JnL2FwYWNoZS9mbGluay9jb3JlL2ZzL1BhdGg7eHAAAAAAAAAFmHNy"
    "AB1vcmcuYXBhY2hlLmZsaW5rLmNvcmUuZnMuUGF0aAAAAAAAAAABAgABTAADdXJpdAAOTGphdmEvbmV0L1VSSTt4cHNyAAxq"
    "YXZhLm5ldC5VUkmsAXguQ55JqwMAAUwABnN0cmluZ3QAEkxqYXZhL2xhbmcvU3RyaW5nO3hwdAA5ZmlsZTovZmxpbmsvcmVj"
    "b3ZlcnkvZGVtby9jb21wbGV0ZWRDaGVja3BvaW50NGYxZThhOWIyYzdkeA=="
)

V115_LIVE = (
    "rO0ABXNyAGNvcmcuYXBhY2hlLmZsaW5rLmt1YmVybmV0ZXMuaGlnaGF2YWlsYWJpbGl0eS5LdWJlcm5ldGVzU3RhdGVIYW5k"
    "bGVTdG9yZSRTdGF0ZUhhbmRsZVdpdGhEZWxldGVNYXJrZXKfgTvzmWVDfwIAAloAEW1hcmtlZEZvckRlbGV0aW9uTAAFaW5u"
    "ZXJ0ADdMb3JnL2FwYWNoZS9mbGluay9ydW50aW1lL3N0YXRlL1JldHJpZXZhYmxlU3RhdGVIYW5kbGU7eHAAc3IAO29yZy5h"
    "cGFjaGUuZmxpbmsucnVudGltZS5zdGF0ZS5SZXRyaWV2YWJsZVN0cmVhbVN0YXRlSGFuZGxlAAEeGPFVlysCAAFMABh3cmFw"
    "cGVkU3RyZWFtU3RhdGVIYW5kbGV0ADJMb3JnL2FwYWNoZS9mbGluay9ydW50aW1lL3N0YXRlL1N0cmVhbVN0YXRlSGFuZGxl"
    "O3hwc3IAOW9yZy5hcGFjaGUuZmxpbmsucnVudGltZS5zdGF0ZS5maWxlc3lzdGVtLkZpbGVTdGF0ZUhhbmRsZQTcddhivRuz"
    "AgACSgAJc3RhdGVTaXplTAAIZmlsZVBhdGh0AB9Mb3JnL2FwYWNoZS9mbGluay9jb3JlL2ZzL1BhdGg7eHAAAAAAAAAFmHNy"
    "AB1vcmcuYXBhY2hlLmZsaW5rLmNvcmUuZnMuUGF0aAAAAAAAAAABAgABTAADdXJpdAAOTGphdmEvbmV0L1VSSTt4cHNyAAxq"
    "YXZhLm5ldC5VUkmsAXguQ55JqwMAAUwABnN0cmluZ3QAEkxqYXZhL2xhbmcvU3RyaW5nO3hwdABHaGRmczovL2RhdGFjbHVz"
    "dGVyL2ZsaW5rL3JlY292ZXJ5L3Rhc2sxL2NvbXBsZXRlZENoZWNrcG9pbnQ5ZDJiN2MxZTBhNDR4"
)

V115_DELETING = (
    "rO0ABXNyAGNvcmcuYXBhY2hlLmZsaW5rLmt1YmVybmV0ZXMuaGlnaGF2YWlsYWJpbGl0eS5LdWJlcm5ldGVzU3RhdGVIYW5k"
    "bGVTdG9yZSRTdGF0ZUhhbmRsZVdpdGhEZWxldGVNYXJrZXKfgTvzmWVDfwIAAloAEW1hcmtlZEZvckRlbGV0aW9uTAAFaW5u"
    "ZXJ0ADdMb3JnL2FwYWNoZS9mbGluay9ydW50aW1lL3N0YXRlL1JldHJpZXZhYmxlU3RhdGVIYW5kbGU7eHABc3IAO29yZy5h"
    "cGFjaGUuZmxpbmsucnVudGltZS5zdGF0ZS5SZXRyaWV2YWJsZVN0cmVhbVN0YXRlSGFuZGxlAAEeGPFVlysCAAFMABh3cmFw"
    "cGVkU3RyZWFtU3RhdGVIYW5kbGV0ADJMb3JnL2FwYWNoZS9mbGluay9ydW50aW1lL3N0YXRlL1N0cmVhbVN0YXRlSGFuZGxl"
    "O3hwc3IAOW9yZy5hcGFjaGUuZmxpbmsucnVudGltZS5zdGF0ZS5maWxlc3lzdGVtLkZpbGVTdGF0ZUhhbmRsZQTcddhivRuz"
    "AgACSgAJc3RhdGVTaXplTAAIZmlsZVBhdGh0AB9Mb3JnL2FwYWNoZS9mbGluay9jb3JlL2ZzL1BhdGg7eHAAAAAAAAAFmHNy"
    "AB1vcmcuYXBhY2hlLmZsaW5rLmNvcmUuZnMuUGF0aAAAAAAAAAABAgABTAADdXJpdAAOTGphdmEvbmV0L1VSSTt4cHNyAAxq"
    "YXZhLm5ldC5VUkmsAXguQ55JqwMAAUwABnN0cmluZ3QAEkxqYXZhL2xhbmcvU3RyaW5nO3hwdABHaGRmczovL2RhdGFjbHVz"
    "dGVyL2ZsaW5rL3JlY292ZXJ5L3Rhc2sxL2NvbXBsZXRlZENoZWNrcG9pbnQ5ZDJiN2MxZTBhNDR4"
)

# Leader annotation exactly as serialized by Flink 2.3.0 (fabric8 7.x) and 1.15.2 (fabric8 5.x, Jackson numbers).
ANNOTATION_23 = ('{"holderIdentity":"a3f1c2d4-1111-2222-3333-444455556666","leaseDuration":"PT15S",'
                 '"acquireTime":"2026-11-29T16:40:01.123456Z","renewTime":"2026-11-29T16:45:02.654321Z",'
                 '"leaderTransitions":0}')
ANNOTATION_115 = ANNOTATION_23.replace('"PT15S"', "15.000000000")
LEADER_INFO = "5b0a6f2e-7c1d-4e8f-9a3b-2c4d6e8f0a1b,pekko.tcp://flink@10.42.0.17:6123/user/rpc/dispatcher_1"


def cm(name: str, data: dict | None = None, annotation: str | None = None, labels: dict | None = None) -> dict:
    meta = {"name": name, "namespace": "flink", "labels": labels or {"app": CID, "type": "flink-native-kubernetes"}}
    if annotation:
        meta["annotations"] = {"control-plane.alpha.kubernetes.io/leader": annotation}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


def cluster_cm(annotation: str = ANNOTATION_23, graph: bool = True) -> dict:
    data = {
        "org.apache.flink.k8s.leader.dispatcher": LEADER_INFO,
        "org.apache.flink.k8s.leader.resourcemanager":
            "0d3f7a52-9b1e-4c6d-8f20-3a4b5c6d7e8f,pekko.tcp://flink@10.42.0.17:6123/user/rpc/resourcemanager_0",
        "org.apache.flink.k8s.leader.restserver": "7e7e7e7e-0000-4000-8000-000000000001,http://10.42.0.17:8081",
        f"org.apache.flink.k8s.leader.job-{JOB}": "11111111-2222-4333-8444-555555555555,pekko.tcp://flink@10.42.0.17:6123/user/rpc/jobmanager_2",
    }
    if graph:
        data[f"executionPlan-{JOB}"] = "rO0ABXNyAD1vcmcuYXBhY2hlLmZsaW5r"
    return cm(f"{CID}-cluster-config-map", data, annotation)


def job_cm(checkpoints: dict[int, str], counter: int = 43) -> dict:
    data = {"counter": str(counter)}
    data.update({f"checkpointID-{cid:019d}": value for cid, value in checkpoints.items()})
    return cm(f"{CID}-{JOB}-config-map", data)


# -- time helpers -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("2026-11-29T16:45:02Z", datetime(2026, 11, 29, 16, 45, 2, tzinfo=UTC)),
    ("2026-11-29T16:45:02.654321Z", datetime(2026, 11, 29, 16, 45, 2, 654321, tzinfo=UTC)),
    ("2026-11-29T16:45:02.654321987Z", datetime(2026, 11, 29, 16, 45, 2, 654321, tzinfo=UTC)),
    ("2026-11-29T17:45:02+01:00", datetime(2026, 11, 29, 16, 45, 2, tzinfo=UTC)),
    (1795970702.5, datetime(2026, 11, 29, 16, 45, 2, 500000, tzinfo=UTC)),
    (None, None), ("", None),
])
def test_parse_k8s_time(raw, expected):
    assert parse_k8s_time(raw) == expected


@pytest.mark.parametrize("raw, seconds", [
    ("PT15S", 15), ("PT0.5S", 0.5), ("PT1M30S", 90), ("PT1H", 3600), (15.0, 15), (15, 15), ("15.000000000", 15),
    ("PT", None), ("soon", None), (None, None), (True, None),
])
def test_parse_lease_duration(raw, seconds):
    got = parse_lease_duration(raw)
    assert (got.total_seconds() if got is not None else None) == seconds


@pytest.mark.parametrize("raw, expected", [
    (1795970836081, datetime(2026, 11, 29, 16, 47, 16, 81000, tzinfo=UTC)), (0, None), (-1, None), (None, None),
    ("1795970836081", None), (True, None),
])
def test_from_epoch_ms(raw, expected):
    assert from_epoch_ms(raw) == expected


# -- Deployment / Pods ------------------------------------------------------------------------------------------

DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": CID, "namespace": "flink",
                 "labels": {"app": CID, "component": "jobmanager", "type": "flink-native-kubernetes"}},
    "spec": {"replicas": 1, "template": {"spec": {"serviceAccountName": "flink-sa", "containers": [
        {"name": "flink-main-container", "image": "flink-java11:r42",
         "args": ["bash", "-c", "kubernetes-jobmanager.sh kubernetes-application"]}]}}},
    "status": {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1, "updatedReplicas": 1,
               "conditions": [{"type": "Available", "status": "True"}]},
}


def test_parse_deployment_available():
    d = parse_deployment(DEPLOYMENT)
    assert (d.name, d.replicas, d.available_replicas, d.ready_replicas, d.image) == (CID, 1, 1, 1, "flink-java11:r42")
    assert d.available and not d.deleting


def test_parse_deployment_unavailable_deleting_and_absent():
    raw = json.loads(json.dumps(DEPLOYMENT))
    raw["status"] = {"replicas": 1, "unavailableReplicas": 1}
    raw["metadata"]["deletionTimestamp"] = "2026-11-29T16:50:00Z"
    d = parse_deployment(raw)
    assert (d.available_replicas, d.ready_replicas, d.deleting, d.available) == (0, 0, True, False)
    assert parse_deployment(None) is None and parse_deployment({}) is None


def pod(name: str, component: str, phase: str = "Running", ready: bool = True, restarts: int = 0,
        state: dict | None = None, last: dict | None = None) -> dict:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": CID, "component": component, "type": "flink-native-kubernetes"}},
        "status": {"phase": phase,
                   "conditions": [{"type": "PodScheduled", "status": "True"},
                                  {"type": "Ready", "status": "True" if ready else "False"}],
                   "containerStatuses": [{"name": "flink-main-container", "restartCount": restarts,
                                          "state": state or {"running": {"startedAt": "2026-11-29T16:40:00Z"}},
                                          "lastState": last or {}}]},
    }


def test_parse_pod_running_ready():
    p = parse_pod(pod(f"{CID}-7d9c6b5f4-x2x8q", "jobmanager"))
    assert (p.component, p.phase, p.ready, p.restarts, p.last_termination_reason, p.waiting_reason) == \
        ("jobmanager", "Running", True, 0, None, None)


def test_parse_pod_oom_killed_and_crashlooping():
    raw = pod(f"{CID}-7d9c6b5f4-x2x8q", "jobmanager", ready=False, restarts=4,
              state={"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s restarting"}},
              last={"terminated": {"reason": "OOMKilled", "exitCode": 137, "finishedAt": "2026-11-29T16:44:00Z"}})
    p = parse_pod(raw)
    assert (p.ready, p.restarts, p.last_termination_reason, p.last_exit_code, p.waiting_reason) == \
        (False, 4, "OOMKilled", 137, "CrashLoopBackOff")


def test_parse_pod_failed_taskmanager_uses_current_termination():
    raw = pod(f"{CID}-taskmanager-1-3", "taskmanager", phase="Failed", ready=False,
              state={"terminated": {"reason": "Error", "exitCode": 1}})
    p = parse_pod(raw)
    assert (p.phase, p.last_termination_reason, p.last_exit_code) == ("Failed", "Error", 1)


def test_parse_pod_prefers_main_container_and_sums_restarts():
    raw = pod("p", "taskmanager", restarts=1)
    raw["status"]["containerStatuses"].insert(0, {
        "name": "sidecar", "restartCount": 2, "state": {"running": {}},
        "lastState": {"terminated": {"reason": "Completed", "exitCode": 0}}})
    raw["status"]["containerStatuses"][1]["lastState"] = {"terminated": {"reason": "OOMKilled", "exitCode": 137}}
    p = parse_pod(raw)
    assert (p.restarts, p.last_termination_reason) == (3, "OOMKilled")


def test_parse_pod_pending_without_statuses_and_sorted_pods():
    raw = {"metadata": {"name": "b", "labels": {"component": "taskmanager"}}, "status": {"phase": "Pending"}}
    pods = parse_pods([raw, pod("a", "jobmanager")])
    assert [p.name for p in pods] == ["a", "b"]
    assert (pods[1].phase, pods[1].ready, pods[1].restarts) == ("Pending", False, 0)


# -- HA ConfigMaps ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, expected", [
    (f"{CID}-cluster-config-map", True),
    (f"{CID}-{JOB}-config-map", True),
    (f"{CID}-dispatcher-leader", True),
    (f"{CID}-restserver-leader", True),
    (f"{CID}-{JOB}-jobmanager-leader", True),
    (f"flink-config-{CID}", False),
    (f"hadoop-config-{CID}", False),
    (f"pod-template-{CID}", False),
    (f"{CID}-b-cluster-config-map", False),  # another cluster whose id starts with ours
    (f"{CID}-config-map", False),
    (f"{CID}-{JOB[:31]}-config-map", False),
])
def test_is_ha_config_map(name, expected):
    assert is_ha_config_map(CID, name) is expected


@pytest.mark.parametrize("blob, path, marked", [
    ("V23_LIVE", V23_PATH, False), ("V23_DELETING", V23_PATH, True),
    ("V115_LIVE", V115_PATH, False), ("V115_DELETING", V115_PATH, True),
])
def test_decode_state_handle_real_flink_values(blob, path, marked):
    assert decode_state_handle(globals()[blob]) == (path, marked)


def test_decode_state_handle_garbage_is_harmless():
    assert decode_state_handle("not base64 !") == (None, False)
    assert decode_state_handle(base64.b64encode(b"t\x00\x05hello").decode()) == (None, False)
    assert decode_state_handle(base64.b64encode(b"t\xff\xff/completedCheckpoint").decode()) == (None, False)


def test_parse_ha_config_maps_flink_2_3_layout():
    others = [cm(f"flink-config-{CID}", {"config.yaml": "a: b"}), cm(f"{CID}-b-cluster-config-map", {"counter": "9"})]
    ha = parse_ha_config_maps(CID, [cluster_cm(), job_cm({41: V23_DELETING, 42: V23_LIVE}), *others])
    assert ha.config_maps == (f"{CID}-{JOB}-config-map", f"{CID}-cluster-config-map")
    assert ha.leader_holder == "a3f1c2d4-1111-2222-3333-444455556666"
    assert ha.leader_renew_time == datetime(2026, 11, 29, 16, 45, 2, 654321, tzinfo=UTC)
    assert ha.lease_duration == timedelta(seconds=15)
    assert ha.leader_addresses["dispatcher"] == "pekko.tcp://flink@10.42.0.17:6123/user/rpc/dispatcher_1"
    assert ha.leader_addresses["restserver"] == "http://10.42.0.17:8081"
    assert set(ha.leader_addresses) == {"dispatcher", "resourcemanager", "restserver", f"job-{JOB}"}
    assert ha.job_graph_keys == (f"executionPlan-{JOB}",) and ha.has_job_graph
    assert (ha.checkpoint_counter, ha.latest_checkpoint_id, ha.latest_checkpoint_pointer) == (43, 42, V23_PATH)
    assert ha.has_checkpoint


def test_parse_ha_config_maps_flink_1_15_numeric_lease_and_job_graph_key():
    cluster = cluster_cm(ANNOTATION_115, graph=False)
    cluster["data"][f"jobGraph-{JOB}"] = "rO0ABXNy"
    ha = parse_ha_config_maps(CID, [cluster, job_cm({7: V115_LIVE}, counter=8)])
    assert ha.lease_duration == timedelta(seconds=15)
    assert ha.job_graph_keys == (f"jobGraph-{JOB}",)
    assert (ha.latest_checkpoint_id, ha.latest_checkpoint_pointer) == (7, V115_PATH)


def test_newest_checkpoint_marked_for_deletion_is_not_usable():
    ha = parse_ha_config_maps(CID, [job_cm({5: V23_LIVE, 6: V23_DELETING})])
    assert ha.latest_checkpoint_id == 5
    only_deleting = parse_ha_config_maps(CID, [job_cm({6: V23_DELETING})])
    assert not only_deleting.has_checkpoint and only_deleting.checkpoint_counter == 43


def test_stripped_job_graph_and_no_leader():
    """After STRIP_JOB_GRAPH and the JobManager gone: no graph, no leader keys, checkpoint pointer kept."""
    stripped = cm(f"{CID}-cluster-config-map", {})
    ha = parse_ha_config_maps(CID, [stripped, job_cm({42: V23_LIVE})])
    assert not ha.has_job_graph and ha.leader_holder is None and ha.leader_renew_time is None
    assert ha.leader_addresses == {} and ha.latest_checkpoint_id == 42


def test_legacy_1_14_leader_config_maps():
    maps = [cm(f"{CID}-dispatcher-leader", {"address": "akka.tcp://flink@10.0.0.1:6123/user/rpc/dispatcher_1",
                                             "sessionId": "5b0a6f2e-7c1d-4e8f-9a3b-2c4d6e8f0a1b",
                                             f"jobGraph-{JOB}": "rO0AB"}, ANNOTATION_115),
            cm(f"{CID}-restserver-leader", {"address": "http://10.0.0.1:8081"}, ANNOTATION_115),
            cm(f"{CID}-{JOB}-jobmanager-leader", {"counter": "4", "checkpointID-0000000000000000003": V115_LIVE})]
    ha = parse_ha_config_maps(CID, maps)
    assert ha.leader_addresses == {"dispatcher": "akka.tcp://flink@10.0.0.1:6123/user/rpc/dispatcher_1",
                                   "restserver": "http://10.0.0.1:8081"}
    assert ha.has_job_graph and ha.latest_checkpoint_id == 3 and ha.leader_holder


@pytest.mark.parametrize("annotation", ["not json", "[1, 2]", '{"holderIdentity": ""}'])
def test_unreadable_leader_annotation_means_no_leader(annotation):
    ha = parse_ha_config_maps(CID, [cluster_cm(annotation)])
    assert ha.leader_holder is None and ha.leader_renew_time is None


def test_no_ha_config_maps_and_null_data():
    empty = parse_ha_config_maps(CID, [])
    assert empty.config_maps == () and not empty.has_checkpoint and not empty.has_job_graph
    assert parse_ha_config_maps(CID, [cm(f"{CID}-cluster-config-map", None)]).config_maps == (
        f"{CID}-cluster-config-map",)


def test_unparseable_checkpoint_value_still_counts_as_checkpoint():
    ha = parse_ha_config_maps(CID, [job_cm({12: "garbage"})])
    assert (ha.latest_checkpoint_id, ha.latest_checkpoint_pointer) == (12, None)


# Captured from a real Flink 2.3.0 JobManager (Kubernetes HA) in the local native-Kubernetes harness.
REAL_HA_CONFIG_MAPS_23 = json.loads(
    "[{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"streaming-job-000000002cdf27d200000000000"
    "00000-config-map\",\"namespace\":\"t-2ae628d2\",\"labels\":{\"app\":\"streaming-job\",\"type\":\"flink-native-kube"
    "rnetes\"}},\"data\":{\"counter\":\"6\",\"checkpointID-0000000000000000005\":\"rO0ABXNyAGNvcmcuYXBhY2hlLmZsaW5r"
    "Lmt1YmVybmV0ZXMuaGlnaGF2YWlsYWJpbGl0eS5LdWJlcm5ldGVzU3RhdGVIYW5kbGVTdG9yZSRTdGF0ZUhhbmRsZVdpdGhEZWxl"
    "dGVNYXJrZXIbrUSA74YNfAIAAloAEW1hcmtlZEZvckRlbGV0aW9uTAAFaW5uZXJ0ADdMb3JnL2FwYWNoZS9mbGluay9ydW50aW1l"
    "L3N0YXRlL1JldHJpZXZhYmxlU3RhdGVIYW5kbGU7eHAAc3IAO29yZy5hcGFjaGUuZmxpbmsucnVudGltZS5zdGF0ZS5SZXRyaWV2"
    "YWJsZVN0cmVhbVN0YXRlSGFuZGxlAAEeGPFVlysCAAFMABh3cmFwcGVkU3RyZWFtU3RhdGVIYW5kbGV0ADJMb3JnL2FwYWNoZS9m"
    "bGluay9ydW50aW1lL3N0YXRlL1N0cmVhbVN0YXRlSGFuZGxlO3hwc3IAOW9yZy5hcGFjaGUuZmxpbmsucnVudGltZS5zdGF0ZS5m"
    "aWxlc3lzdGVtLkZpbGVTdGF0ZUhhbmRsZQTcddhivRuzAgACSgAJc3RhdGVTaXplTAAIZmlsZVBhdGh0AB9Mb3JnL2FwYWNoZS9m"
    "bGluay9jb3JlL2ZzL1BhdGg7eHAAAAAAAAAsE3NyAB1vcmcuYXBhY2hlLmZsaW5rLmNvcmUuZnMuUGF0aAAAAAAAAAABAgABTAAD"
    "dXJpdAAOTGphdmEvbmV0L1VSSTt4cHNyAAxqYXZhLm5ldC5VUkmsAXguQ55JqwMAAUwABnN0cmluZ3QAEkxqYXZhL2xhbmcvU3Ry"
    "aW5nO3hwdACGZmlsZTovdG1wL3B5dGVzdC1vZi1yb290L3B5dGVzdC02Ny90ZXN0X2NhcHR1cmUwL2NsdXN0ZXIvaGRmcy9kYXRh"
    "Y2x1c3Rlci9mbGluay9yZWNvdmVyeS9zdHJlYW1pbmctam9iL2NvbXBsZXRlZENoZWNrcG9pbnQ0MzcwNDM3YmYzNTB4\"}},{\"ap"
    "iVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"streaming-job-cluster-config-map\",\"namespace\":"
    "\"t-2ae628d2\",\"labels\":{\"app\":\"streaming-job\",\"type\":\"flink-native-kubernetes\"},\"annotations\":{\"contr"
    "ol-plane.alpha.kubernetes.io/leader\":\"{\\\"holderIdentity\\\":\\\"ebdd12c9-4136-4fcb-9e14-3e555788d9ad\\\",\\"
    "\"leaseDuration\\\":\\\"PT15S\\\",\\\"acquireTime\\\":\\\"2026-11-29T17:09:22.816703Z\\\",\\\"renewTime\\\":\\\"2026-11-2"
    "9T17:09:59.460839Z\\\",\\\"leaderTransitions\\\":0}\"}},\"data\":{\"org.apache.flink.k8s.leader.restserver\":\"8"
    "401b783-5a02-4276-b9f9-011f85a12d8b,http://127.0.0.1:30000\",\"org.apache.flink.k8s.leader.dispatcher\""
    ":\"8401b783-5a02-4276-b9f9-011f85a12d8b,pekko.tcp://flink@127.0.0.1:49373/user/rpc/dispatcher_1\",\"exe"
    "cutionPlan-000000002cdf27d20000000000000000\":\"rO0ABXNyAGNvcmcuYXBhY2hlLmZsaW5rLmt1YmVybmV0ZXMuaGlnaG"
    "F2YWlsYWJpbGl0eS5LdWJlcm5ldGVzU3RhdGVIYW5kbGVTdG9yZSRTdGF0ZUhhbmRsZVdpdGhEZWxldGVNYXJrZXIbrUSA74YNfA"
    "IAAloAEW1hcmtlZEZvckRlbGV0aW9uTAAFaW5uZXJ0ADdMb3JnL2FwYWNoZS9mbGluay9ydW50aW1lL3N0YXRlL1JldHJpZXZhYm"
    "xlU3RhdGVIYW5kbGU7eHAAc3IAO29yZy5hcGFjaGUuZmxpbmsucnVudGltZS5zdGF0ZS5SZXRyaWV2YWJsZVN0cmVhbVN0YXRlSG"
    "FuZGxlAAEeGPFVlysCAAFMABh3cmFwcGVkU3RyZWFtU3RhdGVIYW5kbGV0ADJMb3JnL2FwYWNoZS9mbGluay9ydW50aW1lL3N0YX"
    "RlL1N0cmVhbVN0YXRlSGFuZGxlO3hwc3IAOW9yZy5hcGFjaGUuZmxpbmsucnVudGltZS5zdGF0ZS5maWxlc3lzdGVtLkZpbGVTdG"
    "F0ZUhhbmRsZQTcddhivRuzAgACSgAJc3RhdGVTaXplTAAIZmlsZVBhdGh0AB9Mb3JnL2FwYWNoZS9mbGluay9jb3JlL2ZzL1BhdG"
    "g7eHAAAAAAAAB0WnNyAB1vcmcuYXBhY2hlLmZsaW5rLmNvcmUuZnMuUGF0aAAAAAAAAAABAgABTAADdXJpdAAOTGphdmEvbmV0L1"
    "VSSTt4cHNyAAxqYXZhLm5ldC5VUkmsAXguQ55JqwMAAUwABnN0cmluZ3QAEkxqYXZhL2xhbmcvU3RyaW5nO3hwdACJZmlsZTovdG"
    "1wL3B5dGVzdC1vZi1yb290L3B5dGVzdC02Ny90ZXN0X2NhcHR1cmUwL2NsdXN0ZXIvaGRmcy9kYXRhY2x1c3Rlci9mbGluay9yZW"
    "NvdmVyeS9zdHJlYW1pbmctam9iL3N1Ym1pdHRlZEV4ZWN1dGlvblBsYW4wOWVhZjhjZTZhMTV4\",\"org.apache.flink.k8s.le"
    "ader.resourcemanager\":\"8401b783-5a02-4276-b9f9-011f85a12d8b,pekko.tcp://flink@127.0.0.1:49373/user/r"
    "pc/resourcemanager_0\",\"org.apache.flink.k8s.leader.job-000000002cdf27d20000000000000000\":\"8401b783-5"
    "a02-4276-b9f9-011f85a12d8b,pekko.tcp://flink@127.0.0.1:49373/user/rpc/jobmanager_2\"}}]"
)


def test_real_flink_2_3_ha_config_maps():
    ha = parse_ha_config_maps("streaming-job", REAL_HA_CONFIG_MAPS_23)
    job = "000000002cdf27d20000000000000000"  # derived from the cluster id by Flink 2.3 application mode
    assert ha.config_maps == (f"streaming-job-{job}-config-map", "streaming-job-cluster-config-map")
    assert ha.leader_holder == "ebdd12c9-4136-4fcb-9e14-3e555788d9ad" and ha.lease_duration == timedelta(seconds=15)
    assert ha.leader_renew_time == datetime(2026, 11, 29, 17, 9, 59, 460839, tzinfo=UTC)
    assert ha.leader_addresses["restserver"] == "http://127.0.0.1:30000"
    assert ha.leader_addresses[f"job-{job}"].endswith("/user/rpc/jobmanager_2")
    assert ha.job_graph_keys == (f"executionPlan-{job}",)
    assert (ha.checkpoint_counter, ha.latest_checkpoint_id) == (6, 5)
    assert ha.latest_checkpoint_pointer.endswith("/flink/recovery/streaming-job/completedCheckpoint4370437bf350")


# -- Flink REST -------------------------------------------------------------------------------------------------

OVERVIEW = {"jobs": [{"jid": JOB, "name": "capture-job", "jobType": "STREAMING", "schedulerType": "Default",
                      "start-time": 1795970836081, "end-time": -1, "duration": 13718, "state": "RUNNING",
                      "last-modification": 1795970841947,
                      "tasks": {"running": 2, "canceling": 0, "canceled": 0, "total": 2, "created": 0,
                                "scheduled": 0, "deploying": 0, "reconciling": 0, "finished": 0,
                                "initializing": 0, "failed": 0}, "pending-operators": 0}]}
DETAILS = {"jid": JOB, "application-id": JOB, "name": "capture-job", "isStoppable": False, "state": "RUNNING",
           "job-type": "STREAMING", "schedulerType": "Default", "start-time": 1795970836081, "end-time": -1,
           "duration": 13870, "maxParallelism": -1, "now": 1795970849951,
           "timestamps": {"CANCELLING": 0, "RUNNING": 1795970841762, "CREATED": 1795970836824, "FAILING": 0,
                          "FAILED": 0, "RESTARTING": 1795970840734, "FINISHED": 0, "INITIALIZING": 1795970836081,
                          "SUSPENDED": 0, "RECONCILING": 0, "CANCELED": 0},
           "vertices": [], "status-counts": {"RUNNING": 2}, "plan": {"jid": JOB, "name": "capture-job", "nodes": []},
           "pending-operators": 0}
METRICS = [{"id": "numberOfCompletedCheckpoints", "value": "11"}, {"id": "numRestarts", "value": "1"}]
CHECKPOINT_CONFIG = {"mode": "exactly_once", "interval": 1000, "timeout": 600000, "min_pause": 0,
                     "max_concurrent": 1, "externalization": {"enabled": False, "delete_on_cancellation": True},
                     "state_backend": "HashMapStateBackend", "checkpoint_storage": "FileSystemCheckpointStorage",
                     "unaligned_checkpoints": False, "tolerable_failed_checkpoints": 3,
                     "aligned_checkpoint_timeout": 0, "checkpoints_after_tasks_finish": True,
                     "state_changelog_enabled": False, "changelog_periodic_materialization_interval": 600000,
                     "changelog_storage": "memory"}
COMPLETED = {"className": "completed", "id": 11, "status": "COMPLETED", "is_savepoint": False,
             "savepointFormat": None, "trigger_timestamp": 1795970849940, "latest_ack_timestamp": 1795970850022,
             "checkpointed_size": 1978, "state_size": 1978, "end_to_end_duration": 82, "alignment_buffered": 0,
             "processed_data": 0, "persisted_data": 0, "num_subtasks": 2, "num_acknowledged_subtasks": 2,
             "checkpoint_type": "CHECKPOINT", "tasks": {},
             "external_path": f"file:/tmp/cap/chk/{JOB}/chk-11", "discarded": False}
CHECKPOINTS = {"counts": {"restored": 1, "total": 13, "in_progress": 0, "completed": 11, "failed": 2},
               "summary": {}, "history": [COMPLETED],
               "latest": {"completed": COMPLETED, "savepoint": None, "failed": None,
                          "restored": {"id": 3, "restore_timestamp": 1795970841765, "is_savepoint": False,
                                       "external_path": f"file:/tmp/cap/chk/{JOB}/chk-3"}}}


def test_parse_jobs_overview():
    (job,) = parse_jobs_overview(OVERVIEW)
    assert (job.job_id, job.name, job.state, job.restarts) == (JOB, "capture-job", "RUNNING", None)
    assert job.start_time == from_epoch_ms(1795970836081) and not job.terminal
    assert parse_jobs_overview({"jobs": []}) == ()


def test_parse_job_details_with_metrics():
    job = parse_job_details(DETAILS, METRICS)
    assert (job.job_id, job.state, job.restarts) == (JOB, "RUNNING", 1)
    assert job.last_restart_time == from_epoch_ms(1795970840734)


@pytest.mark.parametrize("metrics, restarts", [
    (None, None), ([], None), ([{"id": "fullRestarts", "value": "4"}], 4),
    ([{"id": "numRestarts", "value": "2"}, {"id": "fullRestarts", "value": "9"}], 2),
    ([{"id": "numRestarts", "value": "n/a"}], None),
])
def test_restart_metric_choice(metrics, restarts):
    assert parse_job_details(DETAILS, metrics).restarts == restarts


@pytest.mark.parametrize("state, terminal", [("FINISHED", True), ("FAILED", True), ("CANCELED", True),
                                             ("RUNNING", False), ("RESTARTING", False), ("SUSPENDED", False)])
def test_terminal_states(state, terminal):
    assert parse_job_details({**DETAILS, "state": state}).terminal is terminal


def test_parse_metrics():
    assert parse_metrics(METRICS) == {"numberOfCompletedCheckpoints": "11", "numRestarts": "1"}
    assert parse_metrics(None) == {}


def test_parse_checkpoints_real_body():
    cp = parse_checkpoints(CHECKPOINTS, CHECKPOINT_CONFIG)
    assert cp.interval == timedelta(seconds=1) and cp.timeout == timedelta(minutes=10)
    assert (cp.tolerable_failures, cp.completed_count, cp.failed_count) == (3, 11, 2)
    assert (cp.latest_completed_id, cp.latest_completed_path) == (11, f"file:/tmp/cap/chk/{JOB}/chk-11")
    assert cp.latest_completed_time == from_epoch_ms(1795970850022)
    assert (cp.externalized, cp.retained_on_cancel, cp.latest_failed_time, cp.latest_savepoint_path) == \
        (False, False, None, None)


def test_parse_checkpoints_failed_savepoint_and_retention():
    failed = {"className": "failed", "id": 12, "status": "FAILED", "trigger_timestamp": 1795970851000,
              "failure_timestamp": 1795970852000, "failure_message": "Checkpoint expired before completing."}
    savepoint = {**COMPLETED, "id": 10, "is_savepoint": True, "external_path": "file:/sp/savepoint-9c8e7a-2edc006e2007"}
    stats = {**CHECKPOINTS, "latest": {"completed": COMPLETED, "failed": failed, "savepoint": savepoint}}
    config = {**CHECKPOINT_CONFIG, "externalization": {"enabled": True, "delete_on_cancellation": False}}
    cp = parse_checkpoints(stats, config)
    assert cp.latest_failed_time == from_epoch_ms(1795970852000)
    assert cp.latest_failed_message == "Checkpoint expired before completing."
    assert cp.latest_savepoint_path == "file:/sp/savepoint-9c8e7a-2edc006e2007"
    assert cp.externalized and cp.retained_on_cancel


@pytest.mark.parametrize("config", [
    {**CHECKPOINT_CONFIG, "interval": 9223372036854775807},  # streaming job without checkpointing
    None,  # 404 "Checkpointing is not enabled for this job"
    {**CHECKPOINT_CONFIG, "interval": 0},
])
def test_checkpointing_disabled(config):
    cp = parse_checkpoints(None, config)
    assert cp.interval is None and cp.latest_completed_id is None and cp.completed_count == 0


def test_no_completed_checkpoint_yet_falls_back_to_nothing():
    stats = {"counts": {"completed": 0, "failed": 0}, "latest": {"completed": None, "failed": None}}
    cp = parse_checkpoints(stats, CHECKPOINT_CONFIG)
    assert cp.latest_completed_id is None and cp.latest_completed_time is None
