"""Health verdicts: decision matrices with a fixed clock and hand-built observations (no I/O)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from flink_k8s.core.health import (
    Figure,
    HealthReport,
    HealthThresholds,
    Reason,
    Verdict,
    checkpoint_window,
    count_in_window,
    evaluate,
    figure_to_plain,
    format_seconds,
)
from flink_k8s.core.observations import (
    CheckpointFacts,
    ClusterObservation,
    DeploymentFacts,
    HaFacts,
    JobFacts,
    PodFacts,
)
from flink_k8s.core.plan_table import render_verdicts, table

NOW = datetime(2026, 11, 29, 17, 0, tzinfo=UTC)
CID = "streaming-job"
JOB = "00000000002efde30000000000000000"
T = HealthThresholds()  # 64 restarts / 2 min, lease 60 s, derived checkpoint window
s = timedelta(seconds=1)
us = timedelta(microseconds=1)

DEP = DeploymentFacts(name=CID, replicas=1, available_replicas=1, ready_replicas=1, image="flink-java11:r42")
JM = PodFacts(name=f"{CID}-7d9c6b5f4-x2x8q", component="jobmanager", phase="Running", ready=True, restarts=0)
TM = PodFacts(name=f"{CID}-taskmanager-1-1", component="taskmanager", phase="Running", ready=True, restarts=0)
HA = HaFacts(config_maps=(f"{CID}-cluster-config-map", f"{CID}-{JOB}-config-map"), leader_holder="a3f1c2d4",
             leader_renew_time=NOW - 5 * s, lease_duration=15 * s,
             leader_addresses={"dispatcher": "pekko.tcp://flink@10.42.0.17:6123/user/rpc/dispatcher_1"},
             job_graph_keys=(f"executionPlan-{JOB}",), checkpoint_counter=43, latest_checkpoint_id=42)
JOBF = JobFacts(job_id=JOB, name="streaming-job", state="RUNNING", start_time=NOW - timedelta(hours=1), restarts=0)
CP = CheckpointFacts(interval=60 * s, timeout=600 * s, tolerable_failures=0, completed_count=60,
                     latest_completed_id=42, latest_completed_time=NOW - 30 * s)


def obs(at: datetime = NOW, **changes) -> ClusterObservation:
    base = ClusterObservation(cluster_id=CID, observed_at=at, deployment=DEP, pods=(JM, TM), ha=HA, job=JOBF,
                              checkpoints=CP)
    return replace(base, **changes)


def codes(report) -> set[str]:
    return {r.code for r in report.reasons}


HEALTHY_FIGURES = "checkpoint age 30 s (limit 20 min); restarts 0 in 2 min (limit 64); " \
                  "leader lease renewed 5 s ago (limit 60 s, lease 15 s)"


def test_healthy_cluster():
    report = evaluate(obs(), T, NOW)
    assert (report.verdict, report.reasons, report.checked_at) == (Verdict.HEALTHY, (), NOW)
    assert report.summary == f"all checks passed: {HEALTHY_FIGURES}"


def figures(report) -> dict[str, Figure]:
    return {f.key: f for f in report.figures}


# -- the figures a verdict was decided on ----------------------------------------------------------------------

def test_a_healthy_verdict_carries_the_figures_it_was_decided_on():
    report = evaluate(obs(), T, NOW)
    assert report.figures == (
        Figure("checkpoint_age", "checkpoint age", 30.0, 1200.0, "s"),
        Figure("restarts", "restarts", 0, 64, "", "in 2 min"),
        Figure("leader_lease_age", "leader lease renewed", 5.0, 60.0, "s", "ago", (("lease", 15.0),)),
    )
    assert report.figures_text == HEALTHY_FIGURES


def test_figures_follow_the_thresholds_in_use():
    t = replace(T, max_restarts=3, restarts_window=600 * s, checkpoint_max_age=300 * s, leader_lease_max_age=30 * s)
    report = evaluate(obs(checkpoints=replace(CP, latest_completed_time=NOW - 12 * s),
                          ha=replace(HA, leader_renew_time=NOW - 2 * s)), t, NOW)
    assert report.figures_text == ("checkpoint age 12 s (limit 5 min); restarts 0 in 10 min (limit 3); "
                                   "leader lease renewed 2 s ago (limit 30 s, lease 15 s)")


@pytest.mark.parametrize("seconds, text", [
    (0, "0 s"), (0.4, "0 s"), (12, "12 s"), (119.4, "119 s"), (120, "2 min"), (150, "2.5 min"), (1200, "20 min"),
    (1300, "21.7 min"), (1202.9, "20 min"), (7199, "120 min"), (7200, "2 h"), (95400, "26.5 h"), (-3, "-3 s"),
])
def test_format_seconds(seconds, text):
    assert format_seconds(seconds) == text


@pytest.mark.parametrize("figure, text", [
    (Figure("checkpoint_age", "checkpoint age", 12.3, 300.0, "s"), "checkpoint age 12 s (limit 5 min)"),
    (Figure("restarts", "restarts", 2, 3, "", "in 10 min"), "restarts 2 in 10 min (limit 3)"),
    (Figure("leader_lease_age", "leader lease renewed", 2.0, 60.0, "s", "ago", (("lease", 15.0),)),
     "leader lease renewed 2 s ago (limit 60 s, lease 15 s)"),
    (Figure("x", "no limit", 4, None), "no limit 4"),
    (Figure("x", "only others", 4, None, "", "", (("soft", 3), ("hard", 9))), "only others 4 (soft 3, hard 9)"),
])
def test_figure_text(figure, text):
    assert figure.text == text


def test_figure_to_plain():
    fig = Figure("leader_lease_age", "leader lease renewed", 2.34567, 60.0, "s", "ago", (("lease", 15.0),))
    assert figure_to_plain(fig) == {"key": "leader_lease_age", "value": 2.346, "limit": 60.0, "unit": "s",
                                    "lease": 15.0, "text": "leader lease renewed 2 s ago (limit 60 s, lease 15 s)"}


@pytest.mark.parametrize("changes, absent", [
    ({"ha": None}, "leader_lease_age"),  # no HA: no lease to age
    ({"ha": HaFacts()}, "leader_lease_age"),
    ({"ha": replace(HA, leader_renew_time=None)}, "leader_lease_age"),  # no_leader is the finding instead
    ({"checkpoints": CheckpointFacts(interval=None)}, "checkpoint_age"),  # checkpointing off, no explicit limit
    ({"checkpoints": None}, "checkpoint_age"),
    ({"job": replace(JOBF, state="RESTARTING")}, "checkpoint_age"),  # only judged while RUNNING
    ({"job": replace(JOBF, restarts=None)}, "restarts"),  # numRestarts not fetched
    ({"job": None}, "restarts"),
])
def test_a_figure_is_only_shown_when_it_was_measured(changes, absent):
    report = evaluate(obs(**changes), T, NOW)
    assert absent not in figures(report)
    assert set(figures(report)) < {"checkpoint_age", "restarts", "leader_lease_age"}


def test_a_missing_cluster_has_no_figures():
    report = evaluate(obs(deployment=None, pods=(), job=None, checkpoints=None), T, NOW)
    assert report.figures == () and report.summary.startswith("no Deployment or JobManager pod")


def test_lease_figure_without_a_known_duration_shows_only_the_limit():
    report = evaluate(obs(ha=replace(HA, lease_duration=None)), T, NOW)
    assert figures(report)["leader_lease_age"].text == "leader lease renewed 5 s ago (limit 60 s)"


def test_no_checkpoint_yet_is_measured_from_the_job_start():
    cp = replace(CP, latest_completed_id=None, latest_completed_time=None, completed_count=0)
    report = evaluate(obs(job=replace(JOBF, start_time=NOW - 90 * s), checkpoints=cp), T, NOW)
    assert figures(report)["checkpoint_age"].text == "no checkpoint since start, job age 90 s (limit 20 min)"


def _finding(report, code: str) -> Reason:
    (reason,) = [r for r in report.reasons if r.code == code]
    return reason


@pytest.mark.parametrize("changes, code, key, message", [
    ({"checkpoints": replace(CP, latest_completed_time=NOW - 1300 * s)}, "checkpoint_stale", "checkpoint_age",
     "last completed checkpoint 42: checkpoint age 21.7 min (limit 20 min)"),
    ({"job": replace(JOBF, start_time=NOW - 1300 * s),
      "checkpoints": replace(CP, latest_completed_id=None, latest_completed_time=None)}, "checkpoint_stale",
     "checkpoint_age", "no checkpoint since start, job age 21.7 min (limit 20 min)"),
    ({"ha": replace(HA, leader_renew_time=NOW - 70 * s)}, "leader_lease_stale", "leader_lease_age",
     "leader lease renewed 70 s ago (limit 60 s, lease 15 s): JobManager a3f1c2d4 is no longer renewing it"),
    ({"ha": replace(HA, leader_renew_time=NOW - 20 * s)}, "leader_lease_expired", "leader_lease_age",
     "leader lease renewed 20 s ago (limit 60 s, lease 15 s): past the lease's duration"),
    ({"job": replace(JOBF, start_time=NOW - 60 * s, restarts=65)}, "restarts", "restarts",
     "job restarted 65 times in 2 min (limit 64)"),
    ({"job": replace(JOBF, start_time=NOW - 60 * s, restarts=2)}, "restarts_recent", "restarts",
     "job restarted 2 times in 2 min (limit 64)"),
])
def test_each_finding_states_its_figure(changes, code, key, message):
    report = evaluate(obs(**changes), T, NOW)
    reason = _finding(report, code)
    assert reason.message == message and reason.figure == figures(report)[key]
    assert reason.figure.value > (reason.figure.limit or 0) or code in ("restarts_recent", "leader_lease_expired")


def test_pod_figures_only_for_pods_that_restarted_or_failed():
    assert not {"pod_restarts", "tm_failed_pods"} & set(figures(evaluate(obs(), T, NOW)))
    history = [obs(NOW - 100 * s, pods=(JM, TM))]
    jm = replace(JM, restarts=4)
    failed = tuple(replace(TM, name=f"{CID}-taskmanager-1-{i}", phase="Failed", ready=False) for i in range(3))
    report = evaluate(obs(pods=(jm, TM, *failed)), T, NOW, history)
    crash, tms = _finding(report, "pod_crashlooping"), _finding(report, "tm_crashlooping")
    assert crash.figure and crash.figure.text == f"pod {JM.name} restarts 4 in 2 min (limit 3)"
    assert crash.message == f"pod {JM.name} restarted 4 times in 2 min (limit 3)"
    assert tms.figure and tms.figure.text == "failed TaskManager pods 3 (limit 2)"
    healthy_tm = evaluate(obs(pods=(JM, TM, failed[0])), T, NOW)
    assert figures(healthy_tm)["tm_failed_pods"].text == "failed TaskManager pods 1 (limit 2)"
    assert healthy_tm.verdict is Verdict.HEALTHY


def test_summary_states_each_figure_once_findings_first():
    report = evaluate(obs(checkpoints=replace(CP, latest_completed_time=NOW - 1300 * s)), T, NOW)
    assert report.summary == ("last completed checkpoint 42: checkpoint age 21.7 min (limit 20 min); "
                              "restarts 0 in 2 min (limit 64); leader lease renewed 5 s ago (limit 60 s, lease 15 s)")
    assert report.summary.count("checkpoint age") == 1


def test_a_report_built_without_figures_still_summarises():
    report = HealthReport(CID, Verdict.UNHEALTHY, (Reason(Verdict.UNHEALTHY, "observation_failed", "API down"),), NOW)
    assert (report.figures, report.figures_text, report.summary) == ((), "", "API down")
    assert HealthReport(CID, Verdict.HEALTHY, (), NOW).summary == "all checks passed"


# -- presence and JobManager -------------------------------------------------------------------------------------

@pytest.mark.parametrize("ha, fragment", [
    (None, "no Deployment or JobManager pod"),
    (HaFacts(), "no Deployment or JobManager pod"),
    (HA, "resurrect the OLD job"),
    (replace(HA, job_graph_keys=()), "still point to checkpoint 42"),
])
def test_missing_cluster(ha, fragment):
    report = evaluate(obs(deployment=None, pods=(), job=None, checkpoints=None, rest_error="connection refused",
                          ha=ha), T, NOW)
    assert report.verdict is Verdict.MISSING and codes(report) == {"cluster_missing"}
    assert fragment in report.summary


def test_only_taskmanager_pods_left_is_missing():
    assert evaluate(obs(deployment=None, pods=(TM,), job=None), T, NOW).verdict is Verdict.MISSING


def test_jobmanager_pod_without_deployment():
    report = evaluate(obs(deployment=None), T, NOW)
    assert report.verdict is Verdict.UNHEALTHY and "jm_deployment_missing" in codes(report)


@pytest.mark.parametrize("dep, code", [
    (replace(DEP, available_replicas=0, ready_replicas=0), "jm_unavailable"),
    (replace(DEP, deleting=True), "jm_deleting"),
])
def test_jobmanager_deployment_problems(dep, code):
    report = evaluate(obs(deployment=dep), T, NOW)
    assert report.verdict is Verdict.UNHEALTHY and code in codes(report)


def test_rest_unreachable_reports_that_and_not_missing_job():
    report = evaluate(obs(job=None, checkpoints=None, rest_error="HTTP 503 from service proxy"), T, NOW)
    assert codes(report) == {"rest_unreachable"} and "HTTP 503" in report.summary


def test_no_job_on_reachable_jobmanager():
    report = evaluate(obs(job=None, checkpoints=None), T, NOW)
    assert report.verdict is Verdict.UNHEALTHY and codes(report) == {"no_job"}


# -- job state --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("state, verdict", [
    ("RUNNING", Verdict.HEALTHY),
    ("CREATED", Verdict.DEGRADED), ("INITIALIZING", Verdict.DEGRADED), ("RESTARTING", Verdict.DEGRADED),
    ("RECONCILING", Verdict.DEGRADED), ("SUSPENDED", Verdict.DEGRADED),
    ("FAILING", Verdict.UNHEALTHY), ("FAILED", Verdict.UNHEALTHY), ("CANCELLING", Verdict.UNHEALTHY),
    ("CANCELED", Verdict.UNHEALTHY), ("FINISHED", Verdict.UNHEALTHY),
])
def test_job_state_matrix(state, verdict):
    assert evaluate(obs(job=replace(JOBF, state=state)), T, NOW).verdict is verdict


# -- leader lease ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("age, verdict, code", [
    (0 * s, Verdict.HEALTHY, None),
    (15 * s, Verdict.HEALTHY, None),  # exactly the lease duration
    (15 * s + us, Verdict.DEGRADED, "leader_lease_expired"),
    (60 * s, Verdict.DEGRADED, "leader_lease_expired"),  # exactly the max age
    (60 * s + us, Verdict.UNHEALTHY, "leader_lease_stale"),
    (timedelta(hours=3), Verdict.UNHEALTHY, "leader_lease_stale"),
])
def test_leader_lease_boundaries(age, verdict, code):
    report = evaluate(obs(ha=replace(HA, leader_renew_time=NOW - age)), T, NOW)
    assert report.verdict is verdict and codes(report) == ({code} if code else set())


def test_lease_without_known_duration_only_checks_max_age():
    ha = replace(HA, lease_duration=None, leader_renew_time=NOW - 59 * s)
    assert evaluate(obs(ha=ha), T, NOW).verdict is Verdict.HEALTHY


@pytest.mark.parametrize("ha", [replace(HA, leader_holder=None), replace(HA, leader_renew_time=None)])
def test_no_leader(ha):
    assert codes(evaluate(obs(ha=ha), T, NOW)) == {"no_leader"}


@pytest.mark.parametrize("ha", [None, HaFacts()])
def test_without_ha_there_is_no_leader_check(ha):
    assert evaluate(obs(ha=ha), T, NOW).verdict is Verdict.HEALTHY


# -- restarts within the window ------------------------------------------------------------------------------------

@pytest.mark.parametrize("restarts, verdict", [(0, Verdict.HEALTHY), (1, Verdict.DEGRADED), (64, Verdict.DEGRADED),
                                               (65, Verdict.UNHEALTHY)])
def test_restarts_of_a_job_started_inside_the_window_all_count(restarts, verdict):
    job = replace(JOBF, start_time=NOW - 60 * s, restarts=restarts)
    assert evaluate(obs(job=job), T, NOW).verdict is verdict


def test_old_restarts_without_history_are_not_counted():
    job = replace(JOBF, restarts=500, last_restart_time=NOW - timedelta(minutes=30))
    assert evaluate(obs(job=job), T, NOW).verdict is Verdict.HEALTHY


@pytest.mark.parametrize("last_restart, verdict", [(NOW - 119 * s, Verdict.DEGRADED), (NOW - 120 * s, Verdict.HEALTHY)])
def test_recent_restart_timestamp_without_history(last_restart, verdict):
    job = replace(JOBF, restarts=500, last_restart_time=last_restart)
    assert evaluate(obs(job=job), T, NOW).verdict is verdict


def _with_history(counts: list[tuple[timedelta, int]], now_count: int, job_ids: list[str] | None = None):
    ids = job_ids or [JOB] * len(counts)
    history = [obs(NOW - ago, job=replace(JOBF, job_id=jid, restarts=c)) for (ago, c), jid in zip(counts, ids, strict=True)]
    return evaluate(obs(job=replace(JOBF, restarts=now_count)), T, NOW, history)


@pytest.mark.parametrize("counts, now_count, verdict", [
    ([(180 * s, 10), (60 * s, 12)], 74, Verdict.DEGRADED),  # 2 (seen at -60s) + 62 = 64: at the limit
    ([(180 * s, 10), (60 * s, 12)], 75, Verdict.UNHEALTHY),
    ([(180 * s, 10)], 10, Verdict.HEALTHY),
    ([(180 * s, 10)], 74, Verdict.DEGRADED),  # +64 observed inside the window
    ([(180 * s, 10)], 75, Verdict.UNHEALTHY),
    ([(119 * s, 100)], 30, Verdict.DEGRADED),  # counter went down: a new JobManager; 30 since its start
    ([(119 * s, 100)], 65, Verdict.UNHEALTHY),
])
def test_restarts_counted_from_history(counts, now_count, verdict):
    assert _with_history(counts, now_count).verdict is verdict


def test_restart_sample_exactly_at_window_start_is_outside():
    # increments observed in a sample taken exactly at now - window do not count
    history = [obs(NOW - 300 * s, job=replace(JOBF, restarts=0)), obs(NOW - 120 * s, job=replace(JOBF, restarts=90))]
    assert evaluate(obs(job=replace(JOBF, restarts=90)), T, NOW, history).verdict is Verdict.HEALTHY


def test_new_job_id_starts_a_new_series():
    report = _with_history([(60 * s, 3)], 70, job_ids=["ffffffffffffffffffffffffffffffff"])
    assert report.verdict is Verdict.UNHEALTHY and "70 times" in report.summary


def test_history_must_be_earlier_and_same_cluster():
    with pytest.raises(ValueError, match="must be an earlier observation"):
        evaluate(obs(), T, NOW, [obs(NOW + s)])
    with pytest.raises(ValueError, match="'other'"):
        evaluate(obs(), T, NOW, [replace(obs(NOW - s), cluster_id="other")])


@pytest.mark.parametrize("samples, expected", [
    ([], 0),
    ([(NOW, "a", 5)], 0),
    ([(NOW - 10 * s, "a", 5), (NOW, "a", 7)], 2),
    ([(NOW, "a", 7), (NOW - 10 * s, "a", 5)], 2),  # order does not matter
    ([(NOW - 200 * s, "a", 5), (NOW - 130 * s, "a", 9), (NOW, "a", 9)], 0),
    ([(NOW - 10 * s, "a", 5), (NOW - 5 * s, "a", 1), (NOW, "a", 3)], 3),  # reset: 1 + 2
    ([(NOW - 10 * s, "a", 5), (NOW, "b", 4)], 4),  # new pod/job
])
def test_count_in_window(samples, expected):
    assert count_in_window(samples, NOW, timedelta(minutes=2)) == expected


# -- checkpoints --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("interval, timeout, tolerable, expected", [
    (60, 600, 0, 1200), (300, 60, 3, 1500), (60, None, 0, 120), (1, 600, 3, 3000),
])
def test_checkpoint_window_like_the_operator(interval, timeout, tolerable, expected):
    got = checkpoint_window(interval * s, timeout * s if timeout else None, tolerable)
    assert got == expected * s


@pytest.mark.parametrize("age, verdict", [
    (30 * s, Verdict.HEALTHY), (1200 * s, Verdict.HEALTHY), (1200 * s + us, Verdict.UNHEALTHY),
])
def test_checkpoint_age_boundary(age, verdict):
    report = evaluate(obs(checkpoints=replace(CP, latest_completed_time=NOW - age)), T, NOW)
    assert report.verdict is verdict
    if verdict is Verdict.UNHEALTHY:
        assert codes(report) == {"checkpoint_stale"} and "checkpoint 42" in report.summary


@pytest.mark.parametrize("explicit, age, verdict", [
    (300 * s, 1000 * s, Verdict.UNHEALTHY),  # shorter than the derived 20 min: the user's explicit limit wins
    (300 * s, 299 * s, Verdict.HEALTHY),
    (3600 * s, 3000 * s, Verdict.HEALTHY),
    (3600 * s, 3600 * s + us, Verdict.UNHEALTHY),
])
def test_explicit_checkpoint_max_age(explicit, age, verdict):
    t = replace(T, checkpoint_max_age=explicit)
    assert evaluate(obs(checkpoints=replace(CP, latest_completed_time=NOW - age)), t, NOW).verdict is verdict


@pytest.mark.parametrize("started, verdict", [(1200 * s, Verdict.HEALTHY), (1201 * s, Verdict.UNHEALTHY)])
def test_no_checkpoint_since_start(started, verdict):
    cp = replace(CP, latest_completed_id=None, latest_completed_time=None, completed_count=0)
    report = evaluate(obs(job=replace(JOBF, start_time=NOW - started), checkpoints=cp), T, NOW)
    assert report.verdict is verdict
    if verdict is Verdict.UNHEALTHY:
        assert "no checkpoint since start" in report.summary


def test_checkpointing_disabled_is_not_checked_unless_a_limit_is_set():
    cp = CheckpointFacts(interval=None)
    assert evaluate(obs(checkpoints=cp), T, NOW).verdict is Verdict.HEALTHY
    strict = replace(T, checkpoint_max_age=600 * s)
    assert codes(evaluate(obs(checkpoints=cp), strict, NOW)) == {"checkpoint_stale"}


def test_checkpoints_only_judged_while_running():
    old = replace(CP, latest_completed_time=NOW - timedelta(days=1))
    assert codes(evaluate(obs(job=replace(JOBF, state="RESTARTING"), checkpoints=old), T, NOW)) == {"job_transitional"}


@pytest.mark.parametrize("failed_at, verdict", [(NOW - 10 * s, Verdict.DEGRADED), (NOW - 40 * s, Verdict.HEALTHY)])
def test_latest_checkpoint_failed_after_the_last_success(failed_at, verdict):
    cp = replace(CP, latest_failed_time=failed_at, latest_failed_message="Checkpoint expired before completing.")
    report = evaluate(obs(checkpoints=cp), T, NOW)
    assert report.verdict is verdict
    if verdict is Verdict.DEGRADED:
        assert "expired before completing" in report.summary


# -- pods -----------------------------------------------------------------------------------------------------------

def test_oom_killed_is_degraded():
    tm = replace(TM, restarts=1, last_termination_reason="OOMKilled", last_exit_code=137)
    report = evaluate(obs(pods=(JM, tm)), T, NOW)
    assert report.verdict is Verdict.DEGRADED and codes(report) == {"oom_killed"} and "exit code 137" in report.summary


@pytest.mark.parametrize("reason, verdict", [("CrashLoopBackOff", Verdict.UNHEALTHY),
                                             ("ImagePullBackOff", Verdict.UNHEALTHY),
                                             ("ContainerCreating", Verdict.HEALTHY)])
def test_waiting_reasons(reason, verdict):
    assert evaluate(obs(pods=(replace(JM, waiting_reason=reason), TM)), T, NOW).verdict is verdict


@pytest.mark.parametrize("failed, verdict", [(2, Verdict.HEALTHY), (3, Verdict.UNHEALTHY)])
def test_failed_taskmanager_pods(failed, verdict):
    tms = tuple(replace(TM, name=f"{CID}-taskmanager-1-{i}", phase="Failed", ready=False) for i in range(failed))
    assert evaluate(obs(pods=(JM, TM, *tms)), T, NOW).verdict is verdict


@pytest.mark.parametrize("restarts_now, verdict", [(3, Verdict.HEALTHY), (4, Verdict.UNHEALTHY)])
def test_pod_restarts_within_window(restarts_now, verdict):
    history = [obs(NOW - 100 * s, pods=(JM, TM))]
    report = evaluate(obs(pods=(replace(JM, restarts=restarts_now), TM)), T, NOW, history)
    assert report.verdict is verdict


def test_every_reason_is_reported_and_the_worst_wins():
    report = evaluate(obs(
        pods=(JM, replace(TM, last_termination_reason="OOMKilled", last_exit_code=137)),
        ha=replace(HA, leader_renew_time=NOW - 600 * s),
        job=replace(JOBF, state="RESTARTING"),
    ), T, NOW)
    assert report.verdict is Verdict.UNHEALTHY
    assert codes(report) == {"oom_killed", "leader_lease_stale", "job_transitional"}


def test_thresholds_from_seconds():
    t = HealthThresholds.from_seconds(max_restarts=3, restarts_window=600, checkpoint_max_age=None,
                                      leader_lease_max_age=30)
    assert t == replace(T, max_restarts=3, restarts_window=600 * s, leader_lease_max_age=30 * s)


def test_render_verdicts_table():
    reports = [("streaming-job", evaluate(obs(), T, NOW)),
               ("other", evaluate(obs(deployment=None, pods=(), job=None, ha=None), T, NOW))]
    lines = render_verdicts(reports).splitlines()
    assert lines[0].split() == ["job", "cluster", "verdict", "reasons"] and set(lines[1]) == {"-", " "}
    assert lines[2].split()[:3] == ["streaming-job", CID, "HEALTHY"]
    assert lines[2].endswith(f"all checks passed: {HEALTHY_FIGURES}")  # whole: the figures are not cut
    assert lines[3].split()[:3] == ["other", CID, "MISSING"]


def test_table_cells_are_single_line_and_cut():
    text = table(("a", "b"), [("x\ny", "z" * 200)], max_width=10)
    assert text.splitlines()[2] == "x y  zzzzzzz..."


def test_thresholds_from_the_catalogue_health_block():
    from flink_k8s.core.catalogue_schema import HealthSpec

    assert HealthThresholds.from_spec(HealthSpec()) == T  # the catalogue defaults are the Operator's
    spec = HealthSpec(max_restarts=3, restarts_window="10min", checkpoint_max_age="15min", leader_lease_max_age="30s")
    assert HealthThresholds.from_spec(spec) == replace(T, max_restarts=3, restarts_window=600 * s,
                                                       checkpoint_max_age=900 * s, leader_lease_max_age=30 * s)
