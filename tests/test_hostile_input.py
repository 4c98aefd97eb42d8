"""Hostile input: every way in (catalogue file, command line, redeploy form/DAG conf, operator arguments) is
attacked with shell metacharacters, newlines, option injection, path traversal, oversized and non-UTF-8
values, wrong types, bad numbers, unknown enum values and YAML tricks. Each case must be refused with a
message naming the field AND must have had no side effect.

How "no side effect" is proven:
- `FLINK_HOME` points at a *tripwire* distribution whose `bin/flink` only appends its argv to a marker file.
  It is not a fake Flink: nothing here ever expects it to run, and a marker file means something executed
  a `flink` command that should never have started.
- DAG/operator cases run against the real API server as the namespace's `flink-airflow` service account; its
  audit log must hold no write (create/update/patch/delete) in the test's namespace after the run started,
  and no Deployment (nor any ConfigMap but the cluster's own `kube-root-ca.crt`) may exist there.
- Pushgateway cases run on the real gateway; the groups a mis-read `--max-age` would delete must remain.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
import yaml

from flink_k8s.core.catalogue import parse_catalogue
from flink_k8s.core.errors import ValidationError
from flink_k8s.core.run_inputs import validate_redeploy
from tests.fixtures.paths import PLUGINS, REPO

# --- the tripwire and a small catalogue ---------------------------------------------------------------

TRIPWIRE_SCRIPT = """#!/bin/sh
# Tripwire, not a Flink stand-in: hostile-input tests expect this never to run.
printf '%s\\n' "$*" >> "$(dirname "$0")/../INVOKED"
exit 97
"""


def make_tripwire(root: Path) -> Path:
    """A FLINK_HOME whose bin/flink records that it was called (see module docstring)."""
    (root / "bin").mkdir(parents=True, exist_ok=True)
    flink = root / "bin" / "flink"
    flink.write_text(TRIPWIRE_SCRIPT)
    flink.chmod(0o755)
    return root


def tripwire_fired(root: Path) -> bool:
    return (root / "INVOKED").exists()


def base_catalogue(namespace: str = "flink") -> dict:
    return {
        "defaults": {"flink_version": "2.3", "namespace": namespace, "image": "repo/job:{release}",
                     "parallelism": 1, "jobmanager": {"process_memory": "1024m"},
                     "taskmanager": {"process_memory": "1280m", "slots": 1}},
        "jobs": {
            "stream": {"kind": "streaming", "upgrade_mode": "savepoint",
                       "savepoint_dir": "hdfs://nn/flink/savepoints/stream",
                       "jar_uri": "local:///opt/flink/usrlib/stream.jar", "program_args": ["--rate", "10"],
                       "flink_conf": {"pipeline.name": "stream"}},
            "nightly": {"kind": "batch", "jar_uri": "local:///opt/flink/usrlib/batch.jar"},
        },
    }


def with_value(path: str, value, job: str = "stream") -> bytes:
    """The base catalogue with dotted `path` of `job` set to `value`, as YAML bytes."""
    data = base_catalogue()
    target = data["jobs"][job]
    if path.startswith("flink_conf."):  # Flink keys contain dots themselves
        parents, leaf = ["flink_conf"], path[len("flink_conf."):]
    else:
        *parents, leaf = path.split(".")
    for parent in parents:
        target = target.setdefault(parent, {})
    target[leaf] = value
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=False).encode()


def raw(text: str) -> bytes:
    """Base catalogue + raw YAML lines appended under `jobs.stream` (for tricks safe_dump cannot write)."""
    body = yaml.safe_dump(base_catalogue(), sort_keys=False)
    marker = "  stream:\n"
    extra = textwrap.indent(textwrap.dedent(text).strip("\n"), "    ") + "\n"
    return body.replace(marker, marker + extra, 1).encode()


# (case id, catalogue bytes, field the refusal must name)
CATALOGUE_CASES = [
    # shell metacharacters, newlines and option injection in values that reach argv
    ("image-shell", with_value("image", "repo/job:{release};id"), "image"),
    ("image-subshell", with_value("image", "repo/$(id):1"), "image"),
    ("image-newline", with_value("image", "repo/job:1\n-Dkubernetes.config.file=/tmp/x"), "image"),
    ("image-option", with_value("image", "-Dkubernetes.container.image.ref=evil"), "image"),
    ("image-second-placeholder", with_value("image", "repo/{release}:{release}"), "image"),
    ("image-unknown-placeholder", with_value("image", "repo/job:{env.HOME}"), "image"),
    ("args-newline", with_value("program_args", ["--rate", "1\n--detached"]), "program_args"),
    ("args-backtick", with_value("program_args", ["`reboot`"]), "program_args"),
    ("args-space", with_value("program_args", ["--a b"]), "program_args"),
    ("args-not-list", with_value("program_args", "--rate 10"), "program_args"),
    ("args-nested", with_value("program_args", [["--rate"]]), "program_args"),
    ("entry-class-option", with_value("entry_class", "-Dexecution.target=local"), "entry_class"),
    ("entry-class-space", with_value("entry_class", "com.example.Main --detached"), "entry_class"),
    ("conf-value-option", with_value("flink_conf.pipeline.name", "-Dkubernetes.config.file=/tmp/k"),
     "flink_conf.pipeline.name"),
    ("conf-value-newline", with_value("flink_conf.pipeline.name", "a\nkubernetes.namespace: kube-system"),
     "flink_conf.pipeline.name"),
    ("conf-value-comment", with_value("flink_conf.pipeline.name", "a#b"), "flink_conf.pipeline.name"),
    ("conf-key-equals", with_value("flink_conf.a=b", "c"), "flink_conf.a=b"),
    ("conf-key-reserved", with_value("flink_conf.kubernetes.config.file", "/tmp/other"),
     "flink_conf.kubernetes.config.file"),
    ("conf-key-identity", with_value("flink_conf.kubernetes.cluster-id", "someone-else"),
     "flink_conf.kubernetes.cluster-id"),
    ("conf-key-internal", with_value("flink_conf.$internal.pipeline.job-id", "0" * 32),
     "flink_conf.$internal.pipeline.job-id"),
    ("conf-value-mapping", with_value("flink_conf.pipeline.name", {"a": "b"}), "flink_conf.pipeline.name"),
    ("namespace-traversal", with_value("namespace", "../kube-system"), "namespace"),
    ("cluster-id-too-long", with_value("cluster_id", "a" * 46), "cluster_id"),
    ("cluster-id-upper", with_value("cluster_id", "Stream_1"), "cluster_id"),
    ("conn-id-template", with_value("kubernetes_conn_id", "{{ var.value.x }}"), "kubernetes_conn_id"),
    ("node-selector-injection", with_value("taskmanager.node_selector", {"zone": "a,evil:b"}),
     "taskmanager.node_selector"),
    # path traversal in jar URIs and storage paths
    ("jar-traversal", with_value("jar_uri", "local:///opt/flink/usrlib/../../../etc/x.jar"), "jar_uri"),
    ("jar-encoded-traversal", with_value("jar_uri", "local:///opt/flink/usrlib/%2e%2e/%2e%2e/x.jar"), "jar_uri"),
    ("jar-triple-encoded", with_value("jar_uri", "local:///opt/%25252e%25252e/x.jar"), "jar_uri"),
    ("jar-backslash", with_value("jar_uri", "local:///opt/flink/..\\..\\x.jar"), "jar_uri"),
    ("jar-encoded-nul", with_value("jar_uri", "local:///opt/flink/usrlib/x%00.jar"), "jar_uri"),
    ("jar-credentials", with_value("jar_uri", "https://user:pw@repo.example/x.jar"), "jar_uri"),
    ("jar-not-a-jar", with_value("jar_uri", "local:///etc/passwd"), "jar_uri"),
    ("savepoint-dir-traversal", with_value("savepoint_dir", "hdfs://nn/flink/../../user/x"), "savepoint_dir"),
    ("checkpoint-dir-query", with_value("checkpointing.dir", "hdfs://nn/cp?x=1"), "checkpointing.dir"),
    ("hadoop-dir-relative", with_value("hadoop_conf_dir", "../hadoop"), "hadoop_conf_dir"),
    ("pushgateway-credentials", with_value("pushgateway", {"url": "http://u:p@pgw:9091"}), "pushgateway.url"),
    # oversized and non-ASCII
    ("image-oversized", with_value("image", "repo/" + "a" * 600 + ":{release}"), "image"),
    ("description-oversized", with_value("description", "x" * 2001), "description"),
    ("image-bidi", with_value("image", "repo/\u202ejob:{release}"), "image"),
    ("description-control", with_value("description", "ok\x1b[2Jcleared"), "description"),
    ("args-fullwidth", with_value("program_args", ["\uff0d\uff0ddetached"]), "program_args"),
    # wrong types, negative/zero/huge numbers
    ("parallelism-zero", with_value("parallelism", 0), "parallelism"),
    ("parallelism-negative", with_value("parallelism", -4), "parallelism"),
    ("parallelism-huge", with_value("parallelism", 10**12), "parallelism"),
    ("parallelism-float", with_value("parallelism", 2.5), "parallelism"),
    ("parallelism-string", with_value("parallelism", "4"), "parallelism"),
    ("slots-bool", with_value("taskmanager.slots", True), "taskmanager.slots"),
    ("cpu-nan", with_value("jobmanager.cpu", float("nan")), "jobmanager.cpu"),
    ("cpu-huge", with_value("jobmanager.cpu", 1e9), "jobmanager.cpu"),
    ("memory-negative", with_value("taskmanager.process_memory", "-1g"), "taskmanager.process_memory"),
    ("memory-no-unit", with_value("taskmanager.process_memory", 4096), "taskmanager.process_memory"),
    ("memory-overflow", with_value("taskmanager.process_memory", "99999999999999999t"), "taskmanager.process_memory"),
    ("fraction-one", with_value("taskmanager.managed_fraction", 1.0), "taskmanager.managed_fraction"),
    ("interval-bare", with_value("checkpointing.interval", 60), "checkpointing.interval"),
    ("interval-zero", with_value("checkpointing.interval", "0s"), "checkpointing.interval"),
    ("keep-zero", with_value("savepoints_to_keep", 0), "savepoints_to_keep"),
    ("max-restarts-negative", with_value("health.max_restarts", -1), "health.max_restarts"),
    # unknown enum values and fields
    ("kind-unknown", with_value("kind", "daemon"), "kind"),
    ("upgrade-mode-unknown", with_value("upgrade_mode", "yolo"), "upgrade_mode"),
    ("flink-version-unknown", with_value("flink_version", "3.0"), "flink_version"),
    ("flink-version-float", with_value("flink_version", 1.2), "flink_version"),
    ("pull-policy-unknown", with_value("image_pull_policy", "Sometimes"), "image_pull_policy"),
    ("rest-type-unknown", with_value("rest_service.exposed_type", "Public"), "rest_service.exposed_type"),
    ("unknown-field", with_value("paralelism", 2), "paralelism"),
    ("batch-only-field", with_value("schedule", "@daily"), "schedule"),
    ("schedule-injection", with_value("schedule", "* * * * *; reboot", job="nightly"), "schedule"),
    # YAML tricks (refused by the loader, which names the key path)
    ("yaml-python-tag", raw("program_args: !!python/object/apply:os.system ['touch /tmp/pwned']"),
     "jobs.stream.program_args"),
    ("yaml-custom-tag", raw("image: !env HOME"), "jobs.stream.image"),
    ("yaml-anchor", raw("program_args: &a [x]"), "jobs.stream.program_args"),
    ("yaml-duplicate-key", raw("kind: batch"), "jobs.stream"),
    ("yaml-merge-key", raw("<<: {kind: batch}"), "jobs.stream"),
    ("yaml-non-string-key", raw("1.20: x"), "jobs.stream"),
    ("yaml-sexagesimal", raw("parallelism: 1:30"), "jobs.stream.parallelism"),
    ("yaml-octal", raw("parallelism: 010"), "jobs.stream.parallelism"),
    ("yaml-norway", raw("description: no"), "jobs.stream.description"),
    ("yaml-huge-int", raw("parallelism: " + "9" * 5000), "jobs.stream.parallelism"),
    ("yaml-escaped-nul", raw('description: "a\\0b"'), "jobs.stream.description"),
]

# Whole-file tricks: (case id, bytes, text the refusal must contain)
FILE_CASES = [
    ("alias-bomb", b"a: &a [x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
                   b"c: [*b, *b, *b, *b, *b, *b, *b, *b]\n", "anchors"),
    ("non-utf8", with_value("description", "caf").replace(b"caf", b"caf\xe9"), "not UTF-8"),
    ("utf16", "jobs: {}\n".encode("utf-16"), "not UTF-8"),
    ("two-documents", with_value("parallelism", 1) + b"---\njobs: {}\n", "one YAML document"),
    ("deep-nesting", b"jobs: " + b"[" * 200 + b"]" * 200 + b"\n", "nesting"),
    ("oversized", b"#" * (1024 * 1024 + 10), "larger than"),
]


def cli(*args: str | bytes, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k not in ("FLINK_HOME", "PUSHGATEWAY_PASSWORD")}
    full_env.update({"PYTHONPATH": str(PLUGINS), **(env or {})})
    return subprocess.run([sys.executable, "-m", "flink_k8s", *args], cwd=REPO, env=full_env,
                          capture_output=True, timeout=60)


def refusal_names(problems, field: str) -> bool:
    """A problem names `field`: as its field path (validation) or inside the key path the loader reports
    (`jobs.stream.image (line 3, column 5)`)."""
    pattern = re.compile(rf"(?:^|\.){re.escape(field)}(?:$|[.\[ ])")
    return any(pattern.search(p.field) for p in problems)


def assert_cli_refuses(result: subprocess.CompletedProcess, expected: str) -> None:
    err = result.stderr.decode(errors="replace")
    assert result.returncode == 2, (result.returncode, err[-2000:], result.stdout[-500:])
    assert "Traceback" not in err
    assert expected in err, err[-3000:]


@pytest.mark.parametrize(("data", "field"), [c[1:] for c in CATALOGUE_CASES], ids=[c[0] for c in CATALOGUE_CASES])
def test_catalogue_value_is_refused_naming_the_field(tmp_path, data, field):
    with pytest.raises(ValidationError) as err:
        parse_catalogue(data)
    assert refusal_names(err.value.problems, field), str(err.value)
    # The command line refuses the same file with the same message; it starts nothing (tripwire).
    tripwire = make_tripwire(tmp_path / "flink-home")
    path = tmp_path / "catalogue.yaml"
    path.write_bytes(data)
    problem = next(p for p in err.value.problems if refusal_names([p], field))
    for args in (["validate", str(path)], ["plan", str(path), problem.job or "stream", "--release", "1"]):
        assert_cli_refuses(cli(*args, env={"FLINK_HOME": str(tripwire)}), str(problem))
    assert not tripwire_fired(tripwire)


@pytest.mark.parametrize(("data", "rule"), [c[1:] for c in FILE_CASES], ids=[c[0] for c in FILE_CASES])
def test_catalogue_file_trick_is_refused(tmp_path, data, rule):
    with pytest.raises(ValidationError) as err:
        parse_catalogue(data)
    assert rule in str(err.value)
    path = tmp_path / "catalogue.yaml"
    path.write_bytes(data)
    assert_cli_refuses(cli("validate", str(path)), rule)


def test_the_base_catalogue_is_valid(tmp_path):
    """The cases above fail because of their one change, not because the base is broken."""
    data = yaml.safe_dump(base_catalogue()).encode()
    parse_catalogue(data)
    path = tmp_path / "catalogue.yaml"
    path.write_bytes(data)
    result = cli("plan", str(path), "stream", "--release", "1", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[-3:] == ["local:///opt/flink/usrlib/stream.jar", "--rate", "10"]


# --- the command line --------------------------------------------------------------------------------

@pytest.fixture
def catalogue_file(tmp_path) -> Path:
    path = tmp_path / "catalogue.yaml"
    path.write_text(yaml.safe_dump(base_catalogue()))
    return path


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--release", "1;reboot"], "release = '1;reboot'"),
        (["--release", "1\n--detached"], "release = '1\\n--detached'"),
        (["--release=-Dkubernetes.config.file=/tmp/x"], "release = '-Dkubernetes.config.file=/tmp/x'"),
        (["--release", "a" * 200], "release = 'aaaa"),
        ([b"--release", b"1\xff"], "release = '1\\udcff'"),  # non-UTF-8 argv bytes
        (["--release", "1", "--savepoint", "hdfs://nn/sp/../../x"], "savepoint"),
        (["--release", "1", "--savepoint=-Dexecution.target=local"], "savepoint"),
        (["--release", "1", "--kubeconfig", "relative/kubeconfig"], "kubeconfig"),
        (["--release", "1", "--kubeconfig", "/tmp/a b"], "kubeconfig"),
    ],
    ids=["shell", "newline", "option", "oversized", "non-utf8", "savepoint-traversal", "savepoint-option",
         "kubeconfig-relative", "kubeconfig-space"],
)
def test_plan_command_line_value_is_refused(catalogue_file, tmp_path, args, expected):
    tripwire = make_tripwire(tmp_path / "flink-home")
    result = cli("plan", str(catalogue_file), "stream", *args, env={"FLINK_HOME": str(tripwire)})
    assert_cli_refuses(result, expected)
    assert result.stdout == b""  # no argv printed for a refused input
    assert not tripwire_fired(tripwire)


@pytest.mark.parametrize(
    ("dynamic", "expected"),
    [
        (["taskmanager.memory.process.size=1g;id"], "taskmanager.memory.process.size"),
        (["taskmanager.memory.process.size=1g\n-Dx=y"], "taskmanager.memory.process.size"),
        (["taskmanager.memory.process.size=-1g"], "taskmanager.memory.process.size"),
        (["taskmanager.memory.process.size=99999999999999999999999t"], "taskmanager.memory.process.size"),
        (["taskmanager.memory.process.size=0"], "Total Process Memory"),
        (["taskmanager.memory.process.size=1g", "taskmanager.memory.managed.fraction=nan"],
         "taskmanager.memory.managed.fraction"),
        (["taskmanager.memory.process.size=1g", "taskmanager.cpu.cores=1e400"], "taskmanager.cpu.cores"),
    ],
    ids=["shell", "newline", "negative", "overflow", "zero", "nan", "infinite-cpu"],
)
def test_memory_command_line_value_is_refused(dynamic, expected):
    args = [a for pair in dynamic for a in ("-D", pair)]
    result = cli("memory", "--role", "taskmanager", *args)
    assert_cli_refuses(result, expected)


def test_memory_command_line_refuses_unknown_flink_version():
    assert_cli_refuses(cli("memory", "--role", "jobmanager", "--flink-version", "../../etc",
                           "-D", "jobmanager.memory.process.size=1g"), "flink_version")


@pytest.mark.parametrize(
    "max_age",
    ["0", "PT0S", "-1h", "1y", "P1M", "nan", "inf", "1h;rm -rf /", "", "1e400",
     "1h\n2h"],
)
def test_pushgateway_cleanup_bad_max_age_is_refused_and_deletes_nothing(pushgateway, max_age):
    from flink_k8s.clients.pushgateway import PushgatewayClient
    from tests.test_pushgateway_cleanup import flink_job, keys_on, push_all, wait_until_older_than

    client = PushgatewayClient(pushgateway.url)
    groups = [{"job": flink_job("hostile")}, {"job": flink_job("hostile"), "instance": "tm-1"}]
    push_all(pushgateway.url, groups)
    wait_until_older_than(client, groups, 0.05)  # stale for any age a mis-read value could mean
    before = keys_on(client)
    result = cli("pushgateway-cleanup", "--url", pushgateway.url, f"--max-age={max_age}", "--force",
                 "--max-share", "1")
    assert_cli_refuses(result, "max")  # --max-age=… or max_age=…
    assert keys_on(client) == before
    # Control: a sane max age deletes exactly these groups, so the refusal above was what saved them.
    ok = cli("pushgateway-cleanup", "--url", pushgateway.url, "--max-age=10ms", "--force", "--max-share", "1",
             "--job-regex", "hostile[0-9a-f]{32}", "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["deleted"] == 2


# --- the redeploy form / DAG conf (pure) -----------------------------------------------------------------

@pytest.fixture(scope="module")
def catalogue():
    return parse_catalogue(yaml.safe_dump(base_catalogue()).encode())


GOOD = {"job": "stream", "release": "2"}
CONF_CASES = [
    ("release-shell", {"release": "2;reboot"}, "release"),
    ("release-newline", {"release": "2\n"}, "release"),  # passes the form's ^…$ pattern (re '$' before '\n')
    ("release-option", {"release": "-Dkubernetes.container.image.ref=evil"}, "release"),
    ("release-long-option", {"release": "--detached"}, "release"),
    ("release-oversized", {"release": "1" * 129}, "release"),
    ("release-list", {"release": ["2"]}, "release"),
    ("release-huge-int", {"release": 10**5000}, "release"),
    ("release-surrogate", {"release": "2\udcff"}, "release"),
    ("release-missing", {"release": None}, "release"),
    ("job-traversal", {"job": "../stream"}, "job"),
    ("job-batch", {"job": "nightly"}, "job"),
    ("job-list", {"job": ["stream"]}, "job"),
    ("mode-unknown", {"upgrade_mode": "force"}, "upgrade_mode"),
    ("mode-case", {"upgrade_mode": "Savepoint"}, "upgrade_mode"),
    ("state-loss-string", {"allow_state_loss": "true"}, "allow_state_loss"),
    ("state-loss-int", {"allow_state_loss": 1}, "allow_state_loss"),
    ("dry-run-string", {"dry_run": "false"}, "dry_run"),  # "false" is truthy: must not be read as a boolean
    ("parallelism-zero", {"parallelism": 0}, "parallelism"),
    ("parallelism-negative", {"parallelism": -3}, "parallelism"),
    ("parallelism-huge", {"parallelism": 10**9}, "parallelism"),
    ("parallelism-superscript", {"parallelism": "²"}, "parallelism"),
    ("parallelism-arabic-digit", {"parallelism": "٣"}, "parallelism"),
    ("parallelism-5000-digits", {"parallelism": "9" * 5000}, "parallelism"),
    ("parallelism-float", {"parallelism": 2.0}, "parallelism"),
    ("restore-traversal", {"restore_from": "hdfs://nn/flink/savepoints/../../../x"}, "restore_from"),
    ("restore-encoded", {"restore_from": "s3://b/sp/%252e%252e/%252e%252e/x"}, "restore_from"),
    ("restore-option", {"restore_from": "-Dexecution.target=local"}, "restore_from"),
    ("restore-relative", {"restore_from": "savepoint-1"}, "restore_from"),
    ("restore-encoded-nul", {"restore_from": "hdfs://nn/sp/x%00y"}, "restore_from"),
    ("restore-bad-port", {"restore_from": "hdfs://nn:99999/sp"}, "restore_from"),
    ("unknown-key-option", {"--detached": True}, "conf.--detached"),
    ("unknown-key-flink", {"kubernetes.config.file": "/tmp/k"}, "conf.kubernetes.config.file"),
]


@pytest.mark.parametrize(("change", "field"), [c[1:] for c in CONF_CASES], ids=[c[0] for c in CONF_CASES])
def test_redeploy_conf_is_refused_naming_the_field(catalogue, change, field):
    with pytest.raises(ValidationError) as err:
        validate_redeploy({**GOOD, **change}, catalogue)
    assert any(p.field == field for p in err.value.problems), str(err.value)
    message = str(err.value)  # hostile values are echoed short, escaped, one line per problem
    assert len(message) < 2000
    assert all(line.startswith("  - ") for line in message.splitlines()[1:]), message


def test_redeploy_conf_that_is_not_a_mapping_is_refused(catalogue):
    for conf in (["job"], "job=stream", None, 42):
        with pytest.raises(ValidationError) as err:
            validate_redeploy(conf, catalogue)
        assert err.value.problems[0].field == "conf"


def test_redeploy_conf_with_a_million_unknown_keys_gives_a_short_refusal(catalogue):
    conf = {**GOOD, **{f"k{i}": i for i in range(1_000_000)}}
    with pytest.raises(ValidationError) as err:
        validate_redeploy(conf, catalogue)
    assert len(err.value.problems) <= 12 and len(str(err.value)) < 5000
    assert "999990 more unknown parameters" in str(err.value)


def test_the_good_redeploy_conf_is_accepted(catalogue):
    inp = validate_redeploy({**GOOD, "parallelism": "4", "restore_from": "hdfs://nn/flink/savepoints/sp-1"},
                            catalogue)
    assert (inp.release, inp.parallelism, inp.upgrade_mode) == ("2", 4, "savepoint")


# --- the real DAG and operators against the real API server ------------------------------------------------

@pytest.fixture
def dag_env(k8s_api, k8s_airflow_conn, tmp_path, monkeypatch, airflow_db):
    """The test's catalogue in its namespace, the flink-airflow connection, and the tripwire as FLINK_HOME."""
    from tests.kube import audit

    path = tmp_path / "catalogue.yaml"
    path.write_text(yaml.safe_dump(base_catalogue(k8s_api.namespace)))
    tripwire = make_tripwire(tmp_path / "flink-home")
    monkeypatch.setenv("FLINK_K8S_CATALOGUE", str(path))
    monkeypatch.setenv("FLINK_HOME", str(tripwire))
    monkeypatch.setenv("FLINK_K8S_BATCH_RETRIES", "0")
    since = audit.mark(k8s_api.cluster.audit_log)  # the namespace is set up: what follows is the run's
    return {"api": k8s_api, "tripwire": tripwire, "catalogue": path, "audit_since": since}


