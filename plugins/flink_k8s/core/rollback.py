"""Automatic rollback (pure): should this DAG run roll its release back, to what, from which savepoint, and what
does the run's last task say.

Why pure and here: the rule has to be the same whether the redeploy failed in `execute` or the new release
timed out in `healthy`, and whether the rollback starts fresh or a re-run continues it. Inputs are the job's
catalogue entry, its ledger (release history, read once) and why the new release was judged unhealthy; the
answer is a frozen decision. The rollback target is the newest earlier release that succeeded; it is restored
from the savepoint this run took of it before the upgrade — never from a state the new release may have
written (its checkpoints, its HA pointers): that state is discarded, deliberately and said so in the log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from flink_k8s.core.catalogue_schema import JobSpec
from flink_k8s.core.ledger import (
    JobLedger,
    ReleaseAction,
    ReleaseOutcome,
    ReleaseRecord,
    forward_release,
    release_of,
)
from flink_k8s.core.references import release as check_release
from flink_k8s.core.validation import Invalid


class RollbackKind(StrEnum):
    ROLL_BACK = "roll back"  # restore the previous release now
    RESUME = "resume"  # this run's rollback started earlier and did not finish: continue it
    ALREADY_DONE = "already done"  # this run's rollback succeeded (a cleared task re-runs): nothing to do
    NOTHING_DEPLOYED = "nothing deployed"  # this run did not replace the running release: nothing to undo
    DISABLED = "disabled"  # catalogue rollback.enabled is false
    NO_PREVIOUS = "no previous release"  # first deployment, or no earlier release succeeded
    REFUSED = "refused"  # a rollback would not be safe: nothing is touched, the message says what to do

    @property
    def acts(self) -> bool:
        return self in (RollbackKind.ROLL_BACK, RollbackKind.RESUME)


@dataclass(frozen=True)
class RollbackDecision:
    kind: RollbackKind
    message: str
    failed: ReleaseRecord | None = None  # the release being rolled back
    target: ReleaseRecord | None = None  # the release restored (for RESUME: this run's rollback entry)
    savepoint: str | None = None  # restore point; None with ROLL_BACK/RESUME = empty state (allow_state_loss)
    reason: str = ""  # why the new release was judged unhealthy


def decide_rollback(job: JobSpec, ledger: JobLedger, dag_run_id: str, unhealthy_because: str) -> RollbackDecision:
    """The rollback for `dag_run_id`, whose new release did not become HEALTHY in time (`unhealthy_because`:
    the health verdict seen now). Order: a rollback of this run already under way or done; what this run
    deployed; the catalogue switch; the target; the restore point."""
    cluster_id = job.cluster_id or job.name
    earlier = release_of(ledger, dag_run_id, ReleaseAction.ROLLBACK.value)
    forward = forward_release(ledger, dag_run_id)
    reason = _reason(forward, unhealthy_because)
    if earlier is not None:
        if earlier.outcome == ReleaseOutcome.SUCCEEDED:
            return RollbackDecision(RollbackKind.ALREADY_DONE, f"{job.name}: this run already rolled back to release "
                                    f"{earlier.release}; nothing to do", forward, earlier, earlier.savepoint_taken,
                                    reason)
        return RollbackDecision(RollbackKind.RESUME, f"{job.name}: continuing this run's rollback to release "
                                f"{earlier.release} from {earlier.savepoint_taken or 'empty state'}", forward, earlier,
                                earlier.savepoint_taken, reason)
    if forward is None:
        return RollbackDecision(RollbackKind.NOTHING_DEPLOYED, f"{job.name}: this run deployed nothing (it failed or "
                                "was refused before its redeploy started); nothing to roll back, nothing touched")
    new = forward.release
    if forward.action == ReleaseAction.DEPLOY.value:
        return RollbackDecision(RollbackKind.NO_PREVIOUS, f"{job.name}: release {new} was the job's first deployment; "
                                "there is no earlier release to roll back to. It is left as it is", forward,
                                reason=reason)
    if not job.rollback.enabled:
        return RollbackDecision(RollbackKind.DISABLED, f"{job.name}: automatic rollback is off (catalogue "
                                "rollback.enabled: false); release " f"{new} is left as it is", forward, reason=reason)
    if forward.savepoint_taken is None and forward.restore_source is None and forward.upgrade_mode == "savepoint":
        return RollbackDecision(RollbackKind.NOTHING_DEPLOYED, f"{job.name}: the redeploy to {new} failed before it "
                                "stopped the running release (no savepoint was taken, nothing was submitted): the "
                                "running release was not replaced; nothing to roll back, nothing touched",
                                forward, reason=reason)
    target = _previous(ledger, forward)
    if target is None:
        return RollbackDecision(RollbackKind.NO_PREVIOUS, f"{job.name}: no release before {new} succeeded in the "
                                "history (the last 50 are kept); nothing to roll back to. Release "
                                f"{new} is left as it is", forward, reason=reason)
    problem = _unusable(job, cluster_id, target)
    if problem:
        return RollbackDecision(RollbackKind.REFUSED, f"{job.name}: cannot roll back to release {target.release!r} "
                                f"from the history: {problem}. Nothing was touched: release {new} is left as it is. "
                                f"{_by_hand(job, target.release, forward.savepoint_taken)}", forward, target,
                                reason=reason)
    if forward.savepoint_taken is None and not job.rollback.allow_state_loss:
        return RollbackDecision(RollbackKind.REFUSED, f"{job.name}: cannot roll back to release {target.release}: "
                                f"the redeploy to {new} (mode {forward.upgrade_mode}) took no savepoint of "
                                f"{target.release}, and any later state may have been written by {new}. Nothing was "
                                f"touched. Set rollback.allow_state_loss: true to roll back with empty state, or "
                                f"redeploy by hand from a savepoint you choose. {_by_hand(job, target.release, None)}",
                                forward, target, reason=reason)
    source = forward.savepoint_taken or "EMPTY state (rollback.allow_state_loss)"
    return RollbackDecision(RollbackKind.ROLL_BACK, f"{job.name}: rolling back release {new} to {target.release}, "
                            f"restoring {source}; whatever {new} wrote to state is discarded", forward, target,
                            forward.savepoint_taken, reason)


def rollback_record(decision: RollbackDecision, dag_run_id: str, now: datetime) -> ReleaseRecord:
    """The history entry of a rollback about to run (restore point recorded before anything changes)."""
    target = decision.target
    assert target is not None and decision.kind.acts
    return ReleaseRecord(release=target.release, cluster_id=target.cluster_id, image=target.image,
                         flink_version=target.flink_version,
                         upgrade_mode="savepoint" if decision.savepoint else "stateless",
                         restore_source=decision.savepoint or "none", savepoint_taken=decision.savepoint,
                         dag_run_id=dag_run_id, started_at=now, action=ReleaseAction.ROLLBACK.value,
                         parallelism=target.parallelism)


def mark_unhealthy(ledger: JobLedger, dag_run_id: str, reason: str, when: datetime) -> JobLedger:
    """The run's new release did not become HEALTHY: its entry says `failed` and why (a failure the executor
    recorded keeps its own reason)."""
    from flink_k8s.core.ledger import finish_release

    forward = forward_release(ledger, dag_run_id)
    if forward is None or forward.outcome in (ReleaseOutcome.FAILED, ReleaseOutcome.ROLLED_BACK):
        return ledger
    return finish_release(ledger, dag_run_id, forward.action, ReleaseOutcome.FAILED, forward.ended_at or when,
                          reason)


@dataclass(frozen=True)
class RunOutcome:
    """What the redeploy run's last task reports: `failed` fails the run with `message`."""

    failed: bool
    message: str


