"""Catalogue model, merge rules, the safe YAML loader and the validation matrix (pure, fast)."""

from __future__ import annotations

import copy

import pytest
import yaml

from flink_k8s.core.catalogue import (
    check_catalogue,
    checkpoint_max_age_seconds,
    health_seconds,
    load_catalogue,
    merge,
    parse_catalogue,
)
from flink_k8s.core.catalogue_schema import schema_rows
from flink_k8s.core.errors import CatalogueLoadError, UnknownJobError, ValidationError
from flink_k8s.core.flink_config import build_argv
from flink_k8s.core.safe_yaml import MAX_BYTES, load_yaml_bytes
from tests.fixtures.paths import CATALOGUE, REPO

BASE = {
    "defaults": {"flink_version": "2.3", "image": "repo/flink-job:{release}", "namespace": "flink"},
    "jobs": {
        "stream": {
            "kind": "streaming",
            "jar_uri": "local:///opt/flink/usrlib/Streaming-Job.jar",
            "upgrade_mode": "stateless",
        },
        "nightly": {"kind": "batch", "jar_uri": "local:///opt/flink/usrlib/Batch-Job.jar", "schedule": "@daily"},
    },
}


def with_value(path: str, value, job: str = "stream") -> dict:
    """BASE with `path` (dotted; first segment a JobSpec field) set on one job."""
    data = copy.deepcopy(BASE)
    target = data["jobs"][job]
    head, _, rest = path.partition(".")
    if rest:
        target = target.setdefault(head, {})
        if head == "pushgateway":
            target.setdefault("url", "http://pushgateway:9091")
        target[rest] = value
    else:
        target[head] = value
    return data


def problems_for(data: dict) -> list:
    return check_catalogue(data)[1]


def test_base_is_valid():
    catalogue, problems = check_catalogue(BASE)
    assert problems == []
    assert list(catalogue.jobs) == ["stream", "nightly"]
    assert catalogue.job("stream").cluster_id == "stream"  # defaults to the job name
    assert catalogue.job("stream").namespace == "flink"
    assert catalogue.job("stream").kubernetes_conn_id == "kubernetes_default"


