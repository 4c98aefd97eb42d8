"""The Flink page's view model and the trigger forms' texts: pure, fixed clock, hand-built observations."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from flink_k8s.control_plane import thresholds_for
from flink_k8s.core.catalogue import parse_catalogue
from flink_k8s.core.form_params import (
    MODE_WORDS,
    SECTIONS,
    batch_param_specs,
    make_params,
    redeploy_param_specs,
)
from flink_k8s.core.health import HealthThresholds, Verdict, evaluate
from flink_k8s.core.jobs_view import (
    Observed,
    RunInfo,
    build_rows,
    counts,
    flink_ui_url,
    image_matches,
    parse_savepoint_history,
    release_of,
    row_to_json,
    streaming_row,
)
from flink_k8s.core.observations import (
    CheckpointFacts,
    ClusterObservation,
    DeploymentFacts,
    HaFacts,
    JobFacts,
    PodFacts,
)

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
s = timedelta(seconds=1)
JOB_ID = "00000000002efde30000000000000000"

CATALOGUE = parse_catalogue(b"""
defaults:
  flink_version: "2.3"
  namespace: flink
  image: "registry.example/flink-jobs:{release}"
jobs:
  stream:
    kind: streaming
    cluster_id: stream-prod
    upgrade_mode: savepoint
    parallelism: 4
    savepoint_dir: s3://b/sp
    jar_uri: local:///opt/flink/usrlib/s.jar
    high_availability: {enabled: true, storage_dir: "s3://b/ha"}
  other:
    kind: streaming
    upgrade_mode: last-state
    checkpointing: {dir: "s3://b/cp", interval: 10s}
    jar_uri: local:///opt/flink/usrlib/o.jar
    high_availability: {enabled: true, storage_dir: "s3://b/ha"}
  nightly:
    kind: batch
    schedule: "@daily"
    jar_uri: local:///opt/flink/usrlib/b.jar