def run_outcome(job: JobSpec, ledger: JobLedger, dag_run_id: str, healthy: bool, note: str | None = None
                ) -> RunOutcome:
    """The run's verdict from its release entries: healthy → success; rolled back → failed, naming both releases,
    the savepoint and why; a rollback that did not finish → failed with the state and how to resume; otherwise
    failed with why and why there was no rollback (`note`, the rollback task's decision)."""
    forward = forward_release(ledger, dag_run_id)
    back = release_of(ledger, dag_run_id, ReleaseAction.ROLLBACK.value)
    if healthy and back is None:
        release = forward.release if forward else "(unchanged)"
        return RunOutcome(False, f"{job.name}: release {release} is HEALTHY")
    if forward is None:
        return RunOutcome(True, f"{job.name}: this run deployed nothing (it failed or was refused before its "
                          "redeploy started; see the failed task). " + (note or ""))
    why = forward.reason or "not HEALTHY in time"
    if back is not None and back.outcome == ReleaseOutcome.SUCCEEDED:
        return RunOutcome(True, f"{job.name}: ROLLED BACK release {forward.release} to {back.release}. "
                          f"{forward.release} was judged unhealthy (not HEALTHY within {job.rollback.healthy_within}): "
                          f"{why}. Release {back.release} runs again, restored from "
                          f"{_restore_text(back)} taken before the upgrade; the state {forward.release} wrote was "
                          f"discarded. Fix {forward.release}, then redeploy")
    if back is not None:
        return RunOutcome(True, f"{job.name}: the rollback of release {forward.release} to {back.release} did not "
                          f"complete ({back.reason or back.outcome}). {forward.release} was judged unhealthy: {why}. "
                          f"Nothing more was touched. {resume_hint(job, back.release, back.savepoint_taken)}")
    return RunOutcome(True, f"{job.name}: release {forward.release} failed: {why}. Not rolled back: "
                      f"{note or 'see the rollback task'}")


