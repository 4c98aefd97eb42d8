"""The rollback decision and the run's verdict (issue 18.2), pure: every branch of `core.rollback`, and the
catalogue rules of the `rollback:` block."""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from flink_k8s.core import ledger as L
from flink_k8s.core.catalogue import check_catalogue
from flink_k8s.core.catalogue_schema import JobSpec, RollbackSpec
from flink_k8s.core.ledger import ReleaseOutcome, ReleaseRecord
from flink_k8s.core.rollback import (
    RollbackKind,
    decide_rollback,
    mark_unhealthy,
    rollback_record,
    run_outcome,
)

T0 = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
RUN = "flink_streaming_redeploy/manual__2"
JOB = JobSpec(name="stream", kind="streaming", cluster_id="c", flink_version="2.3", image="img:{release}",
              upgrade_mode="savepoint", savepoint_dir="s3://sp", rollback=RollbackSpec(enabled=True))
WHY = "UNHEALTHY: job FAILED"


def _entry(release, run, action="redeploy", outcome="succeeded", **kw) -> ReleaseRecord:
    return ReleaseRecord(release=release, cluster_id="c", image=f"img:{release}", flink_version="2.3",
                         upgrade_mode="savepoint", dag_run_id=run, action=action, started_at=T0, outcome=outcome,
                         **kw)


def _ledger(*entries: ReleaseRecord) -> L.JobLedger:
    return L.JobLedger(releases=tuple(entries))


V1 = _entry("1", "r0", action="deploy")
V2 = _entry("2", RUN, outcome="failed", savepoint_taken="s3://sp/savepoint-1", restore_source="s3://sp/savepoint-1",
            reason="JobFailed: job ended FAILED; root cause: boom")


def test_rolls_back_to_the_last_succeeded_release_from_the_pre_upgrade_savepoint():
    failed_v0 = _entry("0", "rx", outcome="failed")
    d = decide_rollback(JOB, _ledger(V1, failed_v0, V2), RUN, WHY)
    assert d.kind is RollbackKind.ROLL_BACK and d.kind.acts
    assert (d.target.release, d.failed.release, d.savepoint) == ("1", "2", "s3://sp/savepoint-1")
    assert d.reason == V2.reason  # the executor's failure beats the health summary
    assert "discarded" in d.message
    entry = rollback_record(d, RUN, T0)
    assert (entry.release, entry.image, entry.action, entry.restore_source, entry.savepoint_taken) == \
        ("1", "img:1", "rollback", "s3://sp/savepoint-1", "s3://sp/savepoint-1")


def test_the_health_verdict_is_the_reason_when_the_redeploy_itself_succeeded():
    ok_v2 = replace(V2, outcome="succeeded", reason=None)
    d = decide_rollback(JOB, _ledger(V1, ok_v2), RUN, WHY)
    assert d.kind is RollbackKind.ROLL_BACK and d.reason == WHY
    marked = mark_unhealthy(_ledger(V1, ok_v2), RUN, WHY, T0)
    assert (marked.releases[-1].outcome, marked.releases[-1].reason) == ("failed", WHY)
    assert mark_unhealthy(_ledger(V1, V2), RUN, WHY, T0).releases[-1].reason == V2.reason  # kept


@pytest.mark.parametrize(("ledger", "job", "kind", "says"), [
    (_ledger(V1), JOB, RollbackKind.NOTHING_DEPLOYED, "deployed nothing"),
    (_ledger(V1, replace(V2, savepoint_taken=None, restore_source=None)), JOB, RollbackKind.NOTHING_DEPLOYED,
     "before it stopped the running release"),
    (_ledger(V1, V2), replace(JOB, rollback=RollbackSpec(enabled=False)), RollbackKind.DISABLED,
     "rollback.enabled: false"),
    (_ledger(replace(V2, action="deploy")), JOB, RollbackKind.NO_PREVIOUS, "first deployment"),
    (_ledger(_entry("1", "r0", outcome="failed"), V2), JOB, RollbackKind.NO_PREVIOUS, "no release before 2"),
    (_ledger(replace(V1, release="x y!"), V2), JOB, RollbackKind.REFUSED, "not a valid release"),
    (_ledger(replace(V1, cluster_id="old"), V2), JOB, RollbackKind.REFUSED, "ran on cluster 'old'"),
    (_ledger(replace(V1, flink_version="1.20"), V2), JOB, RollbackKind.REFUSED, "ran Flink 1.20"),
    (_ledger(V1, replace(V2, upgrade_mode="last-state", savepoint_taken=None, restore_source="ha-checkpoint 7")),
     JOB, RollbackKind.REFUSED, "took no savepoint of 1"),
])
def test_no_rollback_and_why(ledger, job, kind, says):
    d = decide_rollback(job, ledger, RUN, WHY)
    assert d.kind is kind and not d.kind.acts
    assert says in d.message
    if kind is RollbackKind.REFUSED:
        assert "Nothing was touched" in d.message and "airflow dags trigger flink_streaming_redeploy" in d.message


def test_without_a_pre_upgrade_savepoint_only_with_allow_state_loss_and_then_from_empty_state():
    last_state = replace(V2, upgrade_mode="last-state", savepoint_taken=None, restore_source="ha-checkpoint 7")
    job = replace(JOB, rollback=RollbackSpec(enabled=True, allow_state_loss=True))
    d = decide_rollback(job, _ledger(V1, last_state), RUN, WHY)
    assert d.kind is RollbackKind.ROLL_BACK and d.savepoint is None and "EMPTY" in d.message
    assert rollback_record(d, RUN, T0).upgrade_mode == "stateless"


