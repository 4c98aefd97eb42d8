"""Smoke: the real Flink CLIs (2.3.0 and the seed's 1.15.2) deploy into the emulated Kubernetes API.

Nothing runs the deployed JobManager here (that is `tests/test_harness.py`); these tests prove the
emulator answers everything the CLI's fabric8 client needs to finish a NodePort deployment, and that
the CLI turned our flags into the Kubernetes objects a real cluster would get.
"""

from __future__ import annotations

import pytest

from tests.fixtures.paths import FLINK_23, FLINK_115
from tests.kube import flinkconf, seed
from tests.kube.cli import conf_copy, hadoop_conf_dir, run_flink

pytestmark = pytest.mark.slow


def _deployed(k8s_api, cluster_id: str) -> tuple:
    ns = k8s_api.namespace
    deployment = k8s_api.apps.read_namespaced_deployment(cluster_id, ns)
    rest = k8s_api.core.read_namespaced_service(f"{cluster_id}-rest", ns)
    config = k8s_api.core.read_namespaced_config_map(f"flink-config-{cluster_id}", ns)
    return deployment, rest, config


def test_flink_23_cli_deploys_application_cluster(k8s_api, tmp_path):
    if not (FLINK_23 / "bin" / "flink").exists():
        pytest.fail(f"Flink 2.3.0 is missing at {FLINK_23}: run `make flink`")
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
    assert container.resources.requests == {"cpu": "0.5", "memory": "1024Mi"}
    assert container.resources.limits == {"cpu": "0.5", "memory": "1024Mi"}
    assert pod.service_account_name == "flink-sa"
    assert pod.node_selector == {"task_type": "streaming"}
    assert rest.spec.type == "NodePort" and rest.spec.ports[0].node_port
    assert f"http://127.0.0.1:{rest.spec.ports[0].node_port}" in result.stdout + result.stderr
    flink_conf = flinkconf.parse("config.yaml", config.data["config.yaml"])
    assert flink_conf["kubernetes.cluster-id"] == "smoke23"
    assert flink_conf["kubernetes.container.image.ref"] == "flink-java17:42"
    # Everything Flink created hangs off the Deployment, so deleting it cleans up (garbage collector).
    for obj in (rest, config):
        assert [o.uid for o in obj.metadata.owner_references] == [deployment.metadata.uid]


def test_flink_115_cli_runs_the_seed_command(k8s_api, tmp_path):
    if not (FLINK_115 / "bin" / "flink").exists():
        pytest.fail(f"Flink 1.15.2 is missing at {FLINK_115}: run `make flink`")
    result = run_flink(FLINK_115, seed.seed_command_115(k8s_api.namespace, k8s_api.kubeconfig, "task1",
                                             "local:///opt/flink/usrlib/Streaming-Job.jar"),
                       conf_dir=conf_copy(FLINK_115, tmp_path / "conf"), log_dir=tmp_path / "log",
                       env={"HADOOP_CONF_DIR": str(hadoop_conf_dir(tmp_path / "hadoop"))})
    assert result.returncode == 0, result.stdout + result.stderr

    deployment, rest, config = _deployed(k8s_api, "task1")
    container = deployment.spec.template.spec.containers[0]
    assert container.image == "flink-java11:20240101"
    assert container.image_pull_policy == "Always"
    assert container.resources.requests == {"cpu": "0.5", "memory": "700Mi"}
    assert deployment.spec.template.spec.service_account_name == "flink-sa"
    assert deployment.spec.template.spec.node_selector == {"task_type": "streaming"}
    assert rest.spec.type == "NodePort" and rest.spec.ports[0].node_port
    flink_conf = flinkconf.parse("flink-conf.yaml", config.data["flink-conf.yaml"])
    assert flink_conf["high-availability"] == \
        "org.apache.flink.kubernetes.highavailability.KubernetesHaServicesFactory"
    hadoop = k8s_api.core.read_namespaced_config_map("hadoop-config-task1", k8s_api.namespace)
    assert set(hadoop.data) == {"core-site.xml", "hdfs-site.xml"}