# --- the validation matrix: (field, valid values, invalid values) -----------------------------------
MATRIX = [
    ("kind", ["batch", "streaming"], ["Streaming", "cron", 1, ""]),
    ("flink_version", ["1.15", "1.17", "1.20", "2.0", "2.3"], [1.15, 2.3, "1.14", "2.4", "1.20.1", "", "latest"]),
    ("kubernetes_conn_id", ["kubernetes_default", "k8s.prod-1"], ["", "a b", "x;y", "-x", 5]),
    ("cluster_id", ["a", "stream-1", "a" * 45], ["A", "1abc", "a_b", "a-", "a" * 46, "a.b", "a b", "$(id)", 7]),
    ("namespace", ["flink", "team-a", "0ns"], ["Flink", "a_b", "a" * 64, "-a", "a.b"]),
    ("service_account", ["flink-sa", "a.b-c"], ["Flink", "a_b", "a" * 254, "sa;x"]),
    (
        "image",
        [
            "flink:{release}",
            "registry.example.com:5000/team/flink-java11:{release}",
            "flink-java11:1.15.2",
            "flink@sha256:" + "a" * 64,
            "localhost/x/y:{release}",
        ],
        ["Flink:{release}", "flink:{rel}", "flink:{release}{release}", "flink:$TAG", "fl ink", "flink:", "-flink", "", 3],
    ),
    ("image_pull_policy", ["Always", "IfNotPresent", "Never"], ["always", "", "Sometimes"]),
    ("parallelism", [1, 4, 32768], [0, -1, 32769, 1.5, "4", True]),
    ("jobmanager.cpu", [0.5, 1, 2.25], [0, -1, "1", True, 2000]),
    ("jobmanager.process_memory", ["700mb", "1600m", "2g", "1048576kb", "1G", "3gb"], ["700", 700, "700 mb", "1.5g", "0m", "700mib", "2tb", "m", ""]),
    ("jobmanager.jvm_direct_memory_limit", [True, False], ["true", 1, "yes"]),
    ("jobmanager.node_selector", [{"task_type": "streaming"}, {"example.com/zone": "a", "b": "c-1"}], [{}, {"a": ""}, {"a": 1}, {"a b": "c"}, {"a": "b,c"}, {"a": "b:c"}, "task_type:streaming", {"/a": "b"}, {"a": "x" * 64}]),
    ("taskmanager.cpu", [1, 0.25], [0, -0.5, "2"]),
    ("taskmanager.slots", [1, 2, 1024], [0, 1025, 2.0, "2"]),
    ("taskmanager.process_memory", ["4096mb", "4g", "1t"], ["4096", 4096, "4 g", "4.0g", "0b", "2t"]),
    ("taskmanager.managed_fraction", [0, 0.05, 0.4, 0.999], [1, 1.0, -0.1, "0.4", True]),
    ("taskmanager.network_fraction", [0.05, 0.1], [1.5, -1]),
    ("taskmanager.jvm_overhead_fraction", [0.05, 0.1], [1, "x"]),
    ("taskmanager.node_selector", [{"task_type": "streaming"}], [{"a": "b c"}]),
    ("fs_default_scheme", ["hdfs://datacluster", "s3://bucket", "hdfs://nn:8020"], ["datacluster", "ftp://x", "hdfs://", "hdfs://a b", "hdfs://user@nn"]),
    ("hadoop_conf_dir", ["/hadoop", "/etc/hadoop/conf"], ["hadoop", "/etc/../x", "/a b", "/a;b"]),
    ("high_availability.enabled", [True, False], ["yes", 1]),
    ("high_availability.storage_dir", ["hdfs://datacluster/flink/recovery", "s3://bucket/ha", "file:///tmp/ha"], ["hdfs://datacluster", "/flink/recovery", "hdfs://dc/a/../b", "http://x/y", "hdfs://dc/a?x=1"]),
    ("restart_strategy.type", ["fixed-delay", "failure-rate", "exponential-delay", "none"], ["fixeddelay", "always", ""]),
    ("state_backend", ["hashmap", "rocksdb"], ["filesystem", "RocksDB"]),
    ("checkpointing.dir", ["hdfs://dc/flink/checkpoints"], ["hdfs://dc", "checkpoints"]),
    ("checkpointing.interval", ["60s", "1min", "500ms", "1h", "1d"], ["60", 60, "1 min", "1m", "0s", "1.5s", "forever"]),
    ("checkpointing.timeout", ["10min"], ["10"]),
    ("checkpointing.tolerable_failures", [0, 3], [-1, "3", 1.0]),
    ("savepoint_dir", ["hdfs://datacluster/flink/savepoints", "s3a://b/sp"], ["hdfs:///x", "savepoints", "hdfs://dc/%2e%2e/x"]),
    ("pushgateway.enabled", [True, False], ["on"]),
    ("pushgateway.url", ["http://192.168.0.1:9091", "https://pgw.example.com", "http://pgw:9091/prefix"], ["192.168.0.1:9091", "ftp://x", "http://u:p@x:9091", "http://x:99999", "http://x/?a=b", "http://", "http://x y"]),
    ("pushgateway.job_name", ["flink", "flink_prod.1"], ["", "a/b", "a b", "x" * 65]),
    ("pushgateway.delete_on_shutdown", [True], ["true"]),
    ("pushgateway.random_job_name_suffix", [False], [0]),
    ("pushgateway.interval", ["60s", "1min"], [60, "60"]),
    ("rest_service.exposed_type", ["ClusterIP", "NodePort", "LoadBalancer", "Headless_ClusterIP"], ["nodeport", "Ingress"]),
    ("rest_service.node_port_address_type", ["InternalIP", "ExternalIP"], ["Hostname"]),
    (
        "jar_uri",
        ["local:///opt/flink/usrlib/Job.jar", "https://repo.example.com/jobs/job-1.0.jar", "s3://bucket/jobs/job.jar", "file:///tmp/job.jar"],
        ["/opt/job.jar", "local://opt/job.jar", "local:///opt/job.zip", "local:///opt/../etc/x.jar", "ftp://x/y.jar", "local:///a b.jar", "local:///a;b.jar", "-local:///x.jar", "local:///opt/%2e%2e/x.jar"],
    ),
    ("entry_class", ["com.example.StreamingJob", "Main"], ["com.example.Outer$Inner", "com..x", "1com.X", "com.example.Job;", ""]),
    ("program_args", [[], ["--input", "hdfs://x/y", "-v", 42]], ["--input x", ["a b"], ["a\nb"], ["$(id)"], [None], [["nested"]]]),
    ("upgrade_mode", ["stateless", "savepoint", "last-state"], ["last_state", "none"]),
    ("savepoints_to_keep", [1, 10], [0, -1, "5"]),
    ("health.max_restarts", [0, 64], [-1, "3"]),
    ("health.restarts_window", ["2min", "10min"], ["2", 120]),
    ("health.checkpoint_max_age", ["30min"], ["30"]),
    ("health.leader_lease_max_age", ["60s"], ["60"]),
    ("description", ["anything at all; even $(this)"], [5, "x" * 2001]),
    ("flink_conf", [{"pipeline.name": "x", "a.b-c_d": 5, "flag": True}], ["a=b", ["a"]]),
]


