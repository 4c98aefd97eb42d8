"""Rendering: catalogue job -> Flink keys per version -> argv. Keys per version are restated here
independently of flink_versions.py (checked in Flink's sources; see docs/catalogue.md)."""

from __future__ import annotations

import copy
import dataclasses
import subprocess
import textwrap

import pytest

from flink_k8s.core.catalogue import check_catalogue, load_catalogue
from flink_k8s.core.errors import UnsupportedFlinkVersionError, ValidationError
from flink_k8s.core.flink_config import build_argv, render_config
from flink_k8s.core.flink_versions import SUPPORTED_VERSIONS
from tests.fixtures.paths import CATALOGUE, FLINK_23, FLINK_115

FACTORY_HA = "org.apache.flink.kubernetes.highavailability.KubernetesHaServicesFactory"
REPORTER_CLASS = "org.apache.flink.metrics.prometheus.PrometheusPushGatewayReporter"
REPORTER_FACTORY = "org.apache.flink.metrics.prometheus.PrometheusPushGatewayReporterFactory"
PG = "metrics.reporter.promgateway"


def expected_keys(version: str) -> dict[str, tuple[str, str | None]]:
    """setting -> (key, fixed value or None) as verified for each Flink minor."""
    major, minor = (int(x) for x in version.split("."))
    v = (major, minor)
    new17, new20 = v >= (1, 17), v >= (1, 20)
    return {
        "image": ("kubernetes.container.image.ref" if new17 else "kubernetes.container.image", None),
        "jm_cpu": ("kubernetes.jobmanager.cpu.amount" if new17 else "kubernetes.jobmanager.cpu", None),
        "tm_cpu": ("kubernetes.taskmanager.cpu.amount" if new17 else "kubernetes.taskmanager.cpu", None),
        "ha": ("high-availability.type" if new17 else "high-availability", "kubernetes" if v >= (1, 16) else FACTORY_HA),
        "restart": ("restart-strategy.type" if new17 else "restart-strategy", "fixed-delay"),
        "backend": ("state.backend.type" if new17 else "state.backend", "rocksdb"),
        "reporter": (f"{PG}.factory.class", REPORTER_FACTORY) if v >= (1, 16) else (f"{PG}.class", REPORTER_CLASS),
        "cp_dir": ("execution.checkpointing.dir" if new20 else "state.checkpoints.dir", "hdfs://dc/flink/cp"),
        "sp_dir": ("execution.checkpointing.savepoint-dir" if new20 else "state.savepoints.dir", "hdfs://dc/flink/sp"),
    }


FULL = {
    "defaults": {},
    "jobs": {
        "full": {
            "kind": "streaming",
            "flink_version": "1.15",
            "cluster_id": "full-job",
            "namespace": "flink",
            "service_account": "flink-sa",
            "image": "registry.example.com/flink-job:{release}",
            "image_pull_policy": "Always",
            "parallelism": 6,
            "jobmanager": {"cpu": 0.5, "process_memory": "1600m", "jvm_direct_memory_limit": True, "node_selector": {"pool": "jm"}},
            "taskmanager": {
                "cpu": 2,
                "slots": 3,
                "process_memory": "4g",
                "managed_fraction": 0.2,
                "network_fraction": 0.1,
                "jvm_overhead_fraction": 0.1,
                "node_selector": {"pool": "tm", "example.com/zone": "a"},
            },
            "fs_default_scheme": "hdfs://dc",
            "hadoop_conf_dir": "/hadoop",
            "high_availability": {"enabled": True, "storage_dir": "hdfs://dc/flink/ha"},
            "restart_strategy": {"type": "fixed-delay", "attempts": 10, "delay": "10s"},
            "state_backend": "rocksdb",
            "checkpointing": {"dir": "hdfs://dc/flink/cp", "interval": "1min", "timeout": "5min", "tolerable_failures": 2},
            "savepoint_dir": "hdfs://dc/flink/sp",
            "pushgateway": {"url": "http://pgw:9091", "job_name": "flink", "delete_on_shutdown": True, "random_job_name_suffix": True, "interval": "60s"},
            "rest_service": {"exposed_type": "NodePort", "node_port_address_type": "ExternalIP"},
            "jar_uri": "local:///opt/flink/usrlib/Job.jar",
            "entry_class": "com.example.Job",
            "program_args": ["--input", "hdfs://dc/in", "-v"],
            "upgrade_mode": "savepoint",
            "flink_conf": {"pipeline.name": "full", "flink.hadoop.dfs.nameservices": "dc"},
        }
    },
}


