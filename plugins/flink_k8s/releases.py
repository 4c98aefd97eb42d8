"""Release history and automatic rollback: the redeploy that records its history entry, and the rollback of a
DAG run's unhealthy release.

Glue only: what to record and whether/where to roll back is decided in `core/ledger.py` and `core/rollback.py`;
the steps run through the same executor as every action (`flink_k8s.executor`), so a rollback is resumable
like a redeploy. A rollback is a redeploy of the previous release with an explicit restore path — the savepoint
taken before the upgrade — and never a stop-with-savepoint of the broken release: its state is discarded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from flink_k8s import executor
from flink_k8s.core import ledger as L
from flink_k8s.core.lifecycle import plan_of_redeploy
from flink_k8s.core.redeploy import (
    RedeployPlan,
    RedeployProgress,
    RedeployRequest,
    Safety,
    StepKind,
    UpgradeMode,
)
from flink_k8s.core.references import substitute_release
from flink_k8s.core.rollback import (
    RollbackDecision,
    RollbackKind,
    decide_rollback,
    mark_unhealthy,
    resume_hint,
    rollback_record,
)
from flink_k8s.core.validation import duration_seconds

if TYPE_CHECKING:  # pragma: no cover
    from flink_k8s.control_plane import FlinkControlPlane
    from flink_k8s.core.catalogue import JobSpec
    from flink_k8s.executor import ActionResult

log = logging.getLogger(__name__)


class RollbackFailed(RuntimeError):
    """The rollback stopped: the message says what state the job is in and the command to resume."""


@dataclass(frozen=True)
class RollbackResult:
    decision: RollbackDecision
    result: ActionResult | None = None

    def summary(self) -> dict[str, Any]:
        """The rollback task's XCom (plain JSON)."""
        d = self.decision
        out: dict[str, Any] = {"decision": d.kind.value, "message": d.message, "reason": d.reason,
                               "from_release": d.failed.release if d.failed else None,
                               "to_release": d.target.release if d.target else None, "savepoint": d.savepoint}
        return out | ({"steps": self.result.summary()} if self.result else {})


def healthy_within(job: JobSpec) -> float | None:
    """Seconds a new release has to become HEALTHY when rollback is on (None: rollback off, no bound)."""
    return duration_seconds(job.rollback.healthy_within) if job.rollback.enabled else None


def redeploy(cp: FlinkControlPlane, job: JobSpec, request: RedeployRequest, run_id: str, *,
             parallelism: int | None, timeout: float, logger: logging.Logger,
             show_plan: Callable[[RedeployPlan], None], dag_run_id: str | None) -> ActionResult:
    """Hold, plan, record the history entry (in-flight), execute; the executor completes the entry."""
    from flink_k8s.control_plane import hold_for, log_steps

    session = cp.ledger_store.begin(request.cluster_id, run_id, L.Action.REDEPLOY, hold_for(timeout))
    action: str | None = None
    try:
        plan = cp.plan_redeploy(request, session.ledger)
        show_plan(plan)
        if dag_run_id is not None:
            record = _record(job, request, plan, parallelism, dag_run_id, session.ledger.progress, cp)
            action = record.action
            session.commit(lambda led: L.start_release(led, record))
    except BaseException:
        session.end()
        raise
    return executor.execute(executor.Run(cp, plan_of_redeploy(plan), job, request.release, parallelism,
                                         timeout=timeout, session=session, logger=logger, release_run=dag_run_id,
                                         release_action=action, wait_timeout=healthy_within(job)),
                            log_steps(logger))


def _record(job: JobSpec, request: RedeployRequest, plan: RedeployPlan, parallelism: int | None, dag_run_id: str,
            progress: RedeployProgress, cp: FlinkControlPlane) -> L.ReleaseRecord:
    stops = {StepKind.STOP_WITH_SAVEPOINT, StepKind.AWAIT_SAVEPOINT} & set(plan.kinds)
    # Resuming from a savepoint recorded earlier (an interrupted redeploy, or FlinkStopOperator): that savepoint
    # is the old release's last state. With a stop step, the stop records the one it takes.
    taken = progress.savepoint_path if not stops and request.restore_from is None else None
    action = L.ReleaseAction.DEPLOY if plan.safety is Safety.FRESH_START else L.ReleaseAction.REDEPLOY
    return L.ReleaseRecord(
        release=request.release, cluster_id=request.cluster_id,
        image=substitute_release(job.image, request.release) if job.image else None,
        flink_version=job.flink_version, upgrade_mode=plan.effective_mode.value, savepoint_taken=taken,
        dag_run_id=dag_run_id, started_at=cp.clock(), action=action.value,
        parallelism=parallelism if parallelism is not None else job.parallelism)