def run_test_dag(airflow_run, dag):
    """`airflow_run` for a DAG built in a test: its bundle row must exist before the DAG is serialized
    (a test run alone, before any DAG-file run, would hit a foreign-key error otherwise)."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager

    DagBundlesManager().sync_bundles_to_db(deactivate_missing=False)
    return airflow_run(dag)


def assert_nothing_touched(env: dict, reads_too: bool = False) -> None:
    """No write reached the API server in the namespace since the run began (its audit log), nothing exists;
    with `reads_too`, not even a read (apart from this check's own)."""
    from kubernetes import client, config

    from tests.fixtures.procs import wait_until
    from tests.kube import audit

    api = env["api"]
    ns = api.namespace
    assert api.apps.list_namespaced_deployment(ns).items == []
    assert [cm.metadata.name for cm in api.core.list_namespaced_config_map(ns).items] == ["kube-root-ca.crt"]
    # A request of ours as flink-airflow, made last: once the audit log shows it, it holds every earlier one
    # (and proves the log records this namespace's service-account requests at all).
    client.CoreV1Api(config.new_client_from_config(str(api.kubeconfig))).read_namespaced_config_map(
        "kube-root-ca.crt", ns)
    seen = wait_until(lambda: [e for e in audit.events(api.cluster.audit_log, env["audit_since"], ns)
                               if e.verb == "get" and e.name == "kube-root-ca.crt"] and
                      audit.events(api.cluster.audit_log, env["audit_since"], ns), 10, "the audit log to catch up")
    writes = [f"{e.user} {e.verb} {e.resource}/{e.name} -> {e.code}" for e in seen
              if e.verb not in ("get", "list", "watch")]
    assert writes == [], writes
    if reads_too:
        reads = [f"{e.user} {e.verb} {e.resource}/{e.name}" for e in seen
                 if e.user.startswith("system:serviceaccount:") and e.name != "kube-root-ca.crt"]
        assert reads == [], reads
    assert not tripwire_fired(env["tripwire"]), (env["tripwire"] / "INVOKED").read_text()


@pytest.mark.parametrize(
    ("conf", "field"),
    [
        ({"job": "stream", "release": "2\n"}, "release"),
        ({"job": "stream", "release": "2", "restore_from": "hdfs://nn/flink/savepoints/%2e%2e/%2e%2e/x"},
         "restore_from"),
        ({"job": "stream", "release": "2", "restore_from": "-Dkubernetes.config.file=/tmp/k"}, "restore_from"),
        ({"job": "stream", "release": "2", "kubernetes.config.file": "/tmp/k"}, "conf.kubernetes.config.file"),
    ],
    ids=["release-newline", "restore-encoded-traversal", "restore-option", "unknown-key"],
)
def test_redeploy_dag_validate_task_refuses_and_nothing_is_touched(dag_env, airflow_run, conf, field):
    result = airflow_run("flink_streaming_redeploy", conf=conf)
    assert result.state == "failed"
    assert result.task_states["validate"] == "failed", result.task_states
    # `outcome` (trigger rule all_done) always gives the run's verdict: here that nothing was deployed.
    assert all(state in (None, "upstream_failed", "skipped")
               for task, state in result.task_states.items() if task not in ("validate", "outcome")), \
        result.task_states
    assert result.task_states["outcome"] == "failed", result.task_states
    assert f"{field} = " in result.log_text, result.log_text[-3000:]
    assert "this run deployed nothing" in result.log_text, result.log_text[-3000:]
    assert result.task_states["rollback"] == "skipped", result.task_states  # skipped without a request:
    assert_nothing_touched(dag_env, reads_too=True)


def test_redeploy_dag_form_schema_refuses_before_any_task(dag_env, airflow_run):
    """Values the Params schema catches never create a run at all (the REST API answers 400 the same way)."""
    from airflow.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError, match="release"):
        airflow_run("flink_streaming_redeploy", conf={"job": "stream", "release": "2; rm -rf /"})
    assert_nothing_touched(dag_env)