@pytest.fixture(scope="module")
def full_job():
    catalogue, problems = check_catalogue(FULL)
    assert problems == []
    return catalogue.job("full")


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_renamed_keys_per_version(full_job, version):
    config = render_config(full_job, version, "7")
    for setting, (key, value) in expected_keys(version).items():
        assert key in config, f"{setting}: {key} missing for {version}"
        if value is not None:
            assert config[key] == value, setting
    assert config[expected_keys(version)["image"][0]] == "registry.example.com/flink-job:7"
    # the keys of the *other* versions must not leak in
    others = {k for vv in SUPPORTED_VERSIONS for k, _ in expected_keys(vv).values()} - {k for k, _ in expected_keys(version).values()}
    assert not others & set(config), others & set(config)


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_stable_keys_every_version(full_job, version):
    config = render_config(full_job, version, "7")
    assert {k: config[k] for k in config if k in STABLE} == STABLE


STABLE = {
    "kubernetes.cluster-id": "full-job",
    "kubernetes.namespace": "flink",
    "kubernetes.service-account": "flink-sa",
    "kubernetes.container.image.pull-policy": "Always",
    "taskmanager.numberOfTaskSlots": "3",
    "taskmanager.memory.process.size": "4g",
    "taskmanager.memory.managed.fraction": "0.2",
    "taskmanager.memory.network.fraction": "0.1",
    "taskmanager.memory.jvm-overhead.fraction": "0.1",
    "jobmanager.memory.process.size": "1600m",
    "jobmanager.memory.enable-jvm-direct-memory-limit": "true",
    "kubernetes.jobmanager.node-selector": "pool:jm",
    "kubernetes.taskmanager.node-selector": "pool:tm,example.com/zone:a",
    "fs.default-scheme": "hdfs://dc",
    "env.hadoop.conf.dir": "/hadoop",
    "high-availability.storageDir": "hdfs://dc/flink/ha",
    "restart-strategy.fixed-delay.attempts": "10",
    "restart-strategy.fixed-delay.delay": "10s",
    "execution.checkpointing.interval": "1min",
    "execution.checkpointing.timeout": "5min",
    "execution.checkpointing.tolerable-failed-checkpoints": "2",
    f"{PG}.hostUrl": "http://pgw:9091",
    f"{PG}.jobName": "flink",
    f"{PG}.deleteOnShutdown": "true",
    f"{PG}.randomJobNameSuffix": "true",
    f"{PG}.interval": "60s",
    "kubernetes.rest-service.exposed.type": "NodePort",
    "kubernetes.rest-service.exposed.node-port-address-type": "ExternalIP",
    "pipeline.name": "full",
    "flink.hadoop.dfs.nameservices": "dc",
}


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_argv_shape(full_job, version):
    argv = build_argv(full_job, "/opt/flink/bin/flink", version, "7")
    action = ["run", "--target", "kubernetes-application"] if version.startswith("2.") else ["run-application", "--target", "kubernetes-application"]
    assert argv[:4] == ["/opt/flink/bin/flink", *action]
    assert argv[4:9] == ["--detached", "--parallelism", "6", "--class", "com.example.Job"]
    jar = argv.index("local:///opt/flink/usrlib/Job.jar")
    assert argv[jar + 1 :] == ["--input", "hdfs://dc/in", "-v"]
    assert all(a.startswith("-D") for a in argv[9:jar])
    pairs = dict(a[2:].split("=", 1) for a in argv[9:jar])
    assert pairs == render_config(full_job, version, "7")


def test_savepoint_restore_and_kubeconfig(full_job):
    argv = build_argv(
        full_job, "flink", "2.3", "7", savepoint="hdfs://dc/flink/sp/savepoint-abc", allow_non_restored_state=True,
        kubeconfig="/tmp/kube/config", extra_conf={"kubernetes.cluster-id": "full-job"},
    )
    i = argv.index("--fromSavepoint")
    assert argv[i + 1 : i + 3] == ["hdfs://dc/flink/sp/savepoint-abc", "--allowNonRestoredState"]
    assert "-Dkubernetes.config.file=/tmp/kube/config" in argv
    assert i < argv.index("local:///opt/flink/usrlib/Job.jar")
    without = build_argv(full_job, "flink", "2.3", "7", savepoint="hdfs://dc/flink/sp/savepoint-abc")
    assert "--allowNonRestoredState" not in without


@pytest.mark.parametrize(
    "path", ["hdfs://dc/flink/sp/savepoint-1a2b", "file:/tmp/savepoints/savepoint-1a2b", "file:///tmp/sp/x", "/tmp/sp/savepoint-1", "s3://b/sp/chk-42"]
)
def test_savepoint_path_forms(full_job, path):
    argv = build_argv(full_job, "flink", "2.3", "7", savepoint=path)
    assert argv[argv.index("--fromSavepoint") + 1] == path


