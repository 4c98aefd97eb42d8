"""Smoke: the real Flink CLIs (2.3.0 and the seed's 1.15.2) deploy into the emulated Kubernetes API.

Nothing runs the deployed JobManager here (that is `tests/test_harness.py`); these tests prove the
emulator answers everything the CLI's fabric8 client needs to finish a NodePort deployment, and that
the CLI turned our flags into the Kubernetes objects a real cluster would get.
"""

from __future__ import annotations

import pytest

from tests.fixtures.paths import FLINK_23, FLINK_115
from tests.kube import flinkconf
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


def seed_command(k8s_api, cluster_id: str, jar: str = "Streaming-Job.jar") -> list[str]:
    """BRIEF.md's `run-application` with test values (1.15 keys), aimed at the emulator."""
    return [
        "run-application", "--detached", "--parallelism", "1",
        "--target", "kubernetes-application",
        f"-Dkubernetes.cluster-id={cluster_id}",
        "-Dkubernetes.container.image=flink-java11:20240101",
        "-Dkubernetes.jobmanager.cpu=0.5", "-Dkubernetes.taskmanager.cpu=1",
        "-Dtaskmanager.numberOfTaskSlots=1",
        "-Dtaskmanager.memory.process.size=1280mb",
        "-Dtaskmanager.memory.managed.fraction=0.05", "-Dtaskmanager.memory.network.fraction=0.05",
        "-Dtaskmanager.memory.jvm-overhead.fraction=0.05",
        "-Djobmanager.memory.process.size=700mb", "-Djobmanager.memory.enable-jvm-direct-memory-limit",
        "-Dfs.default-scheme=hdfs://datacluster",
        "-Dmetrics.reporter.promgateway.class=org.apache.flink.metrics.prometheus.PrometheusPushGatewayReporter",
        "-Dmetrics.reporter.promgateway.hostUrl=http://192.168.0.1:9091",
        "-Dmetrics.reporter.promgateway.jobName=flink",
        "-Dmetrics.reporter.promgateway.deleteOnShutdown=true",
        "-Dmetrics.reporter.promgateway.randomJobNameSuffix=true",
        "-Dmetrics.reporter.promgateway.interval=60",
        "-Dkubernetes.jobmanager.node-selector=task_type:streaming",
        "-Dkubernetes.taskmanager.node-selector=task_type:streaming",
        "-Dkubernetes.rest-service.exposed.type=NodePort",
        "-Dkubernetes.rest-service.exposed.node-port-address-type=ExternalIP",
        "-Dhigh-availability=org.apache.flink.kubernetes.highavailability.KubernetesHaServicesFactory",
        "-Dhigh-availability.storageDir=hdfs://datacluster/flink/recovery",
        "-Drestart-strategy=fixed-delay", "-Drestart-strategy.fixed-delay.attempts=10",
        f"-Dkubernetes.namespace={k8s_api.namespace}", "-Dkubernetes.service-account=flink-sa",
        "-Denv.hadoop.conf.dir=/hadoop", "-Dkubernetes.container.image.pull-policy=Always",
        "-Dflink.hadoop.dfs.client.failover.proxy.provider.datacluster="
        "org.apache.hadoop.hdfs.server.namenode.ha.ConfiguredFailoverProxyProvider",
        f"-Dkubernetes.config.file={k8s_api.kubeconfig}",
        f"local:///opt/flink/usrlib/{jar}",
    ]


def test_flink_115_cli_runs_the_seed_command(k8s_api, tmp_path):
    if not (FLINK_115 / "bin" / "flink").exists():
        pytest.fail(f"Flink 1.15.2 is missing at {FLINK_115}: run `make flink`")
    result = run_flink(FLINK_115, seed_command(k8s_api, "task1"),
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