def _extra_for(field: str, value) -> dict:
    """Settings a field needs to be valid on its own (the cross-field rules)."""
    if field == "upgrade_mode" and value == "savepoint":
        return {"savepoint_dir": "hdfs://dc/flink/savepoints"}
    if field == "upgrade_mode" and value == "last-state":
        return {"high_availability": {"enabled": True, "storage_dir": "hdfs://dc/ha"}, "checkpointing": {"dir": "hdfs://dc/cp"}}
    if field == "high_availability.enabled" and value is True:
        return {"high_availability": {"enabled": True, "storage_dir": "hdfs://dc/ha"}}
    if field.startswith("restart_strategy."):
        return {}
    if field == "jar_uri" and not str(value).startswith("local"):
        return {"flink_version": "1.19"}
    return {}


@pytest.mark.parametrize(
    ("field", "value"),
    [(field, value) for field, valid, _ in MATRIX for value in valid],
    ids=lambda x: repr(x)[:40],
)
def test_valid_values_accepted(field, value):
    job = "nightly" if field == "schedule" or value == "batch" else "stream"
    data = with_value(field, value, job)
    for key, extra in _extra_for(field, value).items():
        current = data["jobs"][job].get(key)
        data["jobs"][job][key] = {**current, **extra} if isinstance(current, dict) and isinstance(extra, dict) else extra
    problems = problems_for(data)
    assert problems == [], [str(p) for p in problems]


@pytest.mark.parametrize(
    ("field", "value"),
    [(field, value) for field, _, invalid in MATRIX for value in invalid],
    ids=lambda x: repr(x)[:40],
)
def test_invalid_values_rejected_naming_job_field_value(field, value):
    problems = problems_for(with_value(field, value))
    matching = [p for p in problems if p.job == "stream" and p.field.startswith(field)]
    assert matching, f"{field}={value!r} accepted; problems: {[str(p) for p in problems]}"
    text = str(matching[0])
    assert "stream" in text and field.split(".")[-1] in text and matching[0].rule


@pytest.mark.parametrize("value", ["@daily", "@hourly", "@once", "0 3 * * *", "*/15 * * * 1-5", "0 0 1 jan,jul *", "0 12 * * sun"])
def test_schedule_valid(value):
    assert problems_for(with_value("schedule", value, "nightly")) == []


@pytest.mark.parametrize("value", ["@sometimes", "0 3 * *", "61 * * * *", "* 24 * * *", "* * 0 * *", "*/0 * * * *", "0 3 * * * *", 5, "0 3 * * mon;id"])
def test_schedule_invalid(value):
    problems = problems_for(with_value("schedule", value, "nightly"))
    assert [p.field for p in problems] == ["schedule"], [str(p) for p in problems]


# --- unknown fields, kinds, cross-field rules --------------------------------------------------------
def test_unknown_field_suggests_closest():
    problems = problems_for(with_value("paralelism", 3))
    assert len(problems) == 1
    assert "did you mean 'parallelism'" in problems[0].rule
    nested = problems_for(with_value("taskmanager.slot", 3))
    assert "did you mean 'slots'" in nested[0].rule and nested[0].field == "taskmanager.slot"


