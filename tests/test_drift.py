"""Drift (core/drift.py): catalogue rendering vs a running cluster — pure, on what Flink 2.3 really wrote.

`REAL_CONFIG_YAML` is the `config.yaml` the real Flink 2.3 CLI wrote into `flink-config-<id>` for the test
catalogue's streaming job (only the cluster id, namespace, output path and the long `env.java.opts.all`
shortened); `REAL_DEPLOYMENT` the relevant part of the Deployment it created.
"""

from __future__ import annotations

import copy
import textwrap
from decimal import Decimal

import pytest

from flink_k8s.core import drift
from flink_k8s.core.catalogue import parse_catalogue
from flink_k8s.core.drift import DriftStatus

REAL_CONFIG_YAML = """\
blob:
  server:
    port: '6124'
job-result-store:
  storage-path: hdfs://datacluster/flink/recovery/job-result-store/stream-abc/3361a023-d2b0-4128-9a16-6b9116927adc
application-result-store:
  storage-path: hdfs://datacluster/flink/recovery/application-result-store/stream-abc/3361a023-d2b0-4128-9a16-6b9116927adc
high-availability:
  type: kubernetes
  cluster-id: stream-abc
  storageDir: hdfs://datacluster/flink/recovery
  jobmanager:
    port: '6123'
jobmanager:
  execution:
    failover-strategy: region
  rpc:
    address: localhost
    port: 6123
  memory:
    process:
      size: 1024m
restart-strategy:
  type: none
kubernetes:
  cluster-id: stream-abc
  service-account: flink-sa
  taskmanager:
    cpu:
      amount: '0.5'
  namespace: flink-ns
  rest-service:
    exposed:
      type: ClusterIP
  container:
    image:
      ref: flink-test:1
  internal:
    jobmanager:
      entrypoint:
        class: org.apache.flink.kubernetes.entrypoint.KubernetesApplicationClusterEntrypoint
  jobmanager:
    cpu:
      amount: '0.5'
execution:
  checkpointing:
    savepoint-dir: hdfs://datacluster/flink/savepoints/stream
    dir: hdfs://datacluster/flink/checkpoints
    interval: 1s
  target: kubernetes-application
  state-recovery:
    claim-mode: NO_CLAIM
    ignore-unclaimed-state: false
  attached: false
  shutdown-on-attached-exit: false
$internal:
  application:
    program-args:
    - --output
    - /data/out/stream
    - --rate
    - '20'
    - --checkpoint-interval-ms
    - '1000'
parallelism:
  default: 1
taskmanager:
  numberOfTaskSlots: '1'
  memory:
    process:
      size: 1280m
  rpc:
    port: '6122'
env:
  java:
    opts:
      all: --add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED
internal:
  cluster:
    execution-mode: NORMAL
pipeline:
  jars:
  - local:///opt/flink/usrlib/streaming.jar
rest:
  address: localhost

"""

REAL_DEPLOYMENT = {
    "metadata": {"name": "stream-abc"},
    "spec": {
        "replicas": 1,
        "template": {"spec": {
            "serviceAccountName": "flink-sa",
            "containers": [{
                "name": "flink-main-container", "image": "flink-test:1", "imagePullPolicy": "IfNotPresent",
                "resources": {"limits": {"cpu": "500m", "memory": "1Gi"}, "requests": {"cpu": "500m", "memory": "1Gi"}},
            }],
        }},
    },
}

CATALOGUE = """
defaults:
  flink_version: "2.3"
  namespace: flink-ns
  service_account: flink-sa
  image: "flink-test:{release}"
  parallelism: 1
  jobmanager: {cpu: 0.5, process_memory: 1024m}
  taskmanager: {cpu: 0.5, slots: 1, process_memory: 1280m}
  rest_service: {exposed_type: ClusterIP}
  restart_strategy: {type: none}
jobs:
  stream:
    kind: streaming
    upgrade_mode: savepoint
    cluster_id: stream-abc
    jar_uri: local:///opt/flink/usrlib/streaming.jar
    program_args: [--output, "/data/out/stream", --rate, "20", --checkpoint-interval-ms, "1000"]
    high_availability: {enabled: true, storage_dir: "hdfs://datacluster/flink/recovery"}
    checkpointing: {dir: "hdfs://datacluster/flink/checkpoints", interval: 1s}
    savepoint_dir: hdfs://datacluster/flink/savepoints/stream
"""