def test_a_rollback_under_way_is_resumed_and_a_finished_one_not_repeated():
    back = _entry("1", RUN, action="rollback", outcome="failed", savepoint_taken="s3://sp/savepoint-1")
    d = decide_rollback(JOB, _ledger(V1, V2, back), RUN, WHY)
    assert d.kind is RollbackKind.RESUME and d.target == back and d.savepoint == "s3://sp/savepoint-1"
    # resumed even if the catalogue switched rollback off meanwhile: a half-done rollback is finished, not left
    off = replace(JOB, rollback=RollbackSpec(enabled=False))
    assert decide_rollback(off, _ledger(V1, V2, back), RUN, WHY).kind is RollbackKind.RESUME
    done = replace(back, outcome="succeeded")
    assert decide_rollback(JOB, _ledger(V1, V2, done), RUN, WHY).kind is RollbackKind.ALREADY_DONE


def test_another_runs_release_is_never_rolled_back():
    d = decide_rollback(JOB, _ledger(V1, V2), "flink_streaming_redeploy/other", WHY)
    assert d.kind is RollbackKind.NOTHING_DEPLOYED


# -- the run's verdict ----------------------------------------------------------------------------------------

def test_outcome_healthy_run_succeeds():
    out = run_outcome(JOB, _ledger(V1, replace(V2, outcome="succeeded")), RUN, healthy=True)
    assert not out.failed and "release 2 is HEALTHY" in out.message


def test_outcome_rolled_back_run_fails_naming_both_releases_the_savepoint_and_why():
    led = L.start_release(_ledger(V1, V2), _entry("1", RUN, action="rollback", outcome=None,
                                                    savepoint_taken="s3://sp/savepoint-1"))
    led = L.finish_release(led, RUN, "rollback", ReleaseOutcome.SUCCEEDED, T0 + timedelta(minutes=2))
    out = run_outcome(JOB, led, RUN, healthy=False)
    assert out.failed
    for part in ("ROLLED BACK release 2 to 1", "savepoint s3://sp/savepoint-1", "root cause: boom",
                 "within 5min"):
        assert part in out.message
    # rollback_healthy passing does not make the run a success: it was rolled back
    assert run_outcome(JOB, led, RUN, healthy=True).failed


def test_outcome_stopped_rollback_and_no_rollback_and_nothing_deployed():
    stuck = _entry("1", RUN, action="rollback", outcome="failed", savepoint_taken="s3://sp/savepoint-1",
                   reason="WaitTimeout: no checkpoint")
    out = run_outcome(JOB, _ledger(V1, V2, stuck), RUN, healthy=False)
    assert out.failed and "did not complete (WaitTimeout: no checkpoint)" in out.message
    assert "clear the task `rollback`" in out.message and '"restore_from": "s3://sp/savepoint-1"' in out.message
    off = run_outcome(JOB, _ledger(V1, V2), RUN, healthy=False, note="automatic rollback is off")
    assert off.failed and "Not rolled back: automatic rollback is off" in off.message
    none = run_outcome(JOB, _ledger(V1), RUN, healthy=False)
    assert none.failed and "deployed nothing" in none.message


# -- catalogue ---------------------------------------------------------------------------------------------------

BASE = {"defaults": {"flink_version": "2.3", "image": "img:{release}", "namespace": "flink"},
        "jobs": {"stream": {"kind": "streaming", "upgrade_mode": "savepoint", "savepoint_dir": "s3a://b/sp",
                            "jar_uri": "local:///opt/flink/usrlib/s.jar"},
                 "nightly": {"kind": "batch", "jar_uri": "local:///opt/flink/usrlib/b.jar"}}}


def _problems(**changes) -> list[tuple[str | None, str, str]]:
    data = copy.deepcopy(BASE)
    for job, fields in changes.items():
        data["jobs"][job].update(fields)
    catalogue, problems = check_catalogue(data)
    return [(p.job, p.field, p.rule) for p in problems]


def test_catalogue_rollback_block_default_and_rules():
    catalogue, problems = check_catalogue(copy.deepcopy(BASE))
    assert problems == [] and catalogue.job("stream").rollback == RollbackSpec(False, "5min", False)
    assert _problems(stream={"rollback": {"enabled": True, "healthy_within": "2min"}}) == []
    batch = _problems(nightly={"rollback": {"enabled": True}})
    assert batch == [("nightly", "rollback", "only for streaming jobs (this job is batch)")]
    window = _problems(stream={"rollback": {"enabled": True, "healthy_within": "1s"}})
    assert window and window[0][1] == "rollback.healthy_within" and "10s and 24h" in window[0][2]
    stateless = _problems(stream={"upgrade_mode": "stateless", "rollback": {"enabled": True}})
    assert stateless and stateless[0][1] == "rollback.enabled" and "allow_state_loss" in stateless[0][2]
    assert _problems(stream={"upgrade_mode": "stateless",
                             "rollback": {"enabled": True, "allow_state_loss": True}}) == []
    unknown = _problems(stream={"rollback": {"enable": True}})
    assert unknown and unknown[0][1] == "rollback.enable" and "did you mean 'enabled'" in unknown[0][2]