def roll_back(cp: FlinkControlPlane, job: JobSpec, dag_run_id: str, run_id: str, *, timeout: float,
              logger: logging.Logger) -> RollbackResult:
    """Decide (pure), then redeploy the previous release from the pre-upgrade savepoint through the executor."""
    from flink_k8s.control_plane import hold_for, log_steps

    cluster_id = job.cluster_id or job.name
    report = cp.health(job)
    because = f"{report.verdict.name}: {report.summary}"
    decision = decide_rollback(job, cp.ledger(cluster_id), dag_run_id, because)  # a plain read: no hold, no write
    logger.info("Rollback decision: %s. %s", decision.kind.value, decision.message)
    if decision.kind in (RollbackKind.NOTHING_DEPLOYED, RollbackKind.ALREADY_DONE):
        return RollbackResult(decision)
    session = cp.ledger_store.begin(cluster_id, run_id, L.Action.ROLLBACK, hold_for(timeout))
    try:
        decision = decide_rollback(job, session.ledger, dag_run_id, because)  # again, now that the job is held
        now = cp.clock()
        if not decision.kind.acts:
            session.end(lambda led: mark_unhealthy(led, dag_run_id, decision.reason, now))
            return RollbackResult(decision)
        target = decision.target
        assert target is not None
        if decision.kind is RollbackKind.ROLL_BACK:
            entry = rollback_record(decision, dag_run_id, now)
            # The forward run's progress (its submit, its savepoint) is done with: the savepoint is in the history
            # entries and the savepoint list; the rollback records its own progress from here.
            session.commit(lambda led: L.start_release(L.with_progress(
                mark_unhealthy(led, dag_run_id, decision.reason, now), RedeployProgress()), entry))
        else:
            session.commit(lambda led: L.start_release(led, replace(target, ended_at=None)))
        request = RedeployRequest(
            cluster_id, target.release, UpgradeMode.SAVEPOINT if decision.savepoint else UpgradeMode.STATELESS,
            allow_state_loss=True, restore_from=decision.savepoint, target_image=target.image,
            savepoint_dir=job.savepoint_dir, keep_savepoints=None)
        plan = cp.plan_redeploy(request, session.ledger)
    except BaseException:
        session.end()
        raise
    new = decision.failed.release if decision.failed else "?"
    logger.warning("ROLLING BACK %s: release %s was not HEALTHY in time (%s). Restoring release %s from %s; the "
                   "state release %s wrote is DISCARDED (the broken release is not stopped with a savepoint).",
                   job.name, new, decision.reason, target.release, decision.savepoint or "EMPTY state", new)
    try:
        result = executor.execute(executor.Run(cp, plan_of_redeploy(plan, L.Action.ROLLBACK), job, target.release,
                                               target.parallelism, timeout=timeout, session=session, logger=logger,
                                               release_run=dag_run_id, release_action=L.ReleaseAction.ROLLBACK.value,
                                               wait_timeout=healthy_within(job)),
                                  log_steps(logger))
    except L.JobHeld:
        raise
    except Exception as exc:
        raise RollbackFailed(f"rollback of {job.name} from release {new} to {target.release} failed: "
                             f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}. It "
                             f"stopped there and touched nothing more. The job now: {_state(cp, cluster_id)}. "
                             f"{resume_hint(job, target.release, decision.savepoint)}") from exc
    logger.info("Rolled back %s to release %s (restored %s)", job.name, target.release,
                decision.savepoint or "empty state")
    return RollbackResult(decision, result)


def current_releases(cp: FlinkControlPlane, jobs: Iterable[JobSpec]) -> dict[str, str]:
    """What the health monitor logs per job: the newest release that succeeded, or why there is none."""
    out = {}
    for job in jobs:
        try:
            ledger = cp.ledger(job.cluster_id or job.name)
        except Exception as exc:  # the monitor's verdicts must not depend on the history being readable
            out[job.name] = f"unknown (ledger not readable: {str(exc)[:200]})"
            continue
        current = L.current_release(ledger)
        newest = ledger.releases[-1] if ledger.releases else None
        if current is None:
            out[job.name] = "none recorded (deployed before release history, or never deployed by this project)"
            continue
        text = (f"release {current.release} (image {current.image or '-'}, {current.action or 'deploy'} "
                f"{current.ended_at.isoformat(timespec='seconds') if current.ended_at else '-'})")
        if newest is not None and newest is not current:
            text += f"; newest entry: release {newest.release} {newest.outcome}"
        out[job.name] = text
    return out


def _state(cp: FlinkControlPlane, cluster_id: str) -> str:
    """A one-line account of the cluster, for a message a person acts on (never raises)."""
    try:
        obs = cp.observe(cluster_id)
    except Exception as exc:  # the message must still be given: say the state is unknown and why
        return f"unknown (could not observe cluster {cluster_id}: {str(exc)[:200]})"
    dep = obs.deployment
    parts = [f"cluster {cluster_id}: Deployment " + (f"present, image {dep.image}" if dep else "absent")]
    if obs.rest_error:
        parts.append(f"Flink REST unreachable ({obs.rest_error})")
    else:
        parts.append(f"job {obs.job.job_id} {obs.job.state}" if obs.job else "no job")
    ha = obs.ha
    parts.append(f"HA ConfigMaps {', '.join(ha.config_maps)}" if ha and ha.config_maps else "no HA ConfigMaps")
    return "; ".join(parts)