def resume_hint(job: JobSpec, release: str, savepoint: str | None) -> str:
    """How to continue a rollback that stopped: clear its task (it resumes from the ledger) or redeploy the
    release from the savepoint by hand — the exact command."""
    return ("To resume: clear the task `rollback` of this run (it continues from the job's ledger), or run "
            + _by_hand(job, release, savepoint).removeprefix("Redeploy by hand: "))


def _by_hand(job: JobSpec, release: str, savepoint: str | None) -> str:
    conf = f'"job": "{job.name}", "release": "{release}", "upgrade_mode": "savepoint"'
    if savepoint:
        conf += f', "restore_from": "{savepoint}", "allow_state_loss": true'
    return f"Redeploy by hand: airflow dags trigger flink_streaming_redeploy --conf '{{{conf}}}'"


def _restore_text(record: ReleaseRecord) -> str:
    return f"savepoint {record.savepoint_taken}" if record.savepoint_taken else "EMPTY state (allow_state_loss)"


def _reason(forward: ReleaseRecord | None, unhealthy_because: str) -> str:
    if forward is not None and forward.reason:
        return forward.reason
    return unhealthy_because


def _previous(ledger: JobLedger, forward: ReleaseRecord) -> ReleaseRecord | None:
    index = max(i for i, r in enumerate(ledger.releases) if r is forward)
    return next((r for r in reversed(ledger.releases[:index]) if r.outcome == ReleaseOutcome.SUCCEEDED), None)


def _unusable(job: JobSpec, cluster_id: str, target: ReleaseRecord) -> str | None:
    """Why a history entry cannot be deployed again with today's catalogue (None: it can)."""
    try:
        check_release(target.release)
    except Invalid as exc:
        return f"its release is not a valid release ({exc}); the history entry may have been edited"
    if target.cluster_id != cluster_id:
        return f"it ran on cluster {target.cluster_id!r}, the catalogue now names {cluster_id!r}"
    if target.flink_version and target.flink_version != job.flink_version:
        return (f"it ran Flink {target.flink_version}, the catalogue now renders Flink {job.flink_version} (its keys "
                "and savepoint format may not match that image)")
    return None
