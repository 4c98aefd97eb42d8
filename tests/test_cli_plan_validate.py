"""`python -m flink_k8s plan|validate` as a user runs them (real subprocess, real files)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from tests.fixtures.paths import CATALOGUE, PLUGINS, REPO

# The seed's submit command (BRIEF.md) with its shell variables set to the catalogue's values:
# parallelism=4 jm_cpu=1 tm_cpu=2 tm_slot=2 tm_mem=4096 task_type=streaming-job release_num=42.
SEED_OPTIONS = ["--detached", "--parallelism", "4", "--target", "kubernetes-application"]
SEED_D = """
kubernetes.cluster-id=streaming-job
kubernetes.container.image=flink-java11:42
kubernetes.jobmanager.cpu=1
kubernetes.taskmanager.cpu=2
taskmanager.numberOfTaskSlots=2
taskmanager.memory.process.size=4096mb
taskmanager.memory.managed.fraction=0.05
taskmanager.memory.network.fraction=0.05
taskmanager.memory.jvm-overhead.fraction=0.05
jobmanager.memory.process.size=700mb
jobmanager.memory.enable-jvm-direct-memory-limit
fs.default-scheme=hdfs://datacluster
metrics.reporter.promgateway.class=org.apache.flink.metrics.prometheus.PrometheusPushGatewayReporter
metrics.reporter.promgateway.hostUrl=http://192.168.0.1:9091
metrics.reporter.promgateway.jobName=flink
metrics.reporter.promgateway.deleteOnShutdown=true
metrics.reporter.promgateway.randomJobNameSuffix=true
metrics.reporter.promgateway.interval=60
kubernetes.jobmanager.node-selector=task_type:streaming
kubernetes.taskmanager.node-selector=task_type:streaming
kubernetes.rest-service.exposed.type=NodePort
kubernetes.rest-service.exposed.node-port-address-type=ExternalIP
high-availability=org.apache.flink.kubernetes.highavailability.KubernetesHaServicesFactory
high-availability.storageDir=hdfs://datacluster/flink/recovery
restart-strategy=fixed-delay
restart-strategy.fixed-delay.attempts=10
kubernetes.namespace=flink
kubernetes.service-account=flink-sa
env.hadoop.conf.dir=/hadoop
kubernetes.container.image.pull-policy=Always
flink.hadoop.dfs.client.failover.proxy.provider.datacluster=org.apache.hadoop.hdfs.server.namenode.ha.ConfiguredFailoverProxyProvider
""".split()
SEED_JAR = "local:///opt/flink/usrlib/Streaming-Job.jar"


def seed_conf() -> dict[str, str]:
    # commons-cli gives a bare `-Dkey` the value "true"
    return dict(item.split("=", 1) if "=" in item else (item, "true") for item in SEED_D)


# Deliberate differences from the seed, each explained in docs/catalogue.md:
DELIBERATE = {
    # a bare 60 is 60 *milliseconds* to Flink's TimeUtils; the seed meant one minute
    "metrics.reporter.promgateway.interval": ("60", "60s"),
}
ADDED_115 = {"state.savepoints.dir": "hdfs://datacluster/flink/savepoints/streaming-job"}  # upgrade_mode: savepoint


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k != "FLINK_HOME"}
    full_env.update({"PYTHONPATH": str(PLUGINS), **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "flink_k8s", *args], cwd=REPO, env=full_env, capture_output=True, text=True, timeout=60
    )


def plan_json(*args: str, env: dict | None = None) -> list[str]:
    result = run_cli("plan", *args, "--json", env=env)
    assert result.returncode == 0, result.stderr
    argv = json.loads(result.stdout)
    assert isinstance(argv, list) and all(isinstance(a, str) for a in argv)
    return argv


def split(argv: list[str]) -> tuple[list[str], dict[str, str], list[str]]:
    """(options before the -D list, -D pairs, jar + program args)."""
    first_d = next(i for i, a in enumerate(argv) if a.startswith("-D"))
    jar = next(i for i, a in enumerate(argv) if i > first_d and not a.startswith("-D"))
    conf = dict(a[2:].split("=", 1) for a in argv[first_d:jar])
    assert len(conf) == jar - first_d, "duplicate -D keys"
    return argv[1:first_d], conf, argv[jar:]


def test_acceptance_115_reproduces_the_seed():
    argv = plan_json(str(CATALOGUE), "streaming-job", "--flink-version", "1.15", "--release", "42")
    assert argv[0] == "flink"
    options, conf, tail = split(argv)
    assert options[0] == "run-application"
    assert set(options[1:]) == set(SEED_OPTIONS)
    assert tail == [SEED_JAR]
    expected = seed_conf()
    for key, (seed_value, ours) in DELIBERATE.items():
        assert expected[key] == seed_value
        expected[key] = ours
    assert conf == {**expected, **ADDED_115}


def test_acceptance_23_renders_2x_keys():
    argv = plan_json(str(CATALOGUE), "streaming-job", "--flink-version", "2.3", "--release", "42")
    options, conf, tail = split(argv)
    assert options[:3] == ["run", "--target", "kubernetes-application"]
    assert "run-application" not in argv
    renamed = {
        "kubernetes.container.image": "kubernetes.container.image.ref",
        "kubernetes.jobmanager.cpu": "kubernetes.jobmanager.cpu.amount",
        "kubernetes.taskmanager.cpu": "kubernetes.taskmanager.cpu.amount",
        "high-availability": "high-availability.type",
        "restart-strategy": "restart-strategy.type",
        "metrics.reporter.promgateway.class": "metrics.reporter.promgateway.factory.class",
        "state.savepoints.dir": "execution.checkpointing.savepoint-dir",
    }
    expected = {renamed.get(k, k): v for k, v in {**seed_conf(), **ADDED_115}.items()}
    expected["metrics.reporter.promgateway.interval"] = "60s"
    expected["high-availability.type"] = "kubernetes"
    expected["metrics.reporter.promgateway.factory.class"] = "org.apache.flink.metrics.prometheus.PrometheusPushGatewayReporterFactory"
    assert conf == expected
    assert tail == [SEED_JAR]


def test_plain_output_is_the_same_argv_and_flink_home_is_used(tmp_path):
    text = run_cli("plan", str(CATALOGUE), "batch-job", "--release", "42", env={"FLINK_HOME": str(tmp_path)})
    assert text.returncode == 0, text.stderr
    words = text.stdout.split()
    assert words[0] == f"{tmp_path}/bin/flink"
    assert words == plan_json(str(CATALOGUE), "batch-job", "--release", "42", env={"FLINK_HOME": str(tmp_path)})
    assert words[-1] == "local:///opt/flink/usrlib/Batch-Job.jar"


def test_plan_restore_options():
    argv = plan_json(
        str(CATALOGUE), "streaming-job", "--release", "7", "--savepoint", "hdfs://datacluster/flink/savepoints/streaming-job/savepoint-1",
        "--allow-non-restored-state", "--kubeconfig", "/etc/kube/config",
    )
    assert "--fromSavepoint" in argv and "--allowNonRestoredState" in argv
    assert "-Dkubernetes.config.file=/etc/kube/config" in argv


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["streaming-jb", "--release", "1"], "did you mean 'streaming-job'"),
        (["streaming-job"], "a release is required"),
        (["streaming-job", "--release", "1;reboot"], "release"),
        (["streaming-job", "--release", "1", "--flink-version", "1.14"], "invalid choice"),
        (["streaming-job", "--release", "1", "--savepoint", "../x"], "savepoint"),
    ],
)
def test_plan_errors_exit_2(args, message):
    result = run_cli("plan", str(CATALOGUE), *args)
    assert result.returncode == 2, result.stdout
    assert message in result.stderr
    assert result.stdout == ""


def test_validate_ok():
    result = run_cli("validate", str(CATALOGUE))
    assert result.returncode == 0, result.stderr
    assert "ok: 2 jobs (1 streaming, 1 batch)" in result.stdout
    data = json.loads(run_cli("validate", str(CATALOGUE), "--json").stdout)
    assert data["ok"] is True and [j["name"] for j in data["jobs"]] == ["streaming-job", "batch-job"]


def test_validate_lists_every_problem(tmp_path):
    catalogue = yaml.safe_load(CATALOGUE.read_text())
    catalogue["jobs"]["streaming-job"]["parallelism"] = 0
    catalogue["jobs"]["streaming-job"]["upgrad_mode"] = "savepoint"
    catalogue["jobs"]["batch-job"]["schedule"] = "every day"
    catalogue["jobs"]["batch-job"]["cluster_id"] = "streaming-job"
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(catalogue, sort_keys=False))
    result = run_cli("validate", str(path))
    assert result.returncode == 2
    for part in ("parallelism", "did you mean 'upgrade_mode'", "schedule", "already used by job 'streaming-job'"):
        assert part in result.stderr
    data = json.loads(run_cli("validate", str(path), "--json").stdout)
    assert {(p["job"], p["field"]) for p in data["problems"]} == {
        ("streaming-job", "parallelism"),
        ("streaming-job", "upgrad_mode"),
        ("batch-job", "schedule"),
        ("batch-job", "cluster_id"),
    }


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"\xff\xfe\x00",
        b"a: &x [1]\nb: *x\n",
        b"jobs:\n  a: 1\n  a: 2\n",
        b"- just\n- a list\n",
        b"jobs: {x: {kind: batch, jar_uri: 'local:///x.jar', image: 'x:1', flink_conf: {a: \"$(reboot)\"}}}\n",
    ],
)
def test_validate_and_plan_refuse_hostile_files(tmp_path, content):
    path = tmp_path / "c.yaml"
    path.write_bytes(content)
    for args in (["validate", str(path)], ["plan", str(path), "x", "--release", "1"]):
        result = run_cli(*args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        assert "$(reboot)" not in result.stdout


def test_missing_file_exits_2(tmp_path):
    result = run_cli("validate", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2 and "not a readable regular file" in result.stderr


def test_validate_reports_memory_warnings_and_impossible_sizes(tmp_path):
    """validate runs Flink's memory derivation (flink_k8s.core.memory) on every rendered job."""
    data = json.loads(run_cli("validate", str(CATALOGUE), "--json").stdout)
    assert any("jobmanager" in w and "heap" in w for w in data["warnings"]), data["warnings"]
    catalogue = yaml.safe_load(CATALOGUE.read_text())
    catalogue["jobs"]["batch-job"]["taskmanager"] = {"process_memory": "300mb"}  # below metaspace + overhead
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(catalogue, sort_keys=False))
    result = run_cli("validate", str(path))
    assert result.returncode == 2
    assert "job 'batch-job': taskmanager.process_memory = '300mb': Flink's memory model refuses it" in result.stderr
