"""The one executor of lifecycle plans: a table from step kind to one small handler.

Every action (submit, stop, cancel, clean-up, redeploy, rollback) is an `ActionPlan` decided in `core/`; this
module only carries it out. Each handler is idempotent (a re-run re-observes, re-plans and skips what is done),
returns a typed `StepResult` whose `line()` is the step's done line, and records into the job's ledger
(`LedgerSession`) before every step that changes the world. Adding a step kind is the planner, one handler here
and their tests.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from flink_k8s.core import ledger as L
from flink_k8s.core.lifecycle import ActionPlan, PlanOutcome
from flink_k8s.core.redeploy import Restore, Step, StepKind
from flink_k8s.core.retention import Savepoint, select_for_disposal

if TYPE_CHECKING:  # pragma: no cover
    from flink_k8s.control_plane import FlinkControlPlane
    from flink_k8s.core.catalogue import JobSpec
    from flink_k8s.ledger_store import LedgerSession

log = logging.getLogger(__name__)


class ExecutionError(RuntimeError):
    """A step could not complete; the message says what was observed and what to do."""


@dataclass(frozen=True)
class StepResult:
    kind: StepKind
    seconds: float = 0.0
    savepoint: str | None = None
    job_id: str | None = None
    checkpoint: int | None = None
    restored_from: str | None = None
    removed: tuple[str, ...] = ()  # HA ConfigMaps deleted, job-graph keys removed, savepoints disposed

    def line(self) -> str:
        """What the step did, in figures: the task log's done line."""
        parts = [f"done {self.kind.value} in {self.seconds:.1f} s"]
        if self.savepoint:
            parts.append(f"savepoint {self.savepoint}")
        if self.kind is StepKind.SUBMIT:
            parts.append(f"restoring {self.restored_from}" if self.restored_from else "with empty state")
        if self.job_id:
            parts.append(f"job {self.job_id}")
        if self.checkpoint is not None:
            parts.append(f"checkpoint {self.checkpoint}")
        if self.kind in (StepKind.DELETE_HA_CONFIGMAPS, StepKind.STRIP_JOB_GRAPH, StepKind.DISPOSE_OLD_SAVEPOINTS):
            parts.append(f"removed {len(self.removed)}" + (f": {', '.join(self.removed)}" if self.removed else ""))
        return "; ".join(parts)


@dataclass(frozen=True)
class ActionResult:
    """What an action did: one StepResult per step, in order."""

    plan: ActionPlan
    steps: tuple[StepResult, ...] = ()

    @property
    def savepoint(self) -> str | None:
        return next((s.savepoint for s in self.steps if s.savepoint is not None), None)

    @property
    def job_id(self) -> str | None:
        return next((s.job_id for s in self.steps if s.job_id is not None), None)

    def of(self, kind: StepKind) -> StepResult | None:
        return next((s for s in self.steps if s.kind is kind), None)

    def summary(self) -> dict[str, Any]:
        """The redeploy's XCom `return_value` (plain JSON; the keys the DAG and its users read)."""
        p = self.plan.redeploy
        out: dict[str, Any] = {"cluster_id": self.plan.cluster_id, "steps": [k.value for k in self.plan.kinds]}
        if p is not None:
            out |= {"mode": p.effective_mode.value, "restore": p.restore.value, "safety": p.safety.value}
        if self.savepoint:
            out["savepoint"] = self.savepoint
        if (sub := self.of(StepKind.SUBMIT)) is not None:
            out |= {"restored_from": sub.restored_from, "submit_seconds": round(sub.seconds, 3)}
        for kind, key in ((StepKind.DELETE_HA_CONFIGMAPS, "ha_configmaps_deleted"),
                          (StepKind.STRIP_JOB_GRAPH, "job_graph_keys_removed"),
                          (StepKind.DISPOSE_OLD_SAVEPOINTS, "disposed_savepoints")):
            if (r := self.of(kind)) is not None:
                out[key] = list(r.removed)
        if self.job_id:
            out["job_id"] = self.job_id
        if (cp := self.of(StepKind.WAIT_FIRST_CHECKPOINT)) is not None:
            out["first_checkpoint"] = cp.checkpoint
        return out