def test_operator_arguments_are_refused_and_nothing_is_touched(dag_env, airflow_run):
    from airflow.sdk import DAG

    from flink_k8s.operators.flink import FlinkCancelOperator, FlinkSubmitOperator

    submit_cases = {
        "release_shell": ({"release": "1;reboot"}, "release = '1;reboot'"),
        "release_option": ({"release": "-Dkubernetes.container.image.ref=evil"},
                           "release = '-Dkubernetes.container.image.ref=evil'"),
        "release_newline": ({"release": "1\n--detached"}, "release = '1\\n--detached'"),
        "release_huge_int": ({"release": 10**30}, "release = 1000000000000000000000000000000"),
        "parallelism_zero": ({"release": "1", "parallelism": "0"}, "parallelism = '0'"),
        "parallelism_superscript": ({"release": "1", "parallelism": "²"}, "parallelism = '²'"),
        "parallelism_negative": ({"release": "1", "parallelism": -5}, "parallelism = -5"),
        "args_space": ({"release": "1", "program_args": ["ok", "a b"]}, "program_args[1] = 'a b'"),
        "args_subshell": ({"release": "1", "program_args": ["$(id)"]}, "program_args[0] = '$(id)'"),
        "args_string": ({"release": "1", "program_args": "--rate 1"}, "program_args = '--rate 1'"),
        "args_too_many": ({"release": "1", "program_args": ["x"] * 300}, "program_args = 300"),
    }
    run_id = uuid.uuid4().hex[:6]
    with DAG(f"hostile_operator_args_{run_id}", schedule=None) as dag:
        for task_id, (kwargs, _) in submit_cases.items():
            FlinkSubmitOperator(task_id=task_id, job="nightly", deferrable=False, **kwargs)
        FlinkSubmitOperator(task_id="unknown_job", job="../nightly", release="1")
        FlinkCancelOperator(task_id="cancel_streaming", job="stream")
        FlinkCancelOperator(task_id="cancel_streaming_string_flag", job="stream", allow_state_loss="true")
    result = run_test_dag(airflow_run, dag)

    assert result.state == "failed"
    assert set(result.task_states.values()) == {"failed"}, result.task_states
    for _, expected in submit_cases.values():
        assert f"job 'nightly': {expected}" in result.log_text, expected
    assert "job '../nightly' is not in the catalogue" in result.log_text
    assert result.log_text.count("cancelling a streaming job discards its state") >= 2
    assert_nothing_touched(dag_env)
