"""Smoke: the real Flink CLIs (2.3.0 and the seed's 1.15.2) deploy into the real local API server.

Nothing runs the deployed JobManager here (that is `tests/test_harness.py`); these tests prove the CLI
finishes a NodePort deployment against a real kube-apiserver as the namespace's `flink-airflow` service
account (least privilege: include/k8s/30-role-flink-airflow.yaml and 40-clusterrole-flink-airflow-nodes.yaml
are all it has, and the API server's audit log shows nothing was refused), that it found its REST
endpoint from the nodePort the API server allocated and the Node address our kubelet registered, and that
it turned our flags into the Kubernetes objects a real cluster gets.
"""

from __future__ import annotations

import pytest

from tests.fixtures.paths import FLINK_23, FLINK_115
from tests.fixtures.procs import wait_until
from tests.kube import audit, flinkconf, seed
from tests.kube.cli import conf_copy, hadoop_conf_dir, run_flink
from tests.kube.controlplane import NODE_NAME

pytestmark = pytest.mark.slow

NODE_PORT_RANGE = range(30000, 32768)  # the API server's default --service-node-port-range


def _deployed(k8s_api, cluster_id: str) -> tuple:
    ns = k8s_api.namespace
    deployment = k8s_api.apps.read_namespaced_deployment(cluster_id, ns)
    rest = k8s_api.core.read_namespaced_service(f"{cluster_id}-rest", ns)
    config = k8s_api.core.read_namespaced_config_map(f"flink-config-{cluster_id}", ns)
    return deployment, rest, config


def _node_address(k8s_api, address_type: str) -> str:
    """The address of that type the node daemon registered for the one Node (what the CLI looks up)."""
    node = k8s_api.core.read_node(NODE_NAME)
    return next(a.address for a in node.status.addresses if a.type == address_type)


def _cli_requests(k8s_api, since: int) -> list[audit.AuditEvent]:
    """What reached the API server as the namespace's flink-airflow account after `since`."""
    user = f"system:serviceaccount:{k8s_api.namespace}:flink-airflow"
    return [e for e in audit.events(k8s_api.cluster.audit_log, since) if e.user == user]


def _assert_least_privilege_sufficed(k8s_api, since: int) -> None:
    """The CLI ran as flink-airflow; the API server allowed every request it made, Nodes included."""
    requests = wait_until(lambda: [e for e in _cli_requests(k8s_api, since) if e.resource == "nodes"]
                          and _cli_requests(k8s_api, since), 20, "the CLI's requests in the audit log")
    refused = [e for e in requests if e.code == 403 or e.decision == "forbid"]
    assert not refused, f"include/k8s/ does not grant what the CLI needs: {refused}"
    made = {(e.verb, e.resource) for e in requests}
    assert {("create", "deployments"), ("create", "configmaps"), ("list", "nodes")} <= made, made
    assert {e.namespace for e in requests} <= {k8s_api.namespace, ""}  # its namespace, and Nodes