@dataclass
class Run:
    """One execution's inputs and what earlier steps left for later ones."""

    cp: FlinkControlPlane
    plan: ActionPlan
    job: JobSpec | None = None
    release: str | None = None
    parallelism: int | None = None
    extra_conf: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 600
    session: LedgerSession | None = None
    logger: logging.Logger = log
    restored_checkpoint: int | None = None
    release_run: str | None = None  # the DAG run whose release-history entry this action completes (None: none)
    release_action: str | None = None  # that entry's action (L.ReleaseAction value)
    wait_timeout: float | None = None  # the waits after SUBMIT (a rollback-enabled job's healthy_within)

    @property
    def cluster_id(self) -> str:
        return self.plan.cluster_id

    @property
    def progress(self) -> Any:
        return self.session.ledger.progress if self.session else L.JobLedger().progress

    def record(self, change: Callable[[L.JobLedger], L.JobLedger]) -> None:
        if self.session is not None:
            self.session.commit(change)

    def history(self, led: L.JobLedger, **changes: Any) -> L.JobLedger:
        """`led` with this action's release-history entry changed (folded into the step's own write)."""
        return L.update_release(led, self.release_run, self.release_action, **changes)


Handler = Callable[[Run, Step], StepResult]


def _savepoint(run: Run, step: Step) -> StepResult:
    if step.job_id is None:
        raise ExecutionError(f"{step.kind.value}: the plan names no job to take the savepoint of")
    trigger = step.trigger_id or run.progress.savepoint_trigger_id or uuid.uuid4().hex
    if step.kind is StepKind.STOP_WITH_SAVEPOINT and step.trigger_id is None:
        run.record(lambda led: L.with_progress(led, replace(led.progress, savepoint_trigger_id=trigger,
                                                            savepoint_path=None)))  # before: a crash can poll it
        with run.cp.rest(run.cluster_id) as rest:
            target = step.savepoint_dir if step.savepoint_dir_explicit or not run.cp.has_savepoint_dir(rest) \
                else None
            rest.trigger_stop_with_savepoint(step.job_id, target, trigger_id=trigger, drain=step.drain)
    with run.cp.rest(run.cluster_id) as rest:
        path = rest.wait_for_savepoint(step.job_id, trigger, run.timeout)
    source = L.SavepointSource.STOP if run.plan.action is L.Action.STOP else L.SavepointSource.REDEPLOY
    now = run.cp.clock()
    taken = {"savepoint_taken": path} if run.release_action == L.ReleaseAction.REDEPLOY else {}
    run.record(lambda led: run.history(L.remember_savepoint(L.with_progress(led, replace(
        led.progress, savepoint_path=path)), path, now, source), **taken))  # history sees it before retention runs
    return StepResult(step.kind, savepoint=path)


def _delete_deployment(run: Run, step: Step) -> StepResult:
    run.cp.shut_down(run.cluster_id, run.timeout)
    return StepResult(step.kind)


def _wait_gone(run: Run, step: Step) -> StepResult:
    run.cp.kube.wait_gone(run.cluster_id, run.timeout)
    return StepResult(step.kind)


def _delete_ha(run: Run, step: Step) -> StepResult:
    return StepResult(step.kind, removed=tuple(run.cp.kube.delete_ha_configmaps(run.cluster_id)))


def _strip_job_graph(run: Run, step: Step) -> StepResult:
    removed = tuple(run.cp.kube.strip_job_graph(run.cluster_id))
    _check_checkpoint_still_there(run, step)
    return StepResult(step.kind, removed=removed)


def _submit(run: Run, step: Step) -> StepResult:
    if run.job is None:
        raise ExecutionError(f"plan of {run.cluster_id} submits but no job spec was given")
    _check_checkpoint_still_there(run, step)
    savepoint = step.savepoint_path or (run.progress.savepoint_path if step.restore in
                                        (Restore.SAVEPOINT, Restore.CHECKPOINT_PATH) else None)
    if step.restore is Restore.SAVEPOINT and not savepoint:
        raise ExecutionError(f"plan restores a savepoint but none was recorded for {run.cluster_id}")
    source = savepoint or (f"ha-checkpoint {step.min_checkpoint_id}" if step.restore is Restore.HA_CHECKPOINT
                           else "none")
    run.record(lambda led: run.history(L.with_progress(led, replace(led.progress, submit_started=True,
                                                                    submitted_restore=step.restore)),
                                       restore_source=source))
    argv = run.cp.prepare_submit(run.job, run.release, savepoint=savepoint, cluster_id=run.cluster_id,
                                 parallelism=run.parallelism, extra_conf=run.extra_conf)
    run.logger.info("Submit command for %s:\n  %s", run.cluster_id, run.cp.show_command(argv))
    result = run.cp.run_cli(argv, run.timeout)
    run.restored_checkpoint = step.min_checkpoint_id
    if result.web_interface_url:
        run.logger.info("Submitted %s: %s", run.cluster_id, result.web_interface_url)
    return StepResult(step.kind, restored_from=savepoint or (f"HA checkpoint {step.min_checkpoint_id}"
                                                             if step.restore is Restore.HA_CHECKPOINT else None))


def _wait_running(run: Run, step: Step) -> StepResult:
    return StepResult(step.kind, job_id=run.cp.wait_running(run.cluster_id, run.wait_timeout or run.timeout).job_id)