def test_unknown_top_level_and_defaults_reported_once():
    data = copy.deepcopy(BASE)
    data["job"] = {}
    data["defaults"]["namespce"] = "x"
    problems = problems_for(data)
    fields = sorted(p.field for p in problems)
    assert fields == ["defaults.namespce", "job"]
    assert "did you mean 'jobs'" in [p for p in problems if p.field == "job"][0].rule


def test_all_problems_reported_at_once():
    data = copy.deepcopy(BASE)
    data["jobs"]["stream"].update(parallelism=0, cluster_id="Bad_Id", image_pull_policy="sometimes")
    data["jobs"]["nightly"].update(schedule="99 * * * *")
    problems = problems_for(data)
    assert {(p.job, p.field) for p in problems} == {
        ("stream", "parallelism"),
        ("stream", "cluster_id"),
        ("stream", "image_pull_policy"),
        ("nightly", "schedule"),
    }


def test_kind_specific_fields_only_checked_on_the_job_itself():
    data = copy.deepcopy(BASE)
    data["defaults"]["upgrade_mode"] = "stateless"  # inherited by the batch job: ignored
    assert problems_for(data) == []
    bad = with_value("schedule", "@daily", "stream")
    assert [(p.field, p.rule) for p in problems_for(bad)] == [("schedule", "only for batch jobs (this job is streaming)")]
    bad = with_value("upgrade_mode", "stateless", "nightly")
    assert [p.field for p in problems_for(bad)] == ["upgrade_mode"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"kind": None}, "kind"),
        ({"jar_uri": None}, "jar_uri"),
        ({"upgrade_mode": None}, "upgrade_mode"),
        ({"upgrade_mode": "savepoint"}, "savepoint_dir"),
        ({"upgrade_mode": "last-state", "checkpointing": {"dir": "hdfs://dc/cp"}}, "high_availability.enabled"),
        ({"upgrade_mode": "last-state", "high_availability": {"enabled": True, "storage_dir": "hdfs://dc/ha"}}, "checkpointing.dir"),
        ({"high_availability": {"enabled": True}}, "high_availability.storage_dir"),
        ({"pushgateway": {"job_name": "x"}}, "pushgateway.url"),
        ({"restart_strategy": {"attempts": 3}}, "restart_strategy.attempts"),
        ({"restart_strategy": {"type": "failure-rate", "attempts": 3}}, "restart_strategy.attempts"),
        ({"flink_version": "1.18", "jar_uri": "https://x/y.jar"}, "jar_uri"),
    ],
)
def test_cross_field_rules(changes, field):
    data = copy.deepcopy(BASE)
    for key, value in changes.items():
        if value is None:
            data["jobs"]["stream"].pop(key, None)
        else:
            data["jobs"]["stream"][key] = value
    problems = problems_for(data)
    assert [p.field for p in problems] == [field], [str(p) for p in problems]


def test_image_required():
    data = copy.deepcopy(BASE)
    del data["defaults"]["image"]
    assert {(p.job, p.field) for p in problems_for(data)} == {("stream", "image"), ("nightly", "image")}


def test_duplicate_cluster_ids():
    data = copy.deepcopy(BASE)
    data["jobs"]["nightly"]["cluster_id"] = "stream"
    problems = problems_for(data)
    assert [(p.job, p.field, p.value) for p in problems] == [("nightly", "cluster_id", "stream")]
    assert "already used by job 'stream'" in problems[0].rule


def test_job_name_rules():
    data = copy.deepcopy(BASE)
    data["jobs"]["Bad Name"] = data["jobs"]["nightly"]
    data["jobs"]["a" * 46] = copy.deepcopy(data["jobs"]["nightly"])
    problems = problems_for(data)
    assert ("Bad Name", "name") in {(p.job, p.field) for p in problems}
    # a valid job name that is too long for a cluster id needs an explicit cluster_id
    assert ("a" * 46, "cluster_id") in {(p.job, p.field) for p in problems}


@pytest.mark.parametrize("data", [[], "x", {"jobs": {}}, {"jobs": []}, {"defaults": [], "jobs": BASE["jobs"]}, {"jobs": {"x": "y"}}])
def test_bad_shapes(data):
    assert problems_for(data)