def _job(extra: str = ""):
    text = CATALOGUE + textwrap.indent(textwrap.dedent(extra), "    ")
    return parse_catalogue(text.encode()).job("stream")


def _config_map(text: str = REAL_CONFIG_YAML, name: str = "config.yaml") -> dict:
    return {"metadata": {"name": "flink-config-stream-abc"}, "data": {name: text, "log4j.properties": "x"}}


def _check(job=None, deployment=REAL_DEPLOYMENT, config_map=None, release=None, parallelism=None):
    job = job or _job()
    running = drift.running_state("stream-abc", deployment, _config_map() if config_map is None else config_map)
    found, source = drift.infer_release(job, running, release)
    return drift.diff(drift.desired_state(job, found, parallelism, source), running)


def _by_key(report) -> dict[str, tuple[str, str]]:
    return {d.key: (d.expected, d.running) for d in report.differences}


def test_what_flink_wrote_for_the_catalogue_is_in_sync():
    report = _check()
    assert report.status is DriftStatus.IN_SYNC, report.differences
    assert report.release == "1" and report.release_source == "configmap"
    desired = drift.desired_state(_job(), "1")
    # every rendered key and Deployment fact was looked at (the catalogue renders none of the ignored keys)
    assert report.compared == len(desired.config) + len(desired.deployment) == 26
    assert not report.drifted and report.keys == ()


def test_hand_edited_deployment_image_is_drift_with_both_values():
    dep = copy.deepcopy(REAL_DEPLOYMENT)
    dep["spec"]["template"]["spec"]["containers"][0]["image"] = "flink-test:hotfix"
    report = _check(deployment=dep)
    assert report.status is DriftStatus.DRIFTED
    # the release comes from the ConfigMap (what was submitted), so the edit shows instead of being "release hotfix"
    assert report.release == "1" and report.release_source == "configmap"
    assert _by_key(report) == {"deployment.image": ("flink-test:1", "flink-test:hotfix")}


def test_explicit_release_renders_that_release():
    report = _check(release="2")
    assert _by_key(report) == {"kubernetes.container.image.ref": ("flink-test:2", "flink-test:1"),
                               "deployment.image": ("flink-test:2", "flink-test:1")}
    assert report.release_source == "given"


def test_image_outside_the_template_cannot_name_a_release():
    dep = copy.deepcopy(REAL_DEPLOYMENT)
    dep["spec"]["template"]["spec"]["containers"][0]["image"] = "other/registry:7"
    cm = _config_map(REAL_CONFIG_YAML.replace("ref: flink-test:1", "ref: other/registry:7"))
    report = _check(deployment=dep, config_map=cm)
    assert report.release is None and report.release_source == "none"
    assert _by_key(report)["deployment.image"] == ("flink-test:{release}", "other/registry:7")
    assert _by_key(report)["kubernetes.container.image.ref"] == ("flink-test:{release}", "other/registry:7")


@pytest.mark.parametrize(("old", "new", "key"), [
    ("interval: 1s", "interval: 5s", "execution.checkpointing.interval"),
    ("size: 1280m", "size: 2g", "taskmanager.memory.process.size"),
    ("numberOfTaskSlots: '1'", "numberOfTaskSlots: '4'", "taskmanager.numberOfTaskSlots"),
    ("  default: 1\n", "  default: 3\n", "parallelism.default"),
    ("- '20'", "- '500'", "$internal.application.program-args"),
    ("- local:///opt/flink/usrlib/streaming.jar", "- local:///opt/flink/usrlib/other.jar", "pipeline.jars"),
    ("type: none", "type: fixed-delay", "restart-strategy.type"),
    ("service-account: flink-sa", "service-account: root-sa", "kubernetes.service-account"),
])
def test_config_map_edits_are_named(old, new, key):
    assert old in REAL_CONFIG_YAML
    report = _check(config_map=_config_map(REAL_CONFIG_YAML.replace(old, new, 1)))
    assert report.keys == (key,), report.differences
    assert report.differences[0].expected != report.differences[0].running