""")
STREAM = CATALOGUE.job("stream")

DEP = DeploymentFacts(name="stream-prod", replicas=1, available_replicas=1, ready_replicas=1,
                      image="registry.example/flink-jobs:42")
JM = PodFacts(name="stream-prod-6f-x", component="jobmanager", phase="Running", ready=True, restarts=0)
TM = PodFacts(name="stream-prod-taskmanager-1-1", component="taskmanager", phase="Running", ready=True, restarts=0)
HA = HaFacts(config_maps=("stream-prod-cluster-config-map",), leader_holder="x", leader_renew_time=NOW - 5 * s,
             lease_duration=15 * s, latest_checkpoint_id=40)
JOB = JobFacts(job_id=JOB_ID, name="stream", state="RUNNING", start_time=NOW - timedelta(hours=1), restarts=0)
CP = CheckpointFacts(interval=10 * s, timeout=60 * s, completed_count=300, latest_completed_id=41,
                     latest_completed_time=NOW - 7 * s, latest_savepoint_path="s3://b/sp/savepoint-aa")
OBS = ClusterObservation(cluster_id="stream-prod", observed_at=NOW, deployment=DEP, pods=(JM, TM), ha=HA, job=JOB,
                         checkpoints=CP)


def row(obs=OBS, **observed):
    return streaming_row(STREAM, Observed(observation=obs, **observed), thresholds_for(STREAM), NOW)


# -- release / image -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("template", "image", "release"), [
    ("repo/flink:{release}", "repo/flink:42", "42"),
    ("repo/flink:{release}", "repo/flink:1.2.3-rc_1", "1.2.3-rc_1"),
    ("repo/flink-{release}:v{release}", "repo/flink-7:v7", "7"),
    ("repo/flink-{release}:v{release}", "repo/flink-7:v8", None),  # two placeholders must agree
    ("repo/flink:{release}", "other/flink:42", None),
    ("repo/flink:{release}", "repo/flink:", None),
    ("repo/flink:{release}", "repo/flink:a/b", None),  # not something the form accepts as a release
    ("repo/flink:{release}", "repo/flink:-x", None),
    ("repo/flink:fixed", "repo/flink:fixed", None),
    (None, "repo/flink:42", None),
    ("repo/flink:{release}", None, None),
])
def test_release_of(template, image, release):
    assert release_of(template, image) == release


@pytest.mark.parametrize(("template", "image", "matches"), [
    ("repo/flink:{release}", "repo/flink:42", True),
    ("repo/flink:{release}", "hand/patched:1", False),
    ("repo/flink:fixed", "repo/flink:fixed", True),
    ("repo/flink:fixed", "repo/flink:other", False),
    ("repo/flink:{release}", None, None),
    (None, "repo/flink:42", None),
])
def test_image_matches(template, image, matches):
    assert image_matches(template, image) is matches


# -- savepoint history ---------------------------------------------------------------------------------------

def test_savepoint_history_newest_first_and_hand_edits_skipped():
    data = {"savepoints": json.dumps([["s3://sp/1", "2026-12-01T10:00:00+00:00"], ["s3://sp/3", "not a time"],
                                      ["s3://sp/2", "2026-12-02T10:00:00+00:00"], [5, "x"], "junk", []])}
    assert parse_savepoint_history(data) == (
        ("s3://sp/2", datetime(2026, 12, 2, 10, tzinfo=UTC)),
        ("s3://sp/1", datetime(2026, 12, 1, 10, tzinfo=UTC)),
        ("s3://sp/3", None),
    )


@pytest.mark.parametrize("data", [None, {}, {"savepoints": "{not json"}, {"savepoints": '{"a": 1}'}])
def test_savepoint_history_unreadable_is_empty(data):
    assert parse_savepoint_history(data) == ()


# -- streaming rows ------------------------------------------------------------------------------------------

def test_healthy_running_job_row():
    r = row(savepoint_history=(("s3://b/sp/savepoint-old", NOW - timedelta(days=1)),),
            flink_ui_url="https://api:6443/api/v1/namespaces/flink/services/stream-prod-rest:rest/proxy/")
    assert (r.name, r.kind, r.cluster_id, r.namespace, r.flink_version) == ("stream", "streaming", "stream-prod",
                                                                             "flink", "2.3")
    assert (r.state, r.job_id, r.verdict, r.reasons) == ("RUNNING", JOB_ID, "HEALTHY", ())
    assert (r.jobmanager, r.pods) == ("1/1 available", "JobManager 1/1 ready, TaskManager 1/1 ready")
    assert (r.image_running, r.release_running, r.image_matches_catalogue) == (DEP.image, "42", True)
    assert (r.last_checkpoint_id, r.last_checkpoint_at, r.last_checkpoint_age_s) == (41, NOW - 7 * s, 7.0)
    assert [(p.path, p.source) for p in r.savepoints] == [("s3://b/sp/savepoint-aa", "flink"),
                                                          ("s3://b/sp/savepoint-old", "redeploy")]
    assert r.flink_ui_url.endswith("/services/stream-prod-rest:rest/proxy/")
    assert r.upgrade_mode == "savepoint" and r.schedule is None and r.redeployable


def test_verdict_is_the_monitors_evaluate_with_the_same_thresholds():
    """Whatever the observation, the row's verdict and reasons are exactly what the monitor DAG decides."""
    variants = [
        OBS,
        replace(OBS, job=replace(JOB, state="RESTARTING")),
        replace(OBS, checkpoints=replace(CP, latest_completed_time=NOW - timedelta(hours=2))),
        replace(OBS, deployment=replace(DEP, available_replicas=0)),
        replace(OBS, rest_error="HTTP 503", job=None, checkpoints=None),
        replace(OBS, deployment=None, pods=()),
    ]
    for obs in variants:
        report = evaluate(obs, thresholds_for(STREAM), NOW)
        r = row(obs)
        assert r.verdict == report.verdict.name
        assert [(x.severity, x.code, x.message) for x in r.reasons] == [
            (x.severity.name, x.code, x.message) for x in report.reasons]
        assert r.figures == report.figures


@pytest.mark.parametrize(("obs", "state", "verdict"), [
    (replace(OBS, deployment=None, pods=()), "NO CLUSTER", "MISSING"),
    (replace(OBS, rest_error="connection refused", job=None, checkpoints=None), "REST UNREACHABLE", "UNHEALTHY"),
    (replace(OBS, job=None, checkpoints=None), "NO JOB", "UNHEALTHY"),
    (replace(OBS, job=replace(JOB, state="FAILED")), "FAILED", "UNHEALTHY"),
    (replace(OBS, job=replace(JOB, state="INITIALIZING")), "INITIALIZING", "DEGRADED"),
])
def test_live_state_words(obs, state, verdict):
    r = row(obs)
    assert (r.state, r.verdict) == (state, verdict)


def test_missing_cluster_has_no_flink_ui_link_and_no_running_image():
    r = row(replace(OBS, deployment=None, pods=(), job=None, checkpoints=None), flink_ui_url="https://api/x")
    assert (r.flink_ui_url, r.image_running, r.release_running, r.image_matches_catalogue) == (None, None, None, None)
    assert (r.jobmanager, r.pods) == ("no Deployment", "no pods")
    assert r.last_checkpoint_id == 40  # what the HA ConfigMaps still point to


def test_image_not_from_the_catalogue_is_flagged():
    r = row(replace(OBS, deployment=replace(DEP, image="someone/patched:by-hand")))
    assert (r.release_running, r.image_matches_catalogue) == (None, False)


