"""The local control plane itself (issue 15 acceptance): real components, the local kubelet on the real API.

`make kube-up` is what the session fixture runs; these tests check what a user checks after it: the server
version, readiness and OpenAPI (kubectl apply validates against it), controllers and scheduler at work on a
plain Deployment that the local kubelet runs in its own network namespace, the node identity's limits, and
that an Airflow `kubernetes` connection reaches the cluster as the namespace's service account.
"""

from __future__ import annotations

import ipaddress
import json
import re
import sys

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tests.fixtures.procs import wait_until
from tests.kube import controlplane
from tests.kube.controlplane import NODE_IP, NODE_NAME


def test_server_is_kubernetes_1_37_and_ready(kube_cluster):
    version = json.loads(kube_cluster.kubectl("version", "-o", "json").stdout)
    assert re.fullmatch(r"v1\.37\.\d+", version["serverVersion"]["gitVersion"])
    assert version["clientVersion"]["gitVersion"] == version["serverVersion"]["gitVersion"]
    for path in ("/readyz", "/livez", "/openapi/v2", "/openapi/v3"):
        status, _ = controlplane.api_get(kube_cluster, path)
        assert status == 200, path


def test_node_is_registered_ready_and_heartbeats(kube_cluster):
    core = client.CoreV1Api(config.new_client_from_config(str(kube_cluster.admin_kubeconfig)))
    node = core.read_node(NODE_NAME)
    ready = {c.type: c.status for c in node.status.conditions}
    assert ready["Ready"] == "True"
    assert {(a.type, a.address) for a in node.status.addresses} >= {("InternalIP", NODE_IP), ("ExternalIP", NODE_IP)}
    assert not [t for t in node.spec.taints or [] if t.effect in ("NoSchedule", "NoExecute")]
    leases = client.CoordinationV1Api(core.api_client)
    first = leases.read_namespaced_lease(NODE_NAME, "kube-node-lease").spec.renew_time
    wait_until(lambda: leases.read_namespaced_lease(NODE_NAME, "kube-node-lease").spec.renew_time > first, 30,
               "the node's Lease to be renewed")


def test_node_identity_is_restricted_by_the_node_authorizer(kube_cluster):
    core = client.CoreV1Api(config.new_client_from_config(str(kube_cluster.node_kubeconfig)))
    core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={NODE_NAME}")  # its own pods: allowed
    with pytest.raises(ApiException) as err:
        core.list_pod_for_all_namespaces()  # every pod of the cluster: not a node's business
    assert err.value.status == 403
    with pytest.raises(ApiException) as err:
        core.create_node({"metadata": {"name": "another-node"}})  # NodeRestriction: only itself
    assert err.value.status == 403
    with pytest.raises(ApiException) as err:
        core.list_namespaced_secret("kube-system")
    assert err.value.status == 403


WEB = """
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
      - name: web
        image: python:3  # no images here: the kubelet runs the command from the node's file system
        command: ["{python}", "-m", "http.server", "8000"]
---
apiVersion: v1
kind: Service
metadata: {{name: web}}
spec:
  type: NodePort
  selector: {{app: web}}
  ports: [{{name: http, port: 80, targetPort: 8000}}]
"""


def test_a_deployment_gets_a_replicaset_and_a_pod_the_local_kubelet_runs(native_k8s):
    api, ns = native_k8s.api, native_k8s.api.namespace
    api.cluster.kubectl("apply", "-n", ns, "-f", "-", input_text=WEB.format(python=sys.executable))
    pod = wait_until(lambda: (pods := api.core.list_namespaced_pod(ns, label_selector="app=web").items)
                     and pods[0].status.phase == "Running" and pods[0].status.pod_ip and pods[0], 60,
                     "the Deployment's pod to run")
    rs = api.apps.list_namespaced_replica_set(ns).items
    assert len(rs) == 1 and pod.metadata.owner_references[0].uid == rs[0].metadata.uid
    assert pod.spec.node_name == NODE_NAME  # bound by the real scheduler
    assert ipaddress.ip_address(pod.status.pod_ip) in ipaddress.ip_network("10.244.0.0/16")
    assert pod.spec.service_account_name == "default" and any(v.projected for v in pod.spec.volumes)

    # The API server's service proxy reaches the process in its network namespace; so does the NodePort.
    page = wait_until(lambda: api.core.connect_get_namespaced_service_proxy_with_path(
        "web:http", ns, "", _preload_content=False).data, 30, "the service proxy to answer")
    assert b"Directory listing" in page
    slices = api.cluster.kubectl("get", "endpointslices", "-n", ns, "-l", "kubernetes.io/service-name=web",
                                 "-o", "jsonpath={.items[*].endpoints[*].addresses[*]}").stdout.split()
    assert slices == [pod.status.pod_ip]
    logs = wait_until(lambda: "GET /" in (t := api.core.read_namespaced_pod_log(pod.metadata.name, ns)) and t, 20,
                      "the request in the pod's log (API server -> kubelet)")
    assert f"{NODE_IP} - - " in logs  # the request came from the API server, on the node's address

    # Scaled to 0: the ReplicaSet deletes the pod; the kubelet stops its process and frees its network.
    proc = native_k8s.kubelet.process(pod.metadata.name)
    api.apps.patch_namespaced_deployment_scale("web", ns, {"spec": {"replicas": 0}})
    wait_until(lambda: not api.core.list_namespaced_pod(ns, label_selector="app=web").items, 60,
               "the pod to be deleted")
    assert not proc.alive()
    # Deleting the Deployment: the garbage collector removes its ReplicaSet.
    api.apps.delete_namespaced_deployment("web", ns)
    wait_until(lambda: not api.apps.list_namespaced_replica_set(ns).items, 60, "garbage collection of the ReplicaSet")


def test_kubernetes_hook_reads_the_airflow_connection(k8s_api, k8s_airflow_conn):
    from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook

    k8s_api.core.create_namespaced_config_map(k8s_api.namespace, {"metadata": {"name": "from-test"}})
    hook = KubernetesHook(conn_id=k8s_airflow_conn)
    assert hook.get_namespace() == k8s_api.namespace
    names = {c.metadata.name for c in hook.core_v1_client.list_namespaced_config_map(hook.get_namespace()).items}
    assert names == {"from-test", "kube-root-ca.crt"}
    with pytest.raises(ApiException) as err:  # the connection is the namespace's flink-airflow account
        hook.core_v1_client.list_namespaced_secret(k8s_api.namespace)
    assert err.value.status == 403