def test_removed_catalogue_key_is_reported_absent():
    report = _check(config_map=_config_map(REAL_CONFIG_YAML.replace("    interval: 1s\n", "")))
    assert _by_key(report) == {"execution.checkpointing.interval": ("1s", drift.MISSING)}


@pytest.mark.parametrize(("old", "new"), [
    ("interval: 1s", "interval: 1000 ms"),  # same duration
    ("size: 1280m", "size: 1280 mb"),  # same memory size
    ("  default: 1\n", "  default: '1'\n"),  # quoted or not
    # keys Flink rewrites at deploy time
    ("address: localhost", "address: 10.244.0.7"),
    ("port: '6124'", "port: '40000'"),
    ("storage-path: hdfs://datacluster/flink/recovery/job-result-store/stream-abc/",
     "storage-path: hdfs://datacluster/flink/recovery/job-result-store/stream-abc/x"),
    ("claim-mode: NO_CLAIM", "claim-mode: CLAIM"),
])
def test_same_meaning_and_deploy_time_rewrites_are_not_drift(old, new):
    assert old in REAL_CONFIG_YAML
    report = _check(config_map=_config_map(REAL_CONFIG_YAML.replace(old, new, 1)))
    assert report.status is DriftStatus.IN_SYNC, report.differences


def test_keys_only_the_client_conf_sets_are_not_compared():
    text = REAL_CONFIG_YAML + "state:\n  backend:\n    type: rocksdb\n"
    assert _check(config_map=_config_map(text)).status is DriftStatus.IN_SYNC


def test_catalogue_change_not_yet_deployed_is_drift():
    report = _check(job=_job("taskmanager: {slots: 2}\n"))
    assert _by_key(report) == {"taskmanager.numberOfTaskSlots": ("2", "1")}


@pytest.mark.parametrize(("path", "value", "key", "expected"), [
    (("resources", "requests", "cpu"), "1", "deployment.cpu-requests", "0.5"),
    (("resources", "limits", "memory"), "2Gi", "deployment.memory-limits", "1024Mi"),
    (("imagePullPolicy",), "Always", "deployment.image-pull-policy", None),
])
def test_deployment_resources(path, value, key, expected):
    dep = copy.deepcopy(REAL_DEPLOYMENT)
    target = dep["spec"]["template"]["spec"]["containers"][0]
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    report = _check(deployment=dep)
    if expected is None:  # the catalogue sets no pull policy: Flink's default is not the catalogue's business
        assert report.status is DriftStatus.IN_SYNC
    else:
        assert _by_key(report) == {key: (expected, value)}


def test_equal_quantities_in_other_spellings_are_in_sync():
    dep = copy.deepcopy(REAL_DEPLOYMENT)
    dep["spec"]["template"]["spec"]["containers"][0]["resources"] = {
        "limits": {"cpu": "0.5", "memory": "1024Mi"}, "requests": {"cpu": "500m", "memory": "1073741824"}}
    assert _check(deployment=dep).status is DriftStatus.IN_SYNC


def test_scaled_replicas_and_service_account():
    dep = copy.deepcopy(REAL_DEPLOYMENT)
    dep["spec"]["replicas"] = 0
    dep["spec"]["template"]["spec"]["serviceAccountName"] = "default"
    assert _by_key(_check(deployment=dep)) == {"deployment.replicas": ("1", "0"),
                                               "deployment.service-account": ("flink-sa", "default")}


def test_parallelism_override_is_rendered():
    assert _by_key(_check(parallelism=2)) == {"parallelism.default": ("2", "1")}
    running = REAL_CONFIG_YAML.replace("  default: 1\n", "  default: 2\n")
    assert _check(config_map=_config_map(running), parallelism=2).status is DriftStatus.IN_SYNC


def test_not_deployed_and_half_deployed():
    # a ConfigMap holding no Flink configuration file counts as no configuration
    assert _check(deployment=None, config_map={"data": {"x": "y"}}).status is DriftStatus.NOT_DEPLOYED
    running = drift.running_state("stream-abc", None, None)
    report = drift.diff(drift.desired_state(_job(), "1"), running)
    assert report.status is DriftStatus.NOT_DEPLOYED and report.differences == ()
    no_cm = drift.diff(drift.desired_state(_job(), "1"), drift.running_state("stream-abc", REAL_DEPLOYMENT, None))
    assert _by_key(no_cm) == {"configmap flink-config-stream-abc": ("present", drift.MISSING)}
    no_dep = _check(deployment=None)
    assert _by_key(no_dep) == {"deployment stream-abc": ("present", drift.MISSING)}


def test_flink_115_flat_conf():
    job = _job('flink_version: "1.15"\n')
    conf = "".join(f"{k}: {v}\n" for k, v in drift.desired_state(job, "1").config.items())
    conf += "jobmanager.rpc.address: stream-abc.flink-ns\nrest.port: 8081\n"
    report = _check(job=job, config_map=_config_map(conf, "flink-conf.yaml"))
    assert report.status is DriftStatus.IN_SYNC, report.differences
    assert "kubernetes.container.image" in drift.desired_state(job, "1").config  # the 1.15 key
    edited = conf.replace("kubernetes.container.image: flink-test:1", "kubernetes.container.image: flink-test:9")
    report = _check(job=job, config_map=_config_map(edited, "flink-conf.yaml"), release="1")
    assert _by_key(report) == {"kubernetes.container.image": ("flink-test:1", "flink-test:9")}