def test_deleting_deployment_and_pod_readiness_in_words():
    r = row(replace(OBS, deployment=replace(DEP, deleting=True, available_replicas=0),
                    pods=(JM, replace(TM, ready=False), replace(TM, name="stream-prod-taskmanager-1-2"))))
    assert r.jobmanager == "0/1 available, being deleted"
    assert r.pods == "JobManager 1/1 ready, TaskManager 1/2 ready"


def test_unobservable_cluster_is_an_error_row_like_the_monitor_reports_it():
    r = streaming_row(STREAM, Observed(error="Kubernetes API unreachable: timed out after 2s"),
                      thresholds_for(STREAM), NOW)
    assert (r.state, r.verdict, r.error) == ("UNKNOWN", "UNHEALTHY", "Kubernetes API unreachable: timed out after 2s")
    assert [(x.code, x.message) for x in r.reasons] == [("observation_failed", r.error)]
    assert (r.job_id, r.image_running, r.last_checkpoint_age_s, r.flink_ui_url) == (None, None, None, None)


def test_last_redeploy_is_carried():
    run = RunInfo(run_id="manual__1", state="success", release="42", started_at=NOW - 60 * s, ended_at=NOW,
                  url="/dags/flink_streaming_redeploy/runs/manual__1")
    assert row(last_redeploy=run).last_redeploy == run


def test_savepoints_capped_and_flink_latest_not_duplicated():
    history = tuple((f"s3://b/sp/{i}", NOW - i * s) for i in range(15))
    r = row(replace(OBS, checkpoints=replace(CP, latest_savepoint_path="s3://b/sp/0")), savepoint_history=history)
    assert len(r.savepoints) == 10 and r.savepoints[0].path == "s3://b/sp/0" and r.savepoints[0].source == "redeploy"


# -- all rows ------------------------------------------------------------------------------------------------

def test_build_rows_order_batch_rows_and_unobserved_jobs():
    rows = build_rows(CATALOGUE.jobs.values(), {"stream": Observed(observation=OBS)}, thresholds_for, NOW)
    assert [(r.name, r.kind) for r in rows] == [("other", "streaming"), ("stream", "streaming"), ("nightly", "batch")]
    other, stream, nightly = rows
    assert (other.verdict, other.error) == ("UNHEALTHY", "not observed")
    assert stream.verdict == "HEALTHY"
    assert (nightly.state, nightly.verdict, nightly.schedule, nightly.redeployable) == ("PER RUN", None, "@daily", False)
    assert nightly.extra == {"dag_id": "flink_batch__nightly"}
    assert counts(rows) == {"MISSING": 0, "UNHEALTHY": 1, "DEGRADED": 0, "HEALTHY": 1}


def test_thresholds_come_from_the_caller():
    strict = HealthThresholds(checkpoint_max_age=timedelta(seconds=1))
    rows = build_rows([STREAM], {"stream": Observed(observation=OBS)}, lambda job: strict, NOW)
    assert rows[0].verdict == Verdict.UNHEALTHY.name and rows[0].reasons[0].code == "checkpoint_stale"


def test_json_shape_is_stable_and_serialisable():
    run = RunInfo(run_id="r1", state="failed", release="41", started_at=NOW - 9 * s, ended_at=NOW - 1 * s, url="/x")
    data = row_to_json(row(last_redeploy=run))
    assert set(data) == {"name", "kind", "description", "cluster_id", "namespace", "flink_version",
                         "kubernetes_conn_id", "live", "image", "health", "checkpoint", "savepoints", "upgrade_mode",
                         "schedule", "last_redeploy", "flink_ui_url", "observed_at", "error"}
    assert data["live"] == {"state": "RUNNING", "job_id": JOB_ID, "jobmanager": "1/1 available",
                            "pods": "JobManager 1/1 ready, TaskManager 1/1 ready"}
    assert data["image"] == {"catalogue": "registry.example/flink-jobs:{release}", "running": DEP.image,
                             "release": "42", "matches_catalogue": True}
    assert data["health"] == {"verdict": "HEALTHY", "reasons": [], "figures": [
        {"key": "checkpoint_age", "value": 7.0, "limit": 120.0, "unit": "s", "text": "checkpoint age 7 s (limit 2 min)"},
        {"key": "restarts", "value": 0, "limit": 64, "unit": "", "text": "restarts 0 in 2 min (limit 64)"},
        {"key": "leader_lease_age", "value": 5.0, "limit": 60.0, "unit": "s", "lease": 15.0,
         "text": "leader lease renewed 5 s ago (limit 60 s, lease 15 s)"}]}
    assert data["checkpoint"] == {"id": 41, "completed_at": (NOW - 7 * s).isoformat(), "age_s": 7.0}
    assert data["last_redeploy"] == {"run_id": "r1", "state": "failed", "release": "41",
                                     "started_at": (NOW - 9 * s).isoformat(), "ended_at": (NOW - s).isoformat(),
                                     "url": "/x"}
    json.dumps(data)
    batch = row_to_json(build_rows([CATALOGUE.job("nightly")], {}, thresholds_for, NOW)[0])
    assert batch["extra"] == {"dag_id": "flink_batch__nightly"} and batch["health"]["verdict"] is None


