"""The emulated Kubernetes API behaves like a real API server where our clients depend on it.

Everything goes over real HTTP: the official `kubernetes` client, Airflow's KubernetesHook and
kubectl. Each test has its own namespace (`k8s_api` fixture).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator

import pytest
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from tests.fixtures.http_stub import StubHandler, serve
from tests.kube import patches, selectors


def _cm(name: str, labels: dict[str, str] | None = None, **data: str) -> dict:
    return {"metadata": {"name": name, "labels": labels or {}}, "data": data}


def _error(exc: ApiException) -> dict:
    return json.loads(exc.body)


# ---- pure parts -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("app=a", {"app": "a"}, True),
        ("app=a", {"app": "b"}, False),
        ("app==a,type=t", {"app": "a", "type": "t"}, True),
        ("app!=a", {}, True),
        ("app", {"app": ""}, True),
        ("!app", {"app": "a"}, False),
        ("app in (a, b),type notin (x)", {"app": "b", "type": "t"}, True),
        ("app in (a,b)", {"app": "c"}, False),
        ("", {}, True),
    ],
)
def test_label_selector_matches_like_the_api_server(selector, labels, expected):
    assert selectors.label_selector(selector)({"metadata": {"labels": labels}}) is expected


def test_invalid_selector_names_the_term():
    with pytest.raises(ValueError, match="a b"):
        selectors.label_selector("a b")
    with pytest.raises(ValueError, match="status"):
        selectors.field_selector("status")


def test_json_patch_and_strategic_merge():
    obj = {"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}}
    assert patches.json_patch(obj, [{"op": "replace", "path": "/spec/containers/0/image", "value": "z"},
                                    {"op": "add", "path": "/metadata", "value": {"name": "n"}}]) == {
        "spec": {"containers": [{"name": "a", "image": "z"}, {"name": "b", "image": "y"}]},
        "metadata": {"name": "n"}}
    merged = patches.merge_patch(obj, {"spec": {"containers": [{"name": "b", "image": "w"}],
                                                "$setElementOrder/containers": [{"name": "b"}]}},
                                 strategic=True)
    assert merged == {"spec": {"containers": [{"name": "b", "image": "w"}, {"name": "a", "image": "x"}]}}
    assert patches.merge_patch({"a": {"b": 1, "c": 2}}, {"a": {"b": None}}) == {"a": {"c": 2}}


# ---- the API over HTTP ------------------------------------------------------------------------


def test_discovery_and_version(k8s_api):
    assert client.VersionApi(k8s_api.client).get_code().git_version.startswith("v1.32")
    core = client.CoreV1Api(k8s_api.client).get_api_resources()
    assert core.group_version == "v1"
    assert {"pods", "configmaps", "services", "nodes", "namespaces"} <= {r.name for r in core.resources}
    apps = client.AppsV1Api(k8s_api.client).get_api_resources()
    assert apps.group_version == "apps/v1" and "deployments" in {r.name for r in apps.resources}


def test_create_fills_metadata_and_reports_reasons(k8s_api):
    ns = k8s_api.namespace
    cm = k8s_api.core.create_namespaced_config_map(ns, _cm("a", k="v"))
    assert cm.metadata.namespace == ns and cm.metadata.uid and cm.metadata.creation_timestamp
    assert int(cm.metadata.resource_version) > 0
    with pytest.raises(ApiException) as exists:
        k8s_api.core.create_namespaced_config_map(ns, _cm("a"))
    assert exists.value.status == 409 and _error(exists.value)["reason"] == "AlreadyExists"
    with pytest.raises(ApiException) as missing:
        k8s_api.core.read_namespaced_config_map("nope", ns)
    assert missing.value.status == 404 and _error(missing.value)["reason"] == "NotFound"
    with pytest.raises(ApiException) as no_ns:
        k8s_api.core.create_namespaced_config_map("no-such-namespace", _cm("a"))
    assert no_ns.value.status == 404


def test_list_filters_by_label_and_field_selectors(k8s_api):
    ns = k8s_api.namespace
    k8s_api.core.create_namespaced_config_map(ns, _cm("a", {"app": "x", "type": "ha"}))
    k8s_api.core.create_namespaced_config_map(ns, _cm("b", {"app": "x"}))
    k8s_api.core.create_namespaced_config_map(ns, _cm("c", {"app": "y"}))

    def names(**kw):
        return [c.metadata.name for c in k8s_api.core.list_namespaced_config_map(ns, **kw).items]

    assert names() == ["a", "b", "c"]
    assert names(label_selector="app=x") == ["a", "b"]
    assert names(label_selector="app=x,type=ha") == ["a"]
    assert names(label_selector="app in (x,y),!type") == ["b", "c"]
    assert names(field_selector="metadata.name=c") == ["c"]
    # Other namespaces never show up in a namespaced list.
    assert "a" not in [c.metadata.name for c in
                       k8s_api.core.list_namespaced_config_map("default").items]


def test_delete_collection_by_label(k8s_api):
    ns = k8s_api.namespace
    for name, app in (("a", "x"), ("b", "x"), ("c", "y")):
        k8s_api.core.create_namespaced_config_map(ns, _cm(name, {"app": app}))
    k8s_api.core.delete_collection_namespaced_config_map(ns, label_selector="app=x")
    assert [c.metadata.name for c in k8s_api.core.list_namespaced_config_map(ns).items] == ["c"]


def test_replace_and_patch_use_optimistic_concurrency(k8s_api):
    ns = k8s_api.namespace
    created = k8s_api.core.create_namespaced_config_map(ns, _cm("leader", k="1"))
    stale = created.metadata.resource_version
    body = _cm("leader", k="2")
    body["metadata"]["resourceVersion"] = stale
    replaced = k8s_api.core.replace_namespaced_config_map("leader", ns, body)
    assert replaced.data == {"k": "2"} and replaced.metadata.resource_version != stale
    assert replaced.metadata.uid == created.metadata.uid

    body["data"] = {"k": "3"}  # still the stale version: a second contender loses
    with pytest.raises(ApiException) as conflict:
        k8s_api.core.replace_namespaced_config_map("leader", ns, body)
    assert conflict.value.status == 409 and _error(conflict.value)["reason"] == "Conflict"
    with pytest.raises(ApiException) as patch_conflict:
        k8s_api.core.patch_namespaced_config_map(
            "leader", ns, {"metadata": {"resourceVersion": stale}, "data": {"k": "4"}})
    assert patch_conflict.value.status == 409
    assert k8s_api.core.read_namespaced_config_map("leader", ns).data == {"k": "2"}

    patched = k8s_api.core.patch_namespaced_config_map("leader", ns, {"data": {"j": "5"}})
    assert patched.data == {"k": "2", "j": "5"}


def test_nodeport_service_gets_a_port_and_load_balancer_status(k8s_api):
    ns = k8s_api.namespace
    svc = k8s_api.core.create_namespaced_service(ns, {
        "metadata": {"name": "demo-rest"},
        "spec": {"type": "NodePort", "ports": [{"name": "rest", "port": 8081, "targetPort": 8081}]}})
    assert 30000 <= svc.spec.ports[0].node_port <= 32767
    assert svc.spec.cluster_ip
    assert svc.status.load_balancer is not None
    other = k8s_api.core.create_namespaced_service(ns, {
        "metadata": {"name": "other"}, "spec": {"type": "NodePort", "ports": [{"port": 80}]}})
    assert other.spec.ports[0].node_port != svc.spec.ports[0].node_port
    internal = k8s_api.core.create_namespaced_service(ns, {
        "metadata": {"name": "internal"}, "spec": {"ports": [{"port": 80}]}})
    assert internal.spec.type == "ClusterIP" and internal.spec.ports[0].node_port is None


def test_a_node_with_an_external_ip_on_loopback_exists(k8s_api):
    nodes = k8s_api.core.list_node().items
    assert nodes and nodes[0].spec is not None
    assert {"type": "ExternalIP", "address": "127.0.0.1"} in [a.to_dict() for a in nodes[0].status.addresses]


def test_watch_streams_changes_filtered_by_label_and_resumes(k8s_api):
    ns = k8s_api.namespace
    k8s_api.core.create_namespaced_config_map(ns, _cm("before", {"app": "x"}))
    start = k8s_api.core.list_namespaced_config_map(ns).metadata.resource_version
    k8s_api.core.create_namespaced_config_map(ns, _cm("a", {"app": "x"}))
    k8s_api.core.create_namespaced_config_map(ns, _cm("ignored", {"app": "y"}))
    k8s_api.core.patch_namespaced_config_map("a", ns, {"data": {"k": "v"}})
    k8s_api.core.delete_namespaced_config_map("a", ns)

    seen = [(e["type"], e["object"].metadata.name) for e in watch.Watch().stream(
        k8s_api.core.list_namespaced_config_map, ns, label_selector="app=x",
        resource_version=start, timeout_seconds=1)]
    assert seen == [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a")]

    fresh = [(e["type"], e["object"].metadata.name) for e in watch.Watch().stream(
        k8s_api.core.list_namespaced_config_map, ns, label_selector="app=x", timeout_seconds=1)]
    assert fresh == [("ADDED", "before")]


def test_deleting_an_owner_cascades_to_its_dependents(k8s_api):
    ns = k8s_api.namespace
    dep = k8s_api.apps.create_namespaced_deployment(ns, {
        "metadata": {"name": "demo", "labels": {"app": "demo"}},
        "spec": {"selector": {"matchLabels": {"app": "demo"}},
                 "template": {"metadata": {"labels": {"app": "demo"}},
                              "spec": {"containers": [{"name": "c", "image": "i"}]}}}})
    owner = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "demo", "uid": dep.metadata.uid,
             "controller": True, "blockOwnerDeletion": True}
    k8s_api.core.create_namespaced_config_map(ns, {**_cm("flink-config-demo"),
                                                   "metadata": {"name": "flink-config-demo",
                                                                "ownerReferences": [owner]}})
    k8s_api.core.create_namespaced_config_map(ns, _cm("demo-cluster-config-map"))
    k8s_api.apps.delete_namespaced_deployment("demo", ns)
    assert [c.metadata.name for c in k8s_api.core.list_namespaced_config_map(ns).items] == [
        "demo-cluster-config-map"]


def test_dependents_created_after_their_owner_is_gone_are_collected(k8s_api):
    ns = k8s_api.namespace
    late = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "gone", "uid": "no-such-uid"}
    k8s_api.core.create_namespaced_pod(ns, {"metadata": {"name": "late", "ownerReferences": [late]},
                                            "spec": {"containers": [{"name": "c", "image": "i"}]}})
    assert k8s_api.core.list_namespaced_pod(ns).items == []


def _pod(name: str, node: str | None = "local-node", grace: int | None = None, owner: dict | None = None) -> dict:
    spec: dict = {"containers": [{"name": "c", "image": "i"}]}
    if node:
        spec["nodeName"] = node
    if grace is not None:
        spec["terminationGracePeriodSeconds"] = grace
    return {"metadata": {"name": name, "ownerReferences": [owner] if owner else []}, "spec": spec}


def _pod_names(k8s_api) -> list[str]:
    return [p.metadata.name for p in k8s_api.core.list_namespaced_pod(k8s_api.namespace).items]


def test_graceful_pod_delete_keeps_the_pod_until_its_kubelet_deletes_it(k8s_api):
    ns = k8s_api.namespace
    created = k8s_api.core.create_namespaced_pod(ns, _pod("p"))
    assert created.spec.termination_grace_period_seconds == 30  # defaulted like a real API server
    k8s_api.core.patch_namespaced_pod_status("p", ns, {"status": {"phase": "Running"}})
    start = k8s_api.core.list_namespaced_pod(ns).metadata.resource_version

    marked = k8s_api.core.delete_namespaced_pod("p", ns)
    assert marked.metadata.deletion_timestamp and marked.metadata.deletion_grace_period_seconds == 30
    pod = k8s_api.core.read_namespaced_pod("p", ns)  # still there: "Terminating", phase unchanged
    assert pod.metadata.deletion_timestamp and pod.status.phase == "Running"
    # The kubelet's status updates keep it; a longer grace period never extends it, a shorter one does.
    k8s_api.core.patch_namespaced_pod_status("p", ns, {"status": {"podIP": "127.0.0.1"}})
    assert k8s_api.core.delete_namespaced_pod("p", ns, grace_period_seconds=60).metadata \
        .deletion_grace_period_seconds == 30
    assert k8s_api.core.delete_namespaced_pod("p", ns, body=client.V1DeleteOptions(
        grace_period_seconds=5)).metadata.deletion_grace_period_seconds == 5
    assert _pod_names(k8s_api) == ["p"]

    # The kubelet's final delete: grace period 0, preconditioned on the uid of the pod it ran.
    with pytest.raises(ApiException) as other_uid:
        k8s_api.core.delete_namespaced_pod("p", ns, body=client.V1DeleteOptions(
            grace_period_seconds=0, preconditions=client.V1Preconditions(uid="another-pod")))
    assert other_uid.value.status == 409 and _error(other_uid.value)["reason"] == "Conflict"
    k8s_api.core.delete_namespaced_pod("p", ns, body=client.V1DeleteOptions(
        grace_period_seconds=0, preconditions=client.V1Preconditions(uid=created.metadata.uid)))
    assert _pod_names(k8s_api) == []
    seen = [e["type"] for e in watch.Watch().stream(k8s_api.core.list_namespaced_pod, ns,
                                                    resource_version=start, timeout_seconds=1)]
    assert seen == ["MODIFIED"] * 3 + ["DELETED"]  # marked, status, shortened; then removed


def test_unscheduled_terminated_and_force_deleted_pods_go_at_once(k8s_api):
    ns = k8s_api.namespace
    k8s_api.core.create_namespaced_pod(ns, _pod("pending", node=None))
    k8s_api.core.create_namespaced_pod(ns, _pod("done"))
    k8s_api.core.patch_namespaced_pod_status("done", ns, {"status": {"phase": "Succeeded"}})
    k8s_api.core.create_namespaced_pod(ns, _pod("forced"))
    k8s_api.core.create_namespaced_pod(ns, _pod("no-grace", grace=0))
    k8s_api.core.delete_namespaced_pod("pending", ns)
    k8s_api.core.delete_namespaced_pod("done", ns)
    k8s_api.core.delete_namespaced_pod("forced", ns, grace_period_seconds=0)
    k8s_api.core.delete_namespaced_pod("no-grace", ns)
    assert _pod_names(k8s_api) == []


def test_garbage_collection_marks_the_scheduled_pods_of_a_deleted_owner(k8s_api):
    ns = k8s_api.namespace
    dep = k8s_api.apps.create_namespaced_deployment(ns, {
        "metadata": {"name": "demo"},
        "spec": {"selector": {"matchLabels": {"app": "demo"}},
                 "template": {"metadata": {"labels": {"app": "demo"}},
                              "spec": {"containers": [{"name": "c", "image": "i"}]}}}})
    owner = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "demo", "uid": dep.metadata.uid}
    k8s_api.core.create_namespaced_pod(ns, _pod("running", grace=7, owner=owner))
    k8s_api.core.create_namespaced_pod(ns, _pod("unscheduled", node=None, owner=owner))
    k8s_api.core.create_namespaced_config_map(ns, {"metadata": {"name": "cm", "ownerReferences": [owner]}})
    k8s_api.apps.delete_namespaced_deployment("demo", ns)
    assert k8s_api.core.list_namespaced_config_map(ns).items == []  # other kinds: removed at once
    assert _pod_names(k8s_api) == ["running"]
    pod = k8s_api.core.read_namespaced_pod("running", ns)
    assert pod.metadata.deletion_timestamp and pod.metadata.deletion_grace_period_seconds == 7
    k8s_api.core.delete_namespaced_pod("running", ns, grace_period_seconds=0)
    assert _pod_names(k8s_api) == []


def test_pod_status_subresource_and_logs(k8s_api):
    ns = k8s_api.namespace
    pod = k8s_api.core.create_namespaced_pod(ns, {
        "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}})
    assert pod.status.phase == "Pending"
    k8s_api.core.patch_namespaced_pod_status("p", ns, {"status": {"phase": "Running", "podIP": "127.0.0.1"}})
    k8s_api.core.patch_namespaced_pod("p", ns, {"status": {"phase": "Failed"}})  # ignored, like a real server
    assert k8s_api.core.read_namespaced_pod("p", ns).status.phase == "Running"
    k8s_api.server.call(lambda e: e.pod_logs.__setitem__((ns, "p"), lambda: "hello from p\n"))
    log = k8s_api.core.read_namespaced_pod_log("p", ns, _preload_content=False)
    assert log.data.decode() == "hello from p\n"


class _Backend(StubHandler):
    def answer(self) -> None:
        self.reply(200, json.dumps({"method": self.command, "path": self.path,
                                    "body": self.body().decode()}).encode())


@pytest.fixture
def backend() -> Iterator[str]:
    with serve(_Backend) as url:
        yield url


def test_service_proxy_forwards_every_method_to_the_registered_backend(k8s_api, backend):
    ns = k8s_api.namespace
    k8s_api.core.create_namespaced_service(ns, {"metadata": {"name": "demo-rest"},
                                                "spec": {"ports": [{"name": "rest", "port": 8081}]}})
    with pytest.raises(ApiException) as unavailable:
        k8s_api.core.connect_get_namespaced_service_proxy_with_path("demo-rest:8081", ns, "overview")
    assert unavailable.value.status == 503
    k8s_api.server.call(lambda e: e.service_backends.__setitem__((ns, "demo-rest"), backend))

    def call(method: str, path: str) -> dict:
        resp = k8s_api.client.call_api(
            f"/api/v1/namespaces/{ns}/services/demo-rest:8081/proxy/{path}", method,
            query_params=[("mode", "cancel")], header_params={"Content-Type": "application/json"},
            body={"x": 1} if method != "GET" else None, auth_settings=["BearerToken"],
            _preload_content=False)
        return json.loads(resp.data)

    assert call("GET", "jobs/overview") == {"method": "GET", "path": "/jobs/overview?mode=cancel", "body": ""}
    assert call("PATCH", "jobs/abc") == {"method": "PATCH", "path": "/jobs/abc?mode=cancel", "body": '{"x": 1}'}
    assert call("DELETE", "jobs/abc")["method"] == "DELETE"
    # Proxied PATCH/DELETE never touch the Service object itself.
    assert k8s_api.core.read_namespaced_service("demo-rest", ns).metadata.name == "demo-rest"


def test_namespace_deletion_removes_its_objects(k8s_api):
    k8s_api.core.create_namespace({"metadata": {"name": f"{k8s_api.namespace}-x"}})
    k8s_api.core.create_namespaced_config_map(f"{k8s_api.namespace}-x", _cm("a"))
    k8s_api.core.delete_namespace(f"{k8s_api.namespace}-x")
    assert k8s_api.core.list_config_map_for_all_namespaces(
        field_selector=f"metadata.namespace={k8s_api.namespace}-x").items == []


def test_kubernetes_hook_reads_the_airflow_connection(k8s_api, k8s_airflow_conn):
    from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook

    k8s_api.core.create_namespaced_config_map(k8s_api.namespace, _cm("from-test"))
    hook = KubernetesHook(conn_id=k8s_airflow_conn)
    assert hook.get_namespace() == k8s_api.namespace
    names = [c.metadata.name for c in hook.core_v1_client.list_namespaced_config_map(hook.get_namespace()).items]
    assert names == ["from-test"]


# ---- kubectl cross-check ----------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_get_apply_delete(k8s_api, tmp_path):
    def kubectl(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["kubectl", "--kubeconfig", str(k8s_api.kubeconfig), *args],
                              capture_output=True, text=True, timeout=60, check=check)

    manifest = tmp_path / "cm.yaml"
    manifest.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\n  labels:\n    app: k\n"
        "data:\n  a: '1'\n")
    # The emulator serves no OpenAPI schema, so kubectl's client-side schema validation is off.
    assert "created" in kubectl("apply", "--validate=false", "-f", str(manifest)).stdout
    manifest.write_text(manifest.read_text().replace("a: '1'", "a: '2'"))
    assert "configured" in kubectl("apply", "--validate=false", "-f", str(manifest)).stdout
    assert k8s_api.core.read_namespaced_config_map("applied", k8s_api.namespace).data == {"a": "2"}

    listed = json.loads(kubectl("get", "configmaps", "-l", "app=k", "-o", "json").stdout)
    assert [i["metadata"]["name"] for i in listed["items"]] == ["applied"]
    assert "applied" in kubectl("get", "configmaps").stdout
    assert "local-node" in kubectl("get", "nodes").stdout
    namespaces = kubectl("get", "ns")
    assert k8s_api.namespace in namespaces.stdout and "Warning" not in namespaces.stderr

    kubectl("delete", "configmap", "applied")
    gone = kubectl("get", "configmap", "applied", check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr
