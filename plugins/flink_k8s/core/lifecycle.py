"""Every lifecycle action as a plan (pure): submit, re-attach, stop with savepoint, cancel, batch clean-up,
and what a finished wait means. Redeploys are planned by `core.redeploy.plan_redeploy`; `plan_of_redeploy`
wraps that plan so one executor (`flink_k8s.executor`) carries out every action.

Why here: operators, sensors, triggers, the CLI and the UI plugin used to decide these things each by hand
(re-attach, "already runs", batch clean-up, the dict a wait returned). Now each question has one function,
plain data in, a frozen plan or result out, tested exhaustively in tests/test_lifecycle_plans.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from flink_k8s.core.errors import FlinkK8sError
from flink_k8s.core.job_wait import Outcome, Want, decide
from flink_k8s.core.ledger import Action
from flink_k8s.core.observations import JobFacts
from flink_k8s.core.redeploy import RedeployPlan, RedeployProgress, Restore, Step, StepKind


class PlanOutcome(StrEnum):
    PROCEED = "proceed"  # run the steps
    REATTACH = "reattach"  # the cluster of this run exists already: wait on it, submit nothing
    NOTHING_TO_DO = "nothing to do"


class Refused(FlinkK8sError, RuntimeError):
    """The action is refused before anything changes; `code` names the rule, the message the way out."""

    def __init__(self, code: str, message: str) -> None:
        self.code, self.message = code, message
        super().__init__(message)


@dataclass(frozen=True)
class ActionPlan:
    """What one action does to one cluster. `uses_ledger`: progress and savepoints go to the job's ledger (not
    for a batch job's per-run cluster); `keeps_progress`: the ledger's in-flight progress survives the action
    (a stop's savepoint is what the next redeploy restores)."""

    action: Action
    cluster_id: str
    steps: tuple[Step, ...]
    outcome: PlanOutcome = PlanOutcome.PROCEED
    message: str = ""
    uses_ledger: bool = True
    keeps_progress: bool = False
    redeploy: RedeployPlan | None = None

    @property
    def kinds(self) -> tuple[StepKind, ...]:
        return tuple(s.kind for s in self.steps)


# -- which job is "the" job of a cluster -------------------------------------------------------------------------

def current_job(jobs: Iterable[JobFacts]) -> JobFacts | None:
    """The application's job: an application cluster runs one; prefer a non-terminal one, then the newest."""
    found = list(jobs)
    if not found:
        return None
    live = [j for j in found if not j.terminal]
    return max(live or found, key=lambda j: j.start_time or datetime.min.replace(tzinfo=UTC))


# -- one poll of a wait ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class JobCheck:
    """One poll of a wait, decided by `core.job_wait.decide`; the sync path and the trigger both produce it."""

    cluster_id: str
    want: Want
    outcome: Outcome
    message: str
    job_id: str | None = None
    state: str | None = None
    start_time: datetime | None = None
    root_cause: str | None = None

    @property
    def done(self) -> bool:
        return self.outcome is not Outcome.WAIT

    @property
    def succeeded(self) -> bool:
        return self.outcome is Outcome.SUCCESS

    @property
    def status(self) -> str:
        """A job status for ResumableJobMixin: the Flink state, STARTING while waiting, MISSING when gone."""
        return self.state or ("STARTING" if self.outcome is Outcome.WAIT else "MISSING")

    def to_event(self) -> dict[str, Any]:
        """The trigger event's payload (a wire format: plain JSON values only)."""
        return {"cluster_id": self.cluster_id, "want": self.want.value, "outcome": self.outcome.value,
                "message": self.message, "job_id": self.job_id, "state": self.state,
                "start_time": self.start_time.isoformat() if self.start_time else None,
                "root_cause": self.root_cause, "done": self.done}

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> JobCheck:
        start = event.get("start_time")
        return cls(cluster_id=str(event.get("cluster_id") or ""), want=Want(event.get("want") or "terminal"),
                   outcome=Outcome(event.get("outcome") or "wait"), message=str(event.get("message") or ""),
                   job_id=event.get("job_id"), state=event.get("state"),
                   start_time=datetime.fromisoformat(start) if start else None, root_cause=event.get("root_cause"))


def check_job(cluster_id: str, want: Want, job: JobFacts | None, cluster_present: bool,
              rest_error: str | None = None, rest_refused: str | None = None,
              root_cause: str | None = None) -> JobCheck:
    decision = decide(want, job.state if job else None, cluster_present, rest_error, rest_refused)
    return JobCheck(cluster_id, want, decision.outcome, decision.message, job.job_id if job else None,
                    job.state if job else None, job.start_time if job else None, root_cause)


@dataclass(frozen=True)
class WaitVerdict:
    """After a wait: clean up the per-run batch cluster? fail with which message? (None: succeeded)."""

    clean_up: bool
    failure: str | None


def after_wait(kind: str, check: JobCheck, timed_out: bool, delete_batch_cluster: bool, job_name: str
               ) -> WaitVerdict:
    """A batch cluster is deleted whatever the outcome (never an orphan), except on a timeout (it may still be
    running: the retry re-attaches); a streaming cluster is never touched here."""
    clean = kind == "batch" and delete_batch_cluster and not timed_out
    if timed_out:
        return WaitVerdict(False, f"timed out waiting for {job_name} on cluster {check.cluster_id}: {check.message}")
    if not check.succeeded:
        cause = f"\nRoot cause: {check.root_cause}" if check.root_cause else ""
        return WaitVerdict(clean, f"Flink job {job_name} (cluster {check.cluster_id}, job {check.job_id}) "
                                  f"{check.message}{cause}")
    return WaitVerdict(clean, None)


def format_command(argv: list[str]) -> str:
    """An argv as the task log shows it: one option per line, an option's value on its line (`-s <path>`,
    `--target <t>`); `-Dkey=value` stands alone, so the jar after it starts its own line."""
    lines: list[str] = []
    for arg in argv:
        last = lines[-1] if lines else ""
        takes_value = last.startswith("-") and " " not in last and not (last.startswith("-D") and len(last) > 2)
        if lines and not arg.startswith("-") and (takes_value or len(lines) == 1):
            lines[-1] = f"{last} {arg}"
        else:
            lines.append(arg)
    return " \\\n    ".join(lines)


def want_of(kind: str) -> Want:
    return Want.FINISHED if kind == "batch" else Want.RUNNING


# -- plans -----------------------------------------------------------------------------------------------------------

def plan_submit(cluster_id: str, kind: str | None, cluster_exists: bool, namespace: str) -> ActionPlan:
    """Batch: re-attach to this run's cluster if it exists (a retry), else delete leftover HA maps and submit.
    Streaming: submit, or refuse if the cluster already runs (replacing it is a redeploy)."""
    if cluster_exists:
        if kind == "batch":
            return ActionPlan(Action.SUBMIT, cluster_id, (), PlanOutcome.REATTACH,
                              f"Cluster {cluster_id} of this run exists already: attaching, not submitting again",
                              uses_ledger=False)
        raise Refused("already_runs", f"cluster {cluster_id!r} already runs in namespace {namespace!r}: use the "
                      f"flink_streaming_redeploy DAG (FlinkRedeployOperator) to replace a streaming job")
    submit = Step(StepKind.SUBMIT, f"submit cluster {cluster_id}", restore=Restore.NONE)
    if kind == "batch":  # leftovers of an earlier try would resurrect its job graph
        clean = Step(StepKind.DELETE_HA_CONFIGMAPS, "delete leftover HA ConfigMaps of this run's cluster id")
        return ActionPlan(Action.SUBMIT, cluster_id, (clean, submit), uses_ledger=False)
    return ActionPlan(Action.SUBMIT, cluster_id, (submit,), uses_ledger=False)


def plan_cleanup(cluster_id: str) -> ActionPlan:
    """Delete a cluster: JobManager first, Deployment, wait until gone, HA ConfigMaps (idempotent)."""
    return ActionPlan(Action.CLEANUP, cluster_id, (
        Step(StepKind.DELETE_DEPLOYMENT, f"stop the JobManager, then delete Deployment {cluster_id}"),
        Step(StepKind.WAIT_CLUSTER_GONE, "wait until the Deployment and JobManager pods are gone"),
        Step(StepKind.DELETE_HA_CONFIGMAPS, "delete every HA ConfigMap of the cluster id")), uses_ledger=False)


def plan_stop(cluster_id: str, job: JobFacts | None, progress: RedeployProgress, savepoint_dir: str | None,
              drain: bool = False, default_dir: str | None = None) -> ActionPlan:
    """Stop the RUNNING job with a savepoint; the savepoint enters the ledger (history and the progress the next
    redeploy restores). A stop whose trigger was recorded but not its result is polled, never triggered twice.
    `savepoint_dir` None: the cluster's configured savepoint directory, else `default_dir` (the catalogue's)."""
    if job is None or job.state != "RUNNING":
        raise Refused("nothing_to_stop", f"no RUNNING job on cluster {cluster_id} (seen: "
                      f"{job.state if job else 'none'}); nothing stopped")
    pending = progress.savepoint_trigger_id if not progress.savepoint_path else None
    step = Step(StepKind.STOP_WITH_SAVEPOINT, f"stop job {job.job_id} with a savepoint"
                + (" (drain)" if drain else ""), job_id=job.job_id, trigger_id=pending,
                savepoint_dir=savepoint_dir or default_dir, savepoint_dir_explicit=savepoint_dir is not None,
                drain=drain)
    return ActionPlan(Action.STOP, cluster_id, (step,), keeps_progress=True)


def refuse_state_loss(kind: str | None, allow_state_loss: bool, job_name: str) -> None:
    """A cancel of a streaming job loses its state: `Refused` unless `allow_state_loss` is exactly True. Checked
    before anything is observed (bad input fails before any request)."""
    if kind == "streaming" and allow_state_loss is not True:
        raise Refused("state_loss_not_allowed", f"job {job_name!r}: cancelling a streaming job discards its state; "
                      f"use FlinkStopOperator (savepoint) or set allow_state_loss=True explicitly")


def plan_cancel(cluster_id: str, kind: str | None, allow_state_loss: bool, job: JobFacts | None,
                job_name: str) -> ActionPlan:
    """Cancel without a savepoint: refused for streaming jobs unless state loss is allowed explicitly."""
    refuse_state_loss(kind, allow_state_loss, job_name)
    if job is None or job.terminal:
        return ActionPlan(Action.CANCEL, cluster_id, (), PlanOutcome.NOTHING_TO_DO,
                          f"Nothing to cancel on {cluster_id} (job: {job.state if job else 'none'})",
                          uses_ledger=False)
    return ActionPlan(Action.CANCEL, cluster_id, (Step(StepKind.CANCEL_JOB, f"cancel job {job.job_id}",
                                                       job_id=job.job_id),), uses_ledger=False)


def plan_of_redeploy(plan: RedeployPlan, action: Action = Action.REDEPLOY) -> ActionPlan:
    return ActionPlan(action, plan.cluster_id, plan.steps, redeploy=plan)