def test_job_version_is_the_default(full_job):
    assert build_argv(full_job, "flink", None, "7")[1] == "run-application"  # job says 1.15


@pytest.mark.parametrize("version", ["1.14", "2.4", "1.20.0", "", 1.15, "latest"])
def test_unsupported_version_lists_supported(full_job, version):
    with pytest.raises(UnsupportedFlinkVersionError) as info:
        build_argv(full_job, "flink", version, "7")
    assert "1.15, 1.16" in str(info.value) and "2.3" in str(info.value)
    with pytest.raises(UnsupportedFlinkVersionError):
        render_config(full_job, version, "7")


@pytest.mark.parametrize("release", [None, "", "1 2", "a;b", "$(id)", "-1", "x" * 129, "a/b", "a:b", "\n"])
def test_bad_release_never_reaches_argv(full_job, release):
    with pytest.raises(ValidationError) as info:
        build_argv(full_job, "flink", "2.3", release)
    assert info.value.problems[0].field == "release"


@pytest.mark.parametrize("release", ["42", "1.0.3", "2026-11-29_build.7", 42])
def test_good_release(full_job, release):
    argv = build_argv(full_job, "flink", "2.3", release)
    assert f"-Dkubernetes.container.image.ref=registry.example.com/flink-job:{release}" in argv


def test_pinned_image_needs_no_release(full_job):
    job = dataclasses.replace(full_job, image="flink:2.3.0-java17")
    assert "-Dkubernetes.container.image.ref=flink:2.3.0-java17" in build_argv(job, "flink", "2.3")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"savepoint": "/x/../y"}, "savepoint"),
        ({"savepoint": "file:relative"}, "savepoint"),
        ({"savepoint": "savepoint-1"}, "savepoint"),
        ({"savepoint": "hdfs://dc/sp 1"}, "savepoint"),
        ({"savepoint": "-n"}, "savepoint"),
        ({"kubeconfig": "relative/config"}, "kubeconfig"),
        ({"kubeconfig": "/tmp/a b"}, "kubeconfig"),
        ({"extra_conf": {"a b": "1"}}, "extra_conf.a b"),
        ({"extra_conf": {"x.y": "1\n2"}}, "extra_conf.x.y"),
    ],
)
def test_runner_inputs_are_checked(full_job, kwargs, field):
    with pytest.raises(ValidationError) as info:
        build_argv(full_job, "flink", "2.3", "7", **kwargs)
    assert info.value.problems[0].field == field


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"cluster_id": "x;rm -rf /"}, "argv"),
        ({"entry_class": "-Dx"}, "argv"),
        ({"program_args": ("a b",)}, "argv"),
        ({"flink_conf": {"pipeline.name": "x\ny"}}, "flink_conf"),
        ({"flink_conf": {"a=b": "1"}}, "flink_conf"),
        ({"flink_conf_overrides": {"x": "$(id)"}}, "flink_conf_overrides"),
        ({"jar_uri": "local:///../etc/x.jar"}, "jar_uri"),
        ({"jar_uri": "file:///tmp/x.jar"}, "jar_uri"),
        ({"image": "bad image:{release}"}, "image"),
        ({"image": None}, "image"),
    ],
)
def test_hand_built_spec_cannot_bypass_the_argv_gate(full_job, change, field):
    """A JobSpec built in code (not from the catalogue) is still checked before it becomes argv."""
    job = dataclasses.replace(full_job, **change)
    with pytest.raises(ValidationError) as info:
        build_argv(job, "flink", "2.3", "7")
    assert info.value.problems[0].field.startswith(field)


def test_remote_jar_only_from_119(full_job):
    job = dataclasses.replace(full_job, jar_uri="https://repo.example.com/job.jar")
    with pytest.raises(ValidationError, match="only accepts local://"):
        build_argv(job, "flink", "1.18", "7")
    assert build_argv(job, "flink", "1.19", "7")[-4] == "https://repo.example.com/job.jar"


def test_overrides_translate_to_the_versions_key(full_job):
    job = dataclasses.replace(full_job, flink_conf_overrides={"kubernetes.container.image": "other/image:1", "high-availability": "zookeeper"})
    c115 = render_config(job, "1.15", "7")
    assert c115["kubernetes.container.image"] == "other/image:1" and c115["high-availability"] == "zookeeper"
    c23 = render_config(job, "2.3", "7")
    assert c23["kubernetes.container.image.ref"] == "other/image:1" and c23["high-availability.type"] == "zookeeper"
    assert "kubernetes.container.image" not in c23 and "high-availability" not in c23