# --- flink_conf and overrides ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("section", "key", "rule_part"),
    [
        ("flink_conf", "kubernetes.container.image", "collides with typed field 'image'"),
        ("flink_conf", "kubernetes.container.image.ref", "collides with typed field 'image'"),
        ("flink_conf", "high-availability", "collides with typed field 'high_availability.enabled'"),
        ("flink_conf", "state.checkpoints.dir", "collides"),
        ("flink_conf", "taskmanager.numberOfTaskSlots", "collides"),
        ("flink_conf", "execution.target", "set by the runner"),
        ("flink_conf", "kubernetes.config.file", "set by the runner"),
        ("flink_conf_overrides", "kubernetes.config.file", "set by the runner"),
        ("flink_conf_overrides", "pipeline.name", "not the key of any typed field"),
        ("flink_conf_overrides", "pipeline.jars", "identity/CLI setting"),
        ("flink_conf", "a..b", "Flink configuration key"),
        ("flink_conf", "-Dx", "must not start with '-'"),
        ("flink_conf", "a=b", "Flink configuration key"),
    ],
)
def test_flink_conf_rules(section, key, rule_part):
    problems = problems_for(with_value(section, {key: "1"}))
    assert len(problems) == 1 and rule_part in problems[0].rule, [str(p) for p in problems]
    assert problems[0].field == f"{section}.{key}"


def test_override_of_typed_key_is_allowed():
    data = with_value("flink_conf_overrides", {"kubernetes.container.image": "other:1"})
    assert problems_for(data) == []


@pytest.mark.parametrize("value", ["a b", "x\ny", "a#b", "$(id)", "`id`", "a;b", "", "\u00e9", "x" * 1025, "-x", None, [1], {"a": 1}])
def test_flink_conf_values_must_be_argv_safe(value):
    problems = problems_for(with_value("flink_conf", {"pipeline.name": value}))
    assert problems and problems[0].field == "flink_conf.pipeline.name"


def test_same_key_in_conf_and_overrides():
    data = with_value("flink_conf", {"kubernetes.container.image": "x:1"})
    data["jobs"]["stream"]["flink_conf_overrides"] = {"kubernetes.container.image": "x:1"}
    assert problems_for(data)


# --- merge rules -------------------------------------------------------------------------------------
def test_merge_blocks_key_by_key_values_whole():
    defaults = {
        "taskmanager": {"slots": 2, "cpu": 1, "node_selector": {"a": "1", "b": "2"}},
        "flink_conf": {"x.y": "1", "drop.me": "2"},
        "program_args": ["--a"],
        "parallelism": 2,
    }
    job = {
        "taskmanager": {"slots": 4, "node_selector": {"c": "3"}},
        "flink_conf": {"x.z": "3", "drop.me": None},
        "program_args": ["--b"],
        "parallelism": None,
    }
    merged = merge(defaults, job)
    assert merged["taskmanager"] == {"slots": 4, "cpu": 1, "node_selector": {"c": "3"}}
    assert merged["flink_conf"] == {"x.y": "1", "x.z": "3"}
    assert merged["program_args"] == ["--b"]
    assert "parallelism" not in merged


def test_job_overrides_defaults_in_built_spec():
    data = copy.deepcopy(BASE)
    data["defaults"]["taskmanager"] = {"slots": 2, "process_memory": "4g"}
    data["jobs"]["stream"]["taskmanager"] = {"slots": 8}
    job = check_catalogue(data)[0].job("stream")
    assert (job.taskmanager.slots, job.taskmanager.process_memory) == (8, "4g")


def test_unknown_job_suggests():
    catalogue = check_catalogue(BASE)[0]
    with pytest.raises(UnknownJobError, match="did you mean 'stream'"):
        catalogue.job("strem")


# --- health thresholds -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("checkpointing", "health", "expected"),
    [
        ({}, {}, None),
        ({"interval": "60s"}, {}, 600 * 2),  # max(60s, default timeout 10min) x (0 + 2)
        ({"interval": "30min", "timeout": "5min", "tolerable_failures": 1}, {}, 1800 * 3),
        ({"interval": "10s", "timeout": "20s", "tolerable_failures": 3}, {}, 20 * 5),
        ({"interval": "10s"}, {"checkpoint_max_age": "5min"}, 300),
    ],
)
def test_checkpoint_max_age_derivation(checkpointing, health, expected):
    data = copy.deepcopy(BASE)
    data["jobs"]["stream"].update(checkpointing=checkpointing, health=health)
    job = check_catalogue(data)[0].job("stream")
    assert checkpoint_max_age_seconds(job) == expected