@pytest.mark.parametrize(("text", "rule"), [
    ("a: [unclosed", "not YAML"),
    ("- just\n- a list\n", "not a mapping"),
    ("a:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 25)) + "  " * 25 + "v: 1\n", "deeper"),
])
def test_unparseable_config_is_an_error(text, rule):
    with pytest.raises(ValueError, match=rule):
        drift.parse_config_map(_config_map(text))


def test_config_map_without_a_flink_file():
    assert drift.parse_config_map({"data": {"log4j.properties": "x"}}) is None


@pytest.mark.parametrize(("key", "ignored"), [
    ("rest.address", True), ("rest.port", True), ("jobmanager.rpc.address", True), ("blob.server.port", True),
    ("high-availability.cluster-id", True), ("job-result-store.storage-path", True),
    ("$internal.pipeline.job-id", True), ("kubernetes.internal.jobmanager.entrypoint.class", True),
    ("execution.state-recovery.path", True), ("execution.savepoint.path", True), ("kubernetes.config.file", True),
    ("$internal.application.program-args", False), ("$internal.application.main", False),
    ("kubernetes.container.image.ref", False), ("parallelism.default", False), ("rest.flamegraph.enabled", False),
])
def test_ignore_rules(key, ignored):
    assert drift.ignored(key) is ignored


@pytest.mark.parametrize(("key", "a", "b", "same"), [
    ("x.interval", "60s", "1min", True), ("x.interval", "60s", "61s", False), ("x.timeout", "1", "1 ms", True),
    ("a.memory.process.size", "1g", "1024m", True), ("a.memory.process.size", "1g", "1000m", False),
    ("a.memory.network.min", "64mb", "64m", True),
    ("deployment.cpu-limits", "0.5", "500m", True), ("deployment.memory-requests", "1024Mi", "1Gi", True),
    ("deployment.memory-requests", "1024Mi", "1G", False), ("deployment.cpu-requests", "x", "x", True),
    ("deployment.cpu-requests", "x", "y", False),
    ("pipeline.jars", "a;b", "a; b", True), ("pipeline.jars", "a;b", "b;a", False),
    ("k", "1", "1.0", True), ("k", "0.25", "0.250", True), ("k", "true", "True", False), ("k", "a", "b", False),
])
def test_same_value(key, a, b, same):
    assert drift.same_value(key, a, b) is same


@pytest.mark.parametrize(("text", "value"), [
    ("500m", Decimal("0.5")), ("1", Decimal(1)), ("1Gi", Decimal(2**30)), ("1.5", Decimal("1.5")),
    ("2k", Decimal(2000)), ("1e3", None), ("-1", None), ("Gi", None),
])
def test_quantity(text, value):
    assert drift.quantity(text) == value


def test_render_report_names_both_values():
    dep = copy.deepcopy(REAL_DEPLOYMENT)
    dep["spec"]["template"]["spec"]["containers"][0]["image"] = "flink-test:hotfix"
    text = drift.render_report("stream", _check(deployment=dep))
    assert text.splitlines()[0] == "stream (cluster stream-abc, release 1 from configmap): DRIFTED in 1 of 26 keys"
    assert "deployment.image" in text and "catalogue: flink-test:1" in text and "running: flink-test:hotfix" in text
    assert "IN SYNC" in drift.render_report("stream", _check())
    assert drift.render_report("stream", drift.diff(drift.desired_state(_job(), "1"),
                                                    drift.running_state("stream-abc", None, None))).endswith(
        "NOT DEPLOYED (no Deployment and no flink-config ConfigMap)")


def test_report_to_dict_is_json_ready():
    import json

    dep = copy.deepcopy(REAL_DEPLOYMENT)
    dep["spec"]["template"]["spec"]["containers"][0]["image"] = "flink-test:hotfix"
    data = json.loads(json.dumps(_check(deployment=dep).to_dict()))
    assert data["status"] == "DRIFTED"
    assert data["differences"] == [{"key": "deployment.image", "catalogue": "flink-test:1", "running": "flink-test:hotfix"}]


def test_monitor_findings_are_their_own_kind():
    dep = copy.deepcopy(REAL_DEPLOYMENT)
    dep["spec"]["template"]["spec"]["containers"][0]["image"] = "flink-test:hotfix"
    found = drift.findings({"a": _check(), "b": _check(deployment=dep), "c": "API unreachable",
                            "d": drift.diff(drift.desired_state(_job(), "1"), drift.running_state("x", None, None))})
    assert {k: v["verdict"] for k, v in found.items()} == {
        "a": "IN_SYNC", "b": "DRIFTED", "c": "CHECK_FAILED", "d": "NOT_DEPLOYED"}
    assert found["b"]["keys"] == ["deployment.image"] and found["c"]["error"] == "API unreachable"
    text = drift.render_findings(found)
    assert "b: DRIFTED (deployment.image)" in text
    assert "    deployment.image: catalogue flink-test:1 | running flink-test:hotfix" in text
    assert "c: CHECK_FAILED (API unreachable)" in text and "a: IN_SYNC" in text
    assert drift.render_findings({}) == "(no streaming jobs)"


def test_secret_values_are_compared_but_never_shown():
    job = _job("flink_conf: {s3.secret-key: hunter2-catalogue, metrics.reporter.x.password: pw1}\n")
    text = REAL_CONFIG_YAML + "s3:\n  secret-key: hunter2-running\nmetrics.reporter.x.password: pw1\n"
    report = _check(job=job, config_map=_config_map(text))
    assert _by_key(report) == {"s3.secret-key": ("***", "***")}
    assert "hunter2" not in drift.render_report("stream", report) + str(report.to_dict())
    assert _by_key(_check(job=job)) == {"s3.secret-key": ("***", drift.MISSING),
                                        "metrics.reporter.x.password": ("***", drift.MISSING)}