def test_disabled_blocks_render_nothing(full_job):
    job = dataclasses.replace(
        full_job,
        pushgateway=dataclasses.replace(full_job.pushgateway, enabled=False),
        high_availability=dataclasses.replace(full_job.high_availability, enabled=False),
    )
    config = render_config(job, "2.3", "7")
    assert not [k for k in config if k.startswith("metrics.reporter") or k.startswith("high-availability")]


def test_cpu_and_fraction_formatting():
    data = copy.deepcopy(FULL)
    data["jobs"]["full"]["jobmanager"]["cpu"] = 1
    data["jobs"]["full"]["taskmanager"]["cpu"] = 0.25
    job = check_catalogue(data)[0].job("full")
    config = render_config(job, "1.15", "7")
    assert (config["kubernetes.jobmanager.cpu"], config["kubernetes.taskmanager.cpu"]) == ("1", "0.25")


# --- the real Flink jars agree with our keys (slow: two JVM starts) ------------------------------------
JAVA_CHECK = textwrap.dedent(
    """
    import java.lang.reflect.*;
    import java.util.*;
    import org.apache.flink.configuration.*;
    public class KeyCheck {
      public static void main(String[] args) throws Exception {
        Set<String> primary = new HashSet<>(), deprecated = new HashSet<>();
        String[] classes = {
          "org.apache.flink.kubernetes.configuration.KubernetesConfigOptions",
          "org.apache.flink.configuration.HighAvailabilityOptions",
          "org.apache.flink.configuration.RestartStrategyOptions",
          "org.apache.flink.configuration.StateBackendOptions",
          "org.apache.flink.configuration.CheckpointingOptions",
          "org.apache.flink.streaming.api.environment.ExecutionCheckpointingOptions",
          "org.apache.flink.configuration.TaskManagerOptions",
          "org.apache.flink.configuration.JobManagerOptions",
          "org.apache.flink.configuration.CoreOptions",
          "org.apache.flink.configuration.PipelineOptions"};
        for (String name : classes) {
          Class<?> c;
          try { c = Class.forName(name); } catch (ClassNotFoundException e) { continue; }
          for (Field f : c.getFields()) {
            if (!Modifier.isStatic(f.getModifiers()) || !ConfigOption.class.isAssignableFrom(f.getType())) continue;
            ConfigOption<?> o = (ConfigOption<?>) f.get(null);
            primary.add(o.key());
            for (FallbackKey k : o.fallbackKeys()) if (k.isDeprecated()) deprecated.add(k.getKey());
          }
        }
        for (String key : args) {
          System.out.println(key + " " + (primary.contains(key) ? "primary" : deprecated.contains(key) ? "deprecated" : "unknown"));
        }
      }
    }
    """
)


@pytest.mark.slow
@pytest.mark.parametrize(("version", "home"), [("1.15", FLINK_115), ("2.3", FLINK_23)])
def test_rendered_keys_are_current_keys_in_real_flink(tmp_path, full_job, version, home):
    dist = next((home / "lib").glob("flink-dist-*.jar"))
    (tmp_path / "KeyCheck.java").write_text(JAVA_CHECK)
    subprocess.run(["javac", "-cp", str(dist), "-d", str(tmp_path), str(tmp_path / "KeyCheck.java")], check=True, timeout=120)
    config = render_config(full_job, version, "7")
    keys = [k for k in config if not k.startswith(("metrics.reporter.", "flink.hadoop.", "pipeline.name"))]
    out = subprocess.run(
        ["java", "-cp", f"{tmp_path}:{dist}", "KeyCheck", *keys], check=True, capture_output=True, text=True, timeout=120
    ).stdout
    verdicts = dict(line.split() for line in out.splitlines())
    assert {k: v for k, v in verdicts.items() if v != "primary"} == {}
    assert set(verdicts) == set(keys)


@pytest.mark.slow
@pytest.mark.parametrize(("version", "home"), [("1.15", FLINK_115), ("2.3", FLINK_23)])
def test_cli_action_exists_in_real_flink(version, home):
    """`run-application` is an action of 1.15's CLI and gone from 2.3's; `run` accepts --target."""
    action = build_argv(load_catalogue(CATALOGUE).job("streaming-job"), "flink", version, "1")[1]
    result = subprocess.run([str(home / "bin" / "flink"), action, "--help"], capture_output=True, text=True, timeout=120,
                            env={"PATH": "/usr/bin:/bin", "FLINK_CONF_DIR": str(home / "conf")})
    text = result.stdout + result.stderr
    assert "--target" in text and "is not a valid action" not in text.lower()
    if version == "2.3":
        gone = subprocess.run([str(home / "bin" / "flink"), "run-application", "--help"], capture_output=True, text=True,
                              timeout=120, env={"PATH": "/usr/bin:/bin", "FLINK_CONF_DIR": str(home / "conf")})
        assert "not a valid action" in (gone.stdout + gone.stderr)