def test_health_defaults():
    job = check_catalogue(BASE)[0].job("stream")
    assert (job.health.max_restarts, job.health.restarts_window, job.health.leader_lease_max_age) == (64, "2min", "60s")


# --- the safe YAML loader --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "rule_part"),
    [
        (b"a: &x 1\nb: *x\n", "anchors"),
        (b"a: [*x]\n", "aliases"),
        (b"a: 1\na: 2\n", "duplicate key"),
        (b"jobs:\n  x: 1\n  x: 2\n", "duplicate key"),
        (b"1.20: x\n", "keys must be strings"),
        (b"? [a]\n: 1\n", "keys must be strings"),
        (b"null: 1\n", "keys must be strings"),
        (b"a: !!python/object/apply:os.system [id]\n", "explicit YAML tags"),
        (b"a: !custom x\n", "explicit YAML tags"),
        (b"<<: {a: 1}\n", "merge keys"),
        (b"a: 2001-12-14\n", "!!timestamp"),
        (b"--- 1\n--- 2\n", "one YAML document"),
        (b"a: \xff\n", "not UTF-8"),
        (b"a: 'x\x00'\n", "NUL"),
        (b"a: [" * 50 + b"]" * 50, "nesting"),
        (b"a: b: c\n", "invalid YAML"),
        (b"\ta: 1\n", "invalid YAML"),
    ],
)
def test_loader_refuses(text, rule_part):
    with pytest.raises(CatalogueLoadError) as info:
        load_yaml_bytes(text)
    assert rule_part in str(info.value)


def test_loader_refuses_alias_bomb_quickly():
    bomb = b"a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\nd: &d [*c, *c]\n"
    with pytest.raises(CatalogueLoadError, match="anchors"):
        load_yaml_bytes(bomb)


def test_loader_refuses_oversized():
    with pytest.raises(CatalogueLoadError, match="larger than"):
        load_yaml_bytes(b"#" * (MAX_BYTES + 1))


def test_loader_accepts_bom_and_plain_yaml():
    assert load_yaml_bytes("\ufeffa: 'é'\nb: [1, 2.5, true, null]\n".encode()) == {"a": "é", "b": [1, 2.5, True, None]}


def test_parse_catalogue_raises_with_all_problems():
    data = copy.deepcopy(BASE)
    data["jobs"]["stream"]["parallelism"] = 0
    data["jobs"]["nightly"]["schedule"] = "bad"
    with pytest.raises(ValidationError) as info:
        parse_catalogue(yaml.safe_dump(data).encode())
    assert len(info.value.problems) == 2
    assert "parallelism" in str(info.value) and "schedule" in str(info.value)


# --- the shipped catalogue -------------------------------------------------------------------------
def test_shipped_catalogue_holds_the_seed_jobs():
    catalogue = load_catalogue(CATALOGUE)
    stream, batch = catalogue.job("streaming-job"), catalogue.job("batch-job")
    assert (stream.kind, batch.kind) == ("streaming", "batch")
    assert stream.jar_uri == "local:///opt/flink/usrlib/Streaming-Job.jar"
    assert batch.jar_uri == "local:///opt/flink/usrlib/Batch-Job.jar"
    for job in (stream, batch):
        assert job.flink_version == "1.15"
        assert (job.namespace, job.service_account, job.image) == ("flink", "flink-sa", "flink-java11:{release}")
        assert job.image_pull_policy == "Always"
        assert (job.jobmanager.process_memory, job.jobmanager.jvm_direct_memory_limit) == ("700mb", True)
        tm = job.taskmanager
        assert (tm.managed_fraction, tm.network_fraction, tm.jvm_overhead_fraction) == (0.05, 0.05, 0.05)
        assert job.jobmanager.node_selector == tm.node_selector == {"task_type": "streaming"}
        assert (job.rest_service.exposed_type, job.rest_service.node_port_address_type) == ("NodePort", "ExternalIP")
        assert job.high_availability.enabled and job.high_availability.storage_dir == "hdfs://datacluster/flink/recovery"
        assert (job.restart_strategy.type, job.restart_strategy.attempts) == ("fixed-delay", 10)
        pg = job.pushgateway
        assert (pg.url, pg.job_name, pg.delete_on_shutdown, pg.random_job_name_suffix) == ("http://192.168.0.1:9091", "flink", True, True)
        assert (job.fs_default_scheme, job.hadoop_conf_dir) == ("hdfs://datacluster", "/hadoop")
        assert job.flink_conf == {
            "flink.hadoop.dfs.client.failover.proxy.provider.datacluster": "org.apache.hadoop.hdfs.server.namenode.ha.ConfiguredFailoverProxyProvider"
        }
    assert stream.upgrade_mode == "savepoint" and stream.savepoint_dir
    assert batch.schedule == "@daily"