def test_the_page_shows_the_figures_under_the_verdict():
    from flink_k8s.ui.html import jobs_page

    stale = row(replace(OBS, checkpoints=replace(CP, latest_completed_time=NOW - 300 * s)))
    html = jobs_page([row(), stale], generated_at=NOW, refresh=30, timeout=2, base="/", summary={})
    assert html.count('title="leader_lease_age">leader lease renewed 5 s ago (limit 60 s, lease 15 s)</div>') == 2
    assert 'title="checkpoint_age">checkpoint age 7 s (limit 2 min)</div>' in html
    assert 'title="checkpoint_stale">last completed checkpoint 41: checkpoint age 5 min (limit 2 min)</li>' in html


def test_flink_ui_url():
    assert flink_ui_url("https://10.0.0.1:6443/", "flink", "stream-prod") == (
        "https://10.0.0.1:6443/api/v1/namespaces/flink/services/stream-prod-rest:rest/proxy/")
    assert flink_ui_url(None, "flink", "x") is None


# -- trigger form texts --------------------------------------------------------------------------------------

def test_every_redeploy_param_is_titled_described_and_sectioned():
    specs = redeploy_param_specs(CATALOGUE)
    assert list(specs) == ["job", "release", "parallelism", "upgrade_mode", "restore_from",
                           "allow_fallback_to_last_state", "allow_state_loss", "dry_run", "require_approval"]
    for name, spec in specs.items():
        assert spec["title"] and spec["description"] and spec["section"] in SECTIONS, name
    assert [specs[n]["section"] for n in specs] == sorted((specs[n]["section"] for n in specs), key=SECTIONS.index)


def test_optional_fields_name_the_catalogue_default_in_words():
    specs = redeploy_param_specs(CATALOGUE)
    labels = specs["upgrade_mode"]["values_display"]
    assert labels["null"] == "catalogue default (other: last-state, stream: savepoint)"
    assert {k: labels[k] for k in MODE_WORDS} == MODE_WORDS
    assert "catalogue default (other: the jar's own, stream: 4)" in specs["parallelism"]["description"]
    one = parse_catalogue(b"""
jobs:
  s:
    kind: streaming
    upgrade_mode: stateless
    flink_version: "2.3"
    image: "r/f:{release}"
    jar_uri: local:///opt/flink/usrlib/s.jar
""")
    assert redeploy_param_specs(one)["upgrade_mode"]["values_display"]["null"] == "catalogue default (stateless)"
    assert "(r/f:{release})" in redeploy_param_specs(one)["release"]["description"]


def test_state_loss_switch_says_what_it_does():
    spec = redeploy_param_specs(CATALOGUE)["allow_state_loss"]
    assert "dangerous" in spec["title"].lower() and "EMPTY state" in spec["description"] and spec["default"] is False


def test_job_choices_are_labelled_with_their_cluster():
    spec = redeploy_param_specs(CATALOGUE)["job"]
    assert spec["enum"] == ["other", "stream"] and spec["default"] == "other"
    assert spec["values_display"]["stream"] == "stream — cluster stream-prod in flink, Flink 2.3"


def _params():
    from airflow.sdk import Param
    from airflow.sdk.definitions.param import ParamsDict

    return ParamsDict(make_params(redeploy_param_specs(CATALOGUE), Param))


GOOD = {"job": "stream", "release": "43", "upgrade_mode": None, "parallelism": None}


def test_specs_make_real_airflow_params_that_accept_a_good_conf():
    params = _params()
    params.update(GOOD)
    assert params.validate()["release"] == "43"


@pytest.mark.parametrize("bad", [{"release": "4 3"}, {"release": ""}, {"upgrade_mode": "yolo"}, {"parallelism": 0},
                                 {"job": "nope"}, {"allow_state_loss": "yes"}])
def test_specs_make_real_airflow_params_that_refuse_bad_values(bad):
    from airflow.exceptions import ParamValidationError

    params = _params()
    with pytest.raises(ParamValidationError):
        params.update({**GOOD, **bad})
        params.validate()


def test_batch_release_param_is_titled_and_names_the_image():
    spec = batch_param_specs(CATALOGUE.job("nightly"))["release"]
    assert spec["title"] == "Release" and "registry.example/flink-jobs:{release}" in spec["description"]
    assert spec["default"] == "latest" and spec["section"] in SECTIONS