def test_flink_23_cli_deploys_application_cluster(k8s_api, tmp_path):
    if not (FLINK_23 / "bin" / "flink").exists():
        pytest.fail(f"Flink 2.3.0 is missing at {FLINK_23}: run `make flink`")
    since = audit.mark(k8s_api.cluster.audit_log)
    result = run_flink(FLINK_23, [
        "run", "--target", "kubernetes-application", "--detached",
        f"-Dkubernetes.config.file={k8s_api.kubeconfig}",
        "-Dkubernetes.cluster-id=smoke23",
        f"-Dkubernetes.namespace={k8s_api.namespace}",
        "-Dkubernetes.container.image.ref=flink-java17:42",
        "-Dkubernetes.jobmanager.cpu.amount=0.5",
        "-Djobmanager.memory.process.size=1024m",
        "-Dkubernetes.service-account=flink-sa",
        "-Dkubernetes.jobmanager.node-selector=task_type:streaming",
        "-Dkubernetes.rest-service.exposed.type=NodePort",
        "local:///opt/flink/usrlib/Streaming-Job.jar",
    ], conf_dir=conf_copy(FLINK_23, tmp_path / "conf"), log_dir=tmp_path / "log")
    assert result.returncode == 0, result.stdout + result.stderr

    deployment, rest, config = _deployed(k8s_api, "smoke23")
    assert deployment.metadata.labels == {"app": "smoke23", "component": "jobmanager",
                                          "type": "flink-native-kubernetes"}
    pod = deployment.spec.template.spec
    container = pod.containers[0]
    assert container.image == "flink-java17:42"
    # Flink sends cpu 0.5 and memory 1024Mi; the API server stores quantities in canonical form.
    assert container.resources.requests == {"cpu": "500m", "memory": "1Gi"}
    assert container.resources.limits == {"cpu": "500m", "memory": "1Gi"}
    assert pod.service_account_name == "flink-sa"
    assert pod.node_selector == {"task_type": "streaming"}
    # The nodePort is the API server's allocation; the CLI printed it at the Node's InternalIP (Flink's
    # default node-port-address-type), read from the Node our kubelet registered.
    assert rest.spec.type == "NodePort" and rest.spec.ports[0].node_port in NODE_PORT_RANGE
    url = f"http://{_node_address(k8s_api, 'InternalIP')}:{rest.spec.ports[0].node_port}"
    assert f"JobManager Web Interface: {url}" in result.stdout + result.stderr
    flink_conf = flinkconf.parse("config.yaml", config.data["config.yaml"])
    assert flink_conf["kubernetes.cluster-id"] == "smoke23"
    assert flink_conf["kubernetes.container.image.ref"] == "flink-java17:42"
    # The CLI's kubeconfig (a host path) is not shipped: in the pod Flink authenticates as flink-sa.
    assert "kubernetes.config.file" not in flink_conf
    # Everything Flink created hangs off the Deployment, so deleting it cleans up (garbage collector).
    for obj in (rest, config):
        assert [o.uid for o in obj.metadata.owner_references] == [deployment.metadata.uid]
    _assert_least_privilege_sufficed(k8s_api, since)


def test_flink_115_cli_runs_the_seed_command(k8s_api, tmp_path):
    if not (FLINK_115 / "bin" / "flink").exists():
        pytest.fail(f"Flink 1.15.2 is missing at {FLINK_115}: run `make flink`")
    since = audit.mark(k8s_api.cluster.audit_log)
    result = run_flink(FLINK_115, seed.seed_command_115(k8s_api.namespace, k8s_api.kubeconfig, "task1",
                                             "local:///opt/flink/usrlib/Streaming-Job.jar"),
                       conf_dir=conf_copy(FLINK_115, tmp_path / "conf"), log_dir=tmp_path / "log",
                       env={"HADOOP_CONF_DIR": str(hadoop_conf_dir(tmp_path / "hadoop"))})
    assert result.returncode == 0, result.stdout + result.stderr

    deployment, rest, config = _deployed(k8s_api, "task1")
    container = deployment.spec.template.spec.containers[0]
    assert container.image == "flink-java11:20240101"
    assert container.image_pull_policy == "Always"
    assert container.resources.requests == {"cpu": "500m", "memory": "700Mi"}  # 0.5, canonical form
    assert deployment.spec.template.spec.service_account_name == "flink-sa"
    assert deployment.spec.template.spec.node_selector == {"task_type": "streaming"}
    # The seed asks for the Node's ExternalIP: the one our kubelet registered, at the allocated nodePort.
    assert rest.spec.type == "NodePort" and rest.spec.ports[0].node_port in NODE_PORT_RANGE
    url = f"http://{_node_address(k8s_api, 'ExternalIP')}:{rest.spec.ports[0].node_port}"
    assert f"JobManager Web Interface: {url}" in result.stdout + result.stderr
    flink_conf = flinkconf.parse("flink-conf.yaml", config.data["flink-conf.yaml"])
    assert flink_conf["high-availability"] == \
        "org.apache.flink.kubernetes.highavailability.KubernetesHaServicesFactory"
    assert "kubernetes.config.file" not in flink_conf
    hadoop = k8s_api.core.read_namespaced_config_map("hadoop-config-task1", k8s_api.namespace)
    assert set(hadoop.data) == {"core-site.xml", "hdfs-site.xml"}
    _assert_least_privilege_sufficed(k8s_api, since)