def test_health_seconds_shape():
    data = copy.deepcopy(BASE)
    data["jobs"]["stream"].update(checkpointing={"interval": "5min"}, health={"restarts_window": "10min"})
    job = check_catalogue(data)[0].job("stream")
    assert health_seconds(job) == {"max_restarts": 64, "restarts_window": 600, "checkpoint_max_age": 1200, "leader_lease_max_age": 60}


def test_docs_list_every_field():
    docs = (REPO / "docs" / "catalogue.md").read_text()
    missing = [name for name, _, _ in schema_rows() if name != "name" and f"`{name}`" not in docs]
    assert missing == []


# --- robustness: hostile shapes never crash, and never validate ----------------------------------------
HOSTILE_VALUES = [
    None, True, 0, -1, 10**30, 1e308, float("nan"), "", " ", "-", "--help", "a" * 5000, "\x00", "\u202e", "é",
    "$(id)", "`id`", "a;b", "a\nb", "a b", "{release}", "../..", "%2e%2e", [], [None], [[[]]], {}, {"a": {"b": None}},
    {1: 2}, {"": ""}, ("t",),
]


def test_hostile_values_in_every_field_never_crash():
    import random

    rng = random.Random(1234)
    paths = [name for name, _, _ in schema_rows() if name != "name"] + ["unknown", "taskmanager.zzz", "jobs"]
    for _ in range(3000):
        data = copy.deepcopy(BASE)
        for _ in range(rng.randint(1, 4)):
            path = rng.choice(paths)
            value = copy.deepcopy(rng.choice(HOSTILE_VALUES))
            where = rng.choice(["stream", "nightly", "defaults"])
            target = data["defaults"] if where == "defaults" else data["jobs"][where]
            head, _, rest = path.partition(".")
            if rest and isinstance(target.get(head, {}), dict):
                target = target.setdefault(head, {})
                target[rest] = value
            else:
                target[head] = value
        catalogue, problems = check_catalogue(data)
        for job in catalogue.jobs.values():  # whatever survived validation renders safely
            argv = build_argv(job, "flink", None, "1")
            assert all(isinstance(a, str) and "\n" not in a and " " not in a for a in argv)


@pytest.mark.parametrize(
    "text",
    [
        "a" * 1000 + "!",
        "a-" * 500 + "!",
        "a." * 500 + "/",
        "a" * 200 + ":" + "1" * 200 + "/" + "a" * 200 + "!",
        "hdfs://" + "a-" * 500,
        "local:///" + "a/" * 500 + "!",
    ],
)
@pytest.mark.timeout(30)  # exponential backtracking would hang far longer than this
def test_no_catastrophic_backtracking(text):
    from flink_k8s.core import references as r
    from flink_k8s.core import validation as v

    for check in (r.image_reference, r.storage_uri, r.jar_uri, r.http_url, v.label_key, v.cluster_id, v.java_class):
        try:
            check(text)
        except v.Invalid:
            pass


def test_oversized_blocks_are_one_problem():
    data = copy.deepcopy(BASE)
    data["jobs"]["stream"]["taskmanager"] = {f"k{i}": 1 for i in range(500)}
    problems = problems_for(data)
    assert [(p.field, p.value) for p in problems] == [("taskmanager", 500)]


def test_problem_report_is_bounded():
    data = {"jobs": {f"j{i}": {f"k{n}": 1 for n in range(20)} for i in range(200)}}
    problems = problems_for(data)
    assert 1000 <= len(problems) < 1100
    assert problems[-1].rule.startswith("stopped after 1000 problems")
