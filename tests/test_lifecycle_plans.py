"""Pure lifecycle decisions (core/lifecycle.py) and the job ledger's format and updates (core/ledger.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from flink_k8s.core import ledger as L
from flink_k8s.core.job_wait import Outcome, Want
from flink_k8s.core.ledger import Action, JobHeld, SavepointSource
from flink_k8s.core.lifecycle import (
    JobCheck,
    PlanOutcome,
    Refused,
    after_wait,
    check_job,
    current_job,
    format_command,
    plan_cancel,
    plan_cleanup,
    plan_stop,
    plan_submit,
    refuse_state_loss,
)
from flink_k8s.core.observations import JobFacts
from flink_k8s.core.redeploy import RedeployProgress, Restore, StepKind

T = datetime(2026, 12, 5, tzinfo=UTC)


def job(state: str, start: int = 0, job_id: str = "a" * 32) -> JobFacts:
    return JobFacts(job_id=job_id, name="j", state=state, start_time=T + timedelta(seconds=start))


# -- current job, checks, waits --------------------------------------------------------------------------------

def test_current_job_prefers_a_live_job_then_the_newest():
    assert current_job([]) is None
    old_running, new_failed = job("RUNNING", 0, "1" * 32), job("FAILED", 10, "2" * 32)
    assert current_job([new_failed, old_running]) == old_running
    assert current_job([job("FINISHED", 0, "1" * 32), new_failed]) == new_failed


@pytest.mark.parametrize("want,state,present,outcome", [
    (Want.FINISHED, "FINISHED", True, Outcome.SUCCESS),
    (Want.FINISHED, "FAILED", True, Outcome.FAILURE),
    (Want.FINISHED, "RUNNING", True, Outcome.WAIT),
    (Want.RUNNING, "RUNNING", True, Outcome.SUCCESS),
    (Want.RUNNING, None, True, Outcome.WAIT),
    (Want.RUNNING, None, False, Outcome.FAILURE),
])
def test_check_job_round_trips_through_the_trigger_event(want, state, present, outcome):
    check = check_job("c", want, job(state) if state else None, present, root_cause="boom" if state else None)
    assert check.outcome is outcome and check.done is (outcome is not Outcome.WAIT)
    event = json.loads(json.dumps(check.to_event()))  # a wire format: plain JSON only
    assert JobCheck.from_event(event) == check
    assert check.status == (state or ("STARTING" if outcome is Outcome.WAIT else "MISSING"))


@pytest.mark.parametrize("kind,outcome,timed_out,delete,clean,fails", [
    ("batch", Outcome.SUCCESS, False, True, True, False),
    ("batch", Outcome.FAILURE, False, True, True, True),
    ("batch", Outcome.FAILURE, False, False, False, True),
    ("batch", Outcome.WAIT, True, True, False, True),  # may still run: the retry re-attaches
    ("streaming", Outcome.SUCCESS, False, True, False, False),
    ("streaming", Outcome.FAILURE, False, True, False, True),
])
def test_after_wait(kind, outcome, timed_out, delete, clean, fails):
    check = JobCheck("c", Want.RUNNING, outcome, "job ended FAILED", "j1", "FAILED", root_cause="NPE")
    verdict = after_wait(kind, check, timed_out, delete, "nightly")
    assert verdict.clean_up is clean and (verdict.failure is not None) is fails
    if fails and not timed_out:
        assert "Root cause: NPE" in verdict.failure and "nightly" in verdict.failure


# -- plans ------------------------------------------------------------------------------------------------------

def test_plan_submit():
    batch = plan_submit("b-1", "batch", False, "ns")
    assert batch.kinds == (StepKind.DELETE_HA_CONFIGMAPS, StepKind.SUBMIT) and not batch.uses_ledger
    again = plan_submit("b-1", "batch", True, "ns")
    assert again.outcome is PlanOutcome.REATTACH and again.steps == () and "attaching" in again.message
    assert plan_submit("s", "streaming", False, "ns").kinds == (StepKind.SUBMIT,)
    with pytest.raises(Refused, match="flink_streaming_redeploy") as err:
        plan_submit("s", "streaming", True, "ns")
    assert err.value.code == "already_runs"


def test_plan_cleanup_stops_the_jobmanager_first():
    assert plan_cleanup("c").kinds == (StepKind.DELETE_DEPLOYMENT, StepKind.WAIT_CLUSTER_GONE,
                                       StepKind.DELETE_HA_CONFIGMAPS)


def test_plan_stop():
    plan = plan_stop("c", job("RUNNING"), RedeployProgress(), None, default_dir="hdfs:///sp")
    (step,) = plan.steps
    assert plan.action is Action.STOP and plan.uses_ledger and plan.keeps_progress
    assert step.kind is StepKind.STOP_WITH_SAVEPOINT and step.savepoint_dir == "hdfs:///sp"
    assert not step.savepoint_dir_explicit and step.trigger_id is None
    explicit = plan_stop("c", job("RUNNING"), RedeployProgress(), "s3://x", drain=True).steps[0]
    assert explicit.savepoint_dir == "s3://x" and explicit.savepoint_dir_explicit and explicit.drain
    pending = plan_stop("c", job("RUNNING"), RedeployProgress(savepoint_trigger_id="t1"), None).steps[0]
    assert pending.trigger_id == "t1"  # polled, never triggered twice
    for seen in (None, job("CANCELED"), job("RESTARTING")):
        with pytest.raises(Refused, match="nothing stopped"):
            plan_stop("c", seen, RedeployProgress(), None)


def test_plan_cancel():
    with pytest.raises(Refused, match="allow_state_loss"):
        plan_cancel("c", "streaming", False, job("RUNNING"), "stream")
    for flag in (False, "true", 1, None):  # only the boolean True consents
        with pytest.raises(Refused, match="discards its state"):
            refuse_state_loss("streaming", flag, "stream")  # type: ignore[arg-type]
    refuse_state_loss("streaming", True, "stream")
    refuse_state_loss("batch", False, "nightly")
    assert plan_cancel("c", "streaming", True, job("RUNNING"), "s").kinds == (StepKind.CANCEL_JOB,)
    assert plan_cancel("c", "batch", False, job("RUNNING"), "b").steps[0].job_id == "a" * 32
    for seen in (None, job("FINISHED")):
        assert plan_cancel("c", "batch", False, seen, "b").outcome is PlanOutcome.NOTHING_TO_DO


def test_format_command_one_option_per_line():
    text = format_command(["flink", "run-application", "--target", "kubernetes-application", "-Da=b",
                           "-s", "file:///sp", "local:///x.jar", "--rate", "20"])
    assert text.split(" \\\n    ") == ["flink run-application", "--target kubernetes-application", "-Da=b",
                                       "-s file:///sp", "local:///x.jar", "--rate 20"]


# -- the ledger ------------------------------------------------------------------------------------------------

def test_ledger_round_trip_keeps_every_field_and_other_keys():
    led = L.JobLedger(
        progress=RedeployProgress("t", "file:///sp/1", True, Restore.HA_CHECKPOINT),
        savepoints=(L.SavepointRecord("file:///sp/1", T, SavepointSource.STOP),),
        releases=(L.ReleaseRecord("42", "c", image="img:42", started_at=T, outcome="success"),),
        holder=L.Holder("run", Action.REDEPLOY, T, T + timedelta(minutes=5)))
    data = L.serialize_ledger(led, {"note": "kept", "progress": "{}"})
    assert set(data) == {"note", "ledger"}
    assert L.parse_ledger(data) == led


def test_schema_1_is_read_as_it_was_written():
    data = {"progress": json.dumps({"savepoint_trigger_id": "t", "savepoint_path": "p", "submit_started": True,
                                    "submitted_restore": "savepoint"}),
            "savepoints": json.dumps([["p", T.isoformat()], ["q", "not a time"], 7, ["p", T.isoformat()]])}
    led = L.parse_ledger(data)
    assert led.schema_version == 1
    assert led.progress == RedeployProgress("t", "p", True, Restore.SAVEPOINT)
    assert led.savepoints == (L.SavepointRecord("p", T), L.SavepointRecord("q", None))
    assert led.problems == ("savepoints: entry '7' skipped",)
    assert [s.path for s in led.newest_first()] == ["p", "q"]


@pytest.mark.parametrize("data", [None, {}, {"ledger": "{"}, {"ledger": "[]"}, {"savepoints": "{}"},
                                  {"ledger": json.dumps({"holder": {"run_id": 1}, "releases": [{}]})}])
def test_unreadable_ledgers_are_empty_never_an_error(data):
    led = L.parse_ledger(data)
    assert led.progress == RedeployProgress() and led.savepoints == () and led.holder is None


def test_hold_is_exclusive_until_it_lapses_and_renewed_by_writes():
    free = L.JobLedger()
    held = L.acquire(free, "c", "run-1", Action.REDEPLOY, T, timedelta(minutes=10))
    assert held.holder.run_id == "run-1"
    with pytest.raises(JobHeld, match="held by run 'run-1'.*run 'run-2' refused"):
        L.acquire(held, "c", "run-2", Action.STOP, T + timedelta(minutes=9), timedelta(minutes=10))
    renewed = L.extend(held, "run-1", T + timedelta(minutes=9), timedelta(minutes=10))
    with pytest.raises(JobHeld):
        L.acquire(renewed, "c", "run-2", Action.STOP, T + timedelta(minutes=15), timedelta(minutes=10))
    taken = L.acquire(held, "c", "run-2", Action.STOP, T + timedelta(minutes=11), timedelta(minutes=10))
    assert taken.holder.run_id == "run-2"
    assert L.acquire(held, "c", "run-1", Action.REDEPLOY, T + timedelta(minutes=1), timedelta(minutes=10)
                     ).holder.since == T  # the same run re-acquires
    assert L.release_hold(held, "run-2") == held and L.release_hold(held, "run-1").holder is None


def test_savepoint_history_and_release_history_updates():
    led = L.remember_savepoint(L.JobLedger(), "a", T)
    assert L.remember_savepoint(led, "a", T + timedelta(1)) == led  # once per path
    led = L.remember_savepoint(led, "b", T, SavepointSource.STOP)
    assert L.forget_savepoints(led, ["a"]).savepoint_paths() == ("b",)
    for n in range(L.RELEASES_KEPT + 5):
        led = L.add_release(led, L.ReleaseRecord(str(n), "c"))
    assert len(led.releases) == L.RELEASES_KEPT and led.releases[-1].release == str(L.RELEASES_KEPT + 4)