def _wait_first_checkpoint(run: Run, step: Step) -> StepResult:
    return StepResult(step.kind, checkpoint=run.cp.wait_first_checkpoint(run.cluster_id, run.restored_checkpoint,
                                                                          run.wait_timeout or run.timeout))


def _dispose(run: Run, step: Step) -> StepResult:
    from flink_k8s.clients.flink_rest import FlinkRestError

    restored = run.progress.savepoint_path  # resumed runs: the savepoint restored from counts as the newest
    if restored:
        now = run.cp.clock()
        run.record(lambda led: L.remember_savepoint(led, restored, now, L.SavepointSource.RESTORED))
    ledger = run.session.ledger if run.session else L.JobLedger()
    name = run.job.name if run.job else run.cluster_id
    history = [Savepoint(name, s.path, s.created_at or run.cp.clock()) for s in ledger.savepoints]
    keep = step.keep or (run.job.savepoints_to_keep if run.job else None) or 1
    disposed = []
    with run.cp.rest(run.cluster_id) as rest:
        for sp in select_for_disposal(history, keep, protected=[restored] if restored else ()):
            try:
                rest.dispose_savepoint(sp.path)
            except FlinkRestError as exc:
                run.logger.warning("could not dispose savepoint %s: %s", sp.path, str(exc).splitlines()[0][:300])
                continue
            disposed.append(sp.path)
    if disposed:
        run.record(lambda led: L.forget_savepoints(led, disposed))
    return StepResult(step.kind, removed=tuple(disposed))


def _cancel(run: Run, step: Step) -> StepResult:
    with run.cp.rest(run.cluster_id) as rest:
        rest.cancel(step.job_id or "")
    return StepResult(step.kind, job_id=step.job_id)


def _check_checkpoint_still_there(run: Run, step: Step) -> None:
    if step.min_checkpoint_id is None:
        return
    found = run.cp.ha_latest_checkpoint(run.cluster_id)
    if found is None or found < step.min_checkpoint_id:
        raise ExecutionError(f"HA checkpoint {step.min_checkpoint_id} of {run.cluster_id} is no longer in the HA "
                             f"ConfigMaps (found {found}); refusing to submit without state")


HANDLERS: dict[StepKind, Handler] = {
    StepKind.STOP_WITH_SAVEPOINT: _savepoint,
    StepKind.AWAIT_SAVEPOINT: _savepoint,
    StepKind.DELETE_DEPLOYMENT: _delete_deployment,
    StepKind.WAIT_CLUSTER_GONE: _wait_gone,
    StepKind.DELETE_HA_CONFIGMAPS: _delete_ha,
    StepKind.STRIP_JOB_GRAPH: _strip_job_graph,
    StepKind.SUBMIT: _submit,
    StepKind.WAIT_RUNNING: _wait_running,
    StepKind.WAIT_FIRST_CHECKPOINT: _wait_first_checkpoint,
    StepKind.DISPOSE_OLD_SAVEPOINTS: _dispose,
    StepKind.CANCEL_JOB: _cancel,
}


def execute(run: Run, on_step: Callable[[Step, StepResult | None], None] = lambda step, result: None
            ) -> ActionResult:
    """Run the plan's steps in order through HANDLERS; then close the ledger session (progress cleared unless
    the plan keeps it, the hold given back). On failure the hold is given back and the progress kept, so a
    re-run resumes from what was recorded."""
    if run.plan.outcome is not PlanOutcome.PROCEED:
        run.logger.info("%s", run.plan.message)
        return ActionResult(run.plan)
    done: list[StepResult] = []
    try:
        for step in run.plan.steps:
            on_step(step, None)
            started = time.monotonic()
            result = replace(HANDLERS[step.kind](run, step), seconds=time.monotonic() - started)
            done.append(result)
            on_step(step, result)
    except L.JobHeld:
        raise
    except BaseException as exc:
        if run.session is not None:
            failed_at = run.cp.clock()
            reason = _first_line(exc)
            run.session.end(lambda led: L.finish_release(led, run.release_run, run.release_action,
                                                         L.ReleaseOutcome.FAILED, failed_at, reason))
        raise
    if run.session is not None:
        keep = run.plan.keeps_progress
        now = run.cp.clock()

        def close(led: L.JobLedger) -> L.JobLedger:
            path = led.progress.savepoint_path
            led = L.remember_savepoint(led, path, now) if path else led
            led = L.finish_release(led, run.release_run, run.release_action, L.ReleaseOutcome.SUCCEEDED, now)
            return led if keep else L.clear_progress(led)
        run.session.end(close)
    return ActionResult(run.plan, tuple(done))


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"[:500]
