"""The seed's `flink run-application` command (BRIEF.md) as argv, with test values (pure).

Why: the harness and smoke tests must run the user's own command, not a trimmed one; only values
change (namespace, kubeconfig, jar, program arguments, modest memory), never the set of options.
"""

from __future__ import annotations

from pathlib import Path

from tests.kube.controlplane import NODE_IP

# The seed pushes metrics to its Pushgateway. Flink's pods now run in real network namespaces whose
# default route is the node bridge, so the test value must be an address that is ours: the node/bridge
# address 10.244.0.1 (from inside a pod and from the host alike) on port 9, where nothing listens — the
# reporter's pushes are refused at once and never leave this machine's own pod network.
CLOSED_PUSHGATEWAY = f"http://{NODE_IP}:9"

HADOOP_FAILOVER = ("-Dflink.hadoop.dfs.client.failover.proxy.provider.datacluster="
                   "org.apache.hadoop.hdfs.server.namenode.ha.ConfiguredFailoverProxyProvider")


def seed_command_115(namespace: str, kubeconfig: Path, cluster_id: str, jar_uri: str,
                     program_args: list[str] = (), promgateway: str = CLOSED_PUSHGATEWAY) -> list[str]:
    """BRIEF.md's command verbatim in Flink 1.15 keys (`run-application`), test values."""
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
        f"-Dmetrics.reporter.promgateway.hostUrl={promgateway}",
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
        f"-Dkubernetes.namespace={namespace}", "-Dkubernetes.service-account=flink-sa",
        "-Denv.hadoop.conf.dir=/hadoop", "-Dkubernetes.container.image.pull-policy=Always",
        HADOOP_FAILOVER,
        f"-Dkubernetes.config.file={kubeconfig}",
        jar_uri, *program_args,
    ]


def seed_command_23(namespace: str, kubeconfig: Path, cluster_id: str, jar_uri: str,
                    program_args: list[str] = (), promgateway: str = CLOSED_PUSHGATEWAY) -> list[str]:
    """The same command rendered for Flink 2.3 by hand (renamed keys, `run`), modest memory.

    `env.hadoop.conf.dir` is left out (2.3 has no Hadoop on its classpath here); a checkpoint dir is
    added so checkpoints land in (mapped) HDFS like the HA data.
    """
    return [
        "run", "--detached", "--parallelism", "1", "--target", "kubernetes-application",
        f"-Dkubernetes.cluster-id={cluster_id}",
        "-Dkubernetes.container.image.ref=flink-java17:1",
        "-Dkubernetes.jobmanager.cpu.amount=0.5", "-Dkubernetes.taskmanager.cpu.amount=0.5",
        "-Dtaskmanager.numberOfTaskSlots=1",
        "-Dtaskmanager.memory.process.size=1280m",
        "-Dtaskmanager.memory.managed.fraction=0.05", "-Dtaskmanager.memory.network.fraction=0.05",
        "-Dtaskmanager.memory.jvm-overhead.fraction=0.05",
        "-Djobmanager.memory.process.size=1024m", "-Djobmanager.memory.enable-jvm-direct-memory-limit=true",
        "-Dfs.default-scheme=hdfs://datacluster",
        "-Dmetrics.reporter.promgateway.factory.class="
        "org.apache.flink.metrics.prometheus.PrometheusPushGatewayReporterFactory",
        f"-Dmetrics.reporter.promgateway.hostUrl={promgateway}",
        "-Dmetrics.reporter.promgateway.jobName=flink",
        "-Dmetrics.reporter.promgateway.deleteOnShutdown=true",
        "-Dmetrics.reporter.promgateway.randomJobNameSuffix=true",
        "-Dmetrics.reporter.promgateway.interval=60s",
        "-Dkubernetes.jobmanager.node-selector=task_type:streaming",
        "-Dkubernetes.taskmanager.node-selector=task_type:streaming",
        "-Dkubernetes.rest-service.exposed.type=NodePort",
        "-Dkubernetes.rest-service.exposed.node-port-address-type=ExternalIP",
        "-Dhigh-availability.type=kubernetes",
        "-Dhigh-availability.storageDir=hdfs://datacluster/flink/recovery",
        "-Dexecution.checkpointing.dir=hdfs://datacluster/flink/checkpoints",
        "-Drestart-strategy.type=fixed-delay", "-Drestart-strategy.fixed-delay.attempts=10",
        f"-Dkubernetes.namespace={namespace}", "-Dkubernetes.service-account=flink-sa",
        "-Dkubernetes.container.image.pull-policy=Always",
        HADOOP_FAILOVER,
        f"-Dkubernetes.config.file={kubeconfig}",
        jar_uri, *program_args,
    ]


def cluster_args(namespace: str, kubeconfig: Path, cluster_id: str) -> list[str]:
    """The seed's `flink list/cancel` options (same keys in 1.15 and 2.3) + the kubeconfig."""
    return ["--target", "kubernetes-application", f"-Dkubernetes.namespace={namespace}",
            "-Dkubernetes.service-account=flink-sa", f"-Dkubernetes.cluster-id={cluster_id}",
            f"-Dkubernetes.config.file={kubeconfig}"]
