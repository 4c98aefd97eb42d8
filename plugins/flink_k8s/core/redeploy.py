"""Redeploy planner (pure): observations + request + recorded progress -> ordered steps, or a typed refusal.

Where does the newest state live? In order: a RUNNING job (live state beats anything recorded), then the
savepoint this redeploy already took (`progress.savepoint_path`), then the HA checkpoint pointer (only while
the job is not globally terminal: Flink discards HA checkpoints of FINISHED/FAILED/CANCELED jobs), then a
retained externalized checkpoint of a terminal job. A plan restores from that place or refuses; state is
never dropped without `allow_state_loss`. Every SUBMIT is preceded by DELETE_HA_CONFIGMAPS or STRIP_JOB_GRAPH
(idempotent): stale HA ConfigMaps with a job graph would otherwise resurrect the OLD job (the seed's FAQ trap).

Resuming: the executor records into RedeployProgress as it goes (trigger id right after triggering the stop,
the savepoint path when it completes, `submit_started` + the restore right before running the CLI; see Step)
and re-plans after a failure; the new plan continues from what was recorded and observed: it never stops a
job twice, never takes a savepoint of a job that no longer exists, and never submits over a cluster.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from flink_k8s.core.errors import FlinkK8sError
from flink_k8s.core.health import TRANSITIONAL_JOB_STATES
from flink_k8s.core.observations import ClusterObservation


class UpgradeMode(StrEnum):
    STATELESS = "stateless"
    SAVEPOINT = "savepoint"
    LAST_STATE = "last-state"


class StepKind(StrEnum):
    STOP_WITH_SAVEPOINT = "STOP_WITH_SAVEPOINT"
    AWAIT_SAVEPOINT = "AWAIT_SAVEPOINT"  # poll a stop already triggered (never trigger again)
    DELETE_DEPLOYMENT = "DELETE_DEPLOYMENT"
    WAIT_CLUSTER_GONE = "WAIT_CLUSTER_GONE"
    DELETE_HA_CONFIGMAPS = "DELETE_HA_CONFIGMAPS"
    STRIP_JOB_GRAPH = "STRIP_JOB_GRAPH"
    SUBMIT = "SUBMIT"
    WAIT_RUNNING = "WAIT_RUNNING"
    WAIT_FIRST_CHECKPOINT = "WAIT_FIRST_CHECKPOINT"
    DISPOSE_OLD_SAVEPOINTS = "DISPOSE_OLD_SAVEPOINTS"
    CANCEL_JOB = "CANCEL_JOB"  # cancel without a savepoint (core.lifecycle.plan_cancel only)


class Restore(StrEnum):
    NONE = "none"  # fresh state
    SAVEPOINT = "savepoint"  # -s <path>; path None = the one STOP/AWAIT_SAVEPOINT records
    HA_CHECKPOINT = "ha-checkpoint"  # same cluster id, job graph stripped: Flink recovers via HA
    CHECKPOINT_PATH = "checkpoint-path"  # -s <retained externalized checkpoint>


class Safety(StrEnum):
    STATE_KEPT = "state kept"
    FRESH_START = "fresh start (nothing to restore was found)"
    STATE_DISCARDED = "STATE DISCARDED (allow_state_loss)"


class UnsafeRedeploy(FlinkK8sError, ValueError):
    """The redeploy would lose state or cannot proceed safely; `code` names the rule, the message the way out."""

    def __init__(self, code: str, message: str):
        self.code, self.message = code, message
        super().__init__(f"{code}: {message}")


@dataclass(frozen=True)
class RedeployRequest:
    cluster_id: str
    release: str
    mode: UpgradeMode
    allow_state_loss: bool = False
    allow_fallback_to_last_state: bool = False
    restore_from: str | None = None  # user-chosen savepoint/checkpoint path, overrides discovery
    flink_version_changed: bool = False
    target_image: str | None = None  # to tell our own submitted cluster from an older one
    savepoint_dir: str | None = None
    keep_savepoints: int | None = None  # retention after success; None: keep all
    wait_first_checkpoint: bool = True


@dataclass(frozen=True)
class RedeployProgress:
    """What the executor recorded durably; discarded once the redeploy finished."""

    savepoint_trigger_id: str | None = None
    savepoint_path: str | None = None
    submit_started: bool = False
    submitted_restore: Restore | None = None  # the SUBMIT step's restore, recorded with submit_started


@dataclass(frozen=True)
class Step:
    """One idempotent action. Executor contract, per kind:

    STOP_WITH_SAVEPOINT: if `trigger_id` is set, poll it first (it may still run); trigger a new stop only if
    it failed. Record the new trigger id at once, the savepoint path when it completes. AWAIT_SAVEPOINT: poll
    `trigger_id` only. SUBMIT: record `submit_started` + `submitted_restore` before running the CLI; `savepoint_path` None with
    restore SAVEPOINT means the recorded one; with HA_CHECKPOINT re-check that checkpoint `min_checkpoint_id`
    (or newer) is still in HA right before submitting, else stop: a fresh start would lose state silently.
    """

    kind: StepKind
    detail: str = ""
    job_id: str | None = None
    trigger_id: str | None = None
    savepoint_dir: str | None = None
    restore: Restore | None = None
    savepoint_path: str | None = None
    min_checkpoint_id: int | None = None  # HA restore: verify this checkpoint is still there right before SUBMIT
    keep: int | None = None
    savepoint_dir_explicit: bool = False  # STOP_WITH_SAVEPOINT: use savepoint_dir even if the cluster has one
    drain: bool = False  # STOP_WITH_SAVEPOINT: --drain (emit MAX_WATERMARK; for a final stop, not a redeploy)


@dataclass(frozen=True)
class RedeployPlan:
    cluster_id: str
    mode: UpgradeMode
    effective_mode: UpgradeMode
    restore: Restore
    safety: Safety
    steps: tuple[Step, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def kinds(self) -> tuple[StepKind, ...]:
        return tuple(s.kind for s in self.steps)


def plan_redeploy(obs: ClusterObservation, req: RedeployRequest,
                  progress: RedeployProgress = RedeployProgress()) -> RedeployPlan:
    """The ordered steps for `req`, or UnsafeRedeploy."""
    if obs.cluster_id != req.cluster_id:
        raise ValueError(f"observation is of cluster {obs.cluster_id!r}, request is for {req.cluster_id!r}")
    if req.keep_savepoints is not None and req.keep_savepoints < 1:
        raise ValueError(f"keep_savepoints={req.keep_savepoints}: must be >= 1 (the restored savepoint is kept)")
    return _Planner(obs, req, progress).plan()


class _Planner:
    def __init__(self, obs: ClusterObservation, req: RedeployRequest, progress: RedeployProgress):
        self.obs, self.req, self.progress = obs, req, progress
        job = obs.job
        self.live = job is not None and job.state == "RUNNING" and not obs.rest_error
        self.terminal = job is not None and job.terminal and not obs.rest_error
        ha = obs.ha
        self.ha_checkpoint = ha.latest_checkpoint_id if ha and ha.has_checkpoint else None
        self.notes: list[str] = []

    # -- decision ---------------------------------------------------------------------------------------

    def plan(self) -> RedeployPlan:
        req, p = self.req, self.progress
        if req.mode is UpgradeMode.STATELESS and not req.allow_state_loss:
            raise UnsafeRedeploy("state_loss_not_allowed", "upgrade mode 'stateless' starts the job with empty "
                                 "state; set allow_state_loss=true to accept that, or use savepoint/last-state")
        if req.mode is UpgradeMode.LAST_STATE and req.flink_version_changed:
            raise UnsafeRedeploy("version_change_last_state", "the Flink version changes: HA checkpoints are not a "
                                 "portable format across versions; use upgrade mode 'savepoint'")
        if p.submit_started and self.obs.cluster_present and not self.terminal and self._our_image():
            if req.restore_from:
                self.notes.append(f"restore_from={req.restore_from} ignored: this redeploy's submission already ran")
            return self._finish(req.mode, self._restore_of_progress(), Safety.STATE_KEPT, [],
                                note="submission already started: continuing with the waits")
        if req.restore_from:
            return self._from_user_path()
        if self.live:
            return self._from_live_job()
        if req.mode is UpgradeMode.STATELESS:
            if p.savepoint_path:
                self.notes.append(f"recorded savepoint {p.savepoint_path} is NOT used (stateless requested)")
            return self._submit(req.mode, Restore.NONE, None, self._loss_or_fresh())
        if p.savepoint_path:
            return self._submit(req.mode, Restore.SAVEPOINT, p.savepoint_path, Safety.STATE_KEPT,
                                note=f"resuming from the savepoint this redeploy recorded: {p.savepoint_path}")
        if p.savepoint_trigger_id:
            return self._pending_trigger()
        if not self._anything_exists():
            return self._submit(req.mode, Restore.NONE, None, Safety.FRESH_START,
                                note="no cluster, job, HA ConfigMap or recorded progress: first deployment")
        if req.mode is UpgradeMode.SAVEPOINT and not req.allow_fallback_to_last_state:
            raise UnsafeRedeploy("job_not_running", f"savepoint mode needs a RUNNING job; observed {self._seen()}. "
                                 f"{self._options()}")
        if req.mode is UpgradeMode.SAVEPOINT:
            if req.flink_version_changed:
                raise UnsafeRedeploy("version_change_fallback", "cannot fall back to last-state across a Flink "
                                     f"version change; observed {self._seen()}. Pass restore_from=<savepoint>")
            self.notes.append("job not RUNNING: falling back to last-state (allowed)")
        return self._last_state(UpgradeMode.LAST_STATE)

    def _from_live_job(self) -> RedeployPlan:
        req, job, p = self.req, self.obs.job, self.progress
        assert job is not None  # planned from a live job only
        if p.savepoint_path:
            self.notes.append(f"recorded savepoint {p.savepoint_path} is superseded: the job runs again")
        if req.mode is UpgradeMode.SAVEPOINT:
            # A trigger without a recorded result may still be pending: poll it first (a failed one is re-triggered).
            pending = p.savepoint_trigger_id if not p.savepoint_path else None
            stop = Step(StepKind.STOP_WITH_SAVEPOINT, f"stop job {job.job_id} with a savepoint", job_id=job.job_id,
                        trigger_id=pending, savepoint_dir=req.savepoint_dir)
            return self._submit(req.mode, Restore.SAVEPOINT, None, Safety.STATE_KEPT, first=[stop])
        if req.mode is UpgradeMode.LAST_STATE:
            return self._last_state(req.mode)
        return self._submit(req.mode, Restore.NONE, None, Safety.STATE_DISCARDED)

    def _last_state(self, effective: UpgradeMode) -> RedeployPlan:
        if self.ha_checkpoint is not None and not self.terminal:
            return self._submit(effective, Restore.HA_CHECKPOINT, None, Safety.STATE_KEPT)
        retained = self._retained_checkpoint()
        if retained:
            assert self.obs.job is not None  # a retained checkpoint is one of a terminal job
            return self._submit(effective, Restore.CHECKPOINT_PATH, retained, Safety.STATE_KEPT,
                                note=f"job is {self.obs.job.state}: restoring its retained checkpoint {retained}")
        raise UnsafeRedeploy("no_usable_checkpoint", f"last-state needs a completed checkpoint in the HA ConfigMaps "
                             f"of a job that is not finished/failed/canceled; observed {self._seen()}. {self._options()}")

    def _from_user_path(self) -> RedeployPlan:
        # An HA checkpoint is newer state, unless this redeploy's own stop came after it (the user is then
        # naming the savepoint whose result was not recorded).
        ha_newer = self.ha_checkpoint is not None and not self.progress.savepoint_trigger_id
        if (self.live or ha_newer) and not self.req.allow_state_loss:
            raise UnsafeRedeploy("restore_from_discards_state", f"restore_from={self.req.restore_from!r} would "
                                 f"discard newer state ({self._seen()}); set allow_state_loss=true to accept that")
        safety = Safety.STATE_DISCARDED if self.live or ha_newer else Safety.STATE_KEPT
        return self._submit(self.req.mode, Restore.SAVEPOINT, self.req.restore_from, safety,
                            note=f"restoring the user-chosen path {self.req.restore_from}")

    def _pending_trigger(self) -> RedeployPlan:
        p, job = self.progress, self.obs.job
        if job is not None and not self.obs.rest_error:
            wait = Step(StepKind.AWAIT_SAVEPOINT, f"poll stop-with-savepoint {p.savepoint_trigger_id} of job "
                        f"{job.job_id}", job_id=job.job_id, trigger_id=p.savepoint_trigger_id)
            return self._submit(self.req.mode, Restore.SAVEPOINT, None, Safety.STATE_KEPT, first=[wait])
        if self.req.allow_fallback_to_last_state and self.ha_checkpoint is not None:
            self.notes.append(f"outcome of stop {p.savepoint_trigger_id} unknown: restoring HA checkpoint "
                              f"{self.ha_checkpoint} (allowed fallback; may be older than that savepoint)")
            return self._submit(UpgradeMode.LAST_STATE, Restore.HA_CHECKPOINT, None, Safety.STATE_KEPT)
        raise UnsafeRedeploy("savepoint_outcome_unknown", f"stop-with-savepoint {p.savepoint_trigger_id} was triggered "
                             f"but its result was not recorded and the JobManager is gone ({self._seen()}). Find the "
                             f"newest savepoint under {self.req.savepoint_dir or 'the savepoint directory'} and re-run "
                             f"with restore_from=<path>. {self._options()}")

    # -- plan assembly ------------------------------------------------------------------------------------

    def _submit(self, effective: UpgradeMode, restore: Restore, path: str | None, safety: Safety,
                first: list[Step] | None = None, note: str | None = None) -> RedeployPlan:
        obs = self.obs
        steps = list(first or [])
        if obs.cluster_present or obs.pods:
            if obs.deployment is not None:
                steps.append(Step(StepKind.DELETE_DEPLOYMENT,
                                  f"stop the JobManager (scale to 0), then delete Deployment {obs.cluster_id}"))
            steps.append(Step(StepKind.WAIT_CLUSTER_GONE, "wait until the Deployment and JobManager pods are gone"))
        if restore is Restore.HA_CHECKPOINT:
            steps.append(Step(StepKind.STRIP_JOB_GRAPH, "remove job-graph keys, keep checkpoint pointers"))
        else:
            steps.append(Step(StepKind.DELETE_HA_CONFIGMAPS, "delete every HA ConfigMap of the cluster id"))
        ckpt = self.ha_checkpoint if restore is Restore.HA_CHECKPOINT else None
        steps.append(Step(StepKind.SUBMIT, _submit_detail(self.req.release, restore, path, ckpt), restore=restore,
                          savepoint_path=path, min_checkpoint_id=ckpt))
        if note:
            self.notes.append(note)
        return self._finish(effective, restore, safety, steps)

    def _finish(self, effective: UpgradeMode, restore: Restore, safety: Safety, steps: list[Step],
                note: str | None = None) -> RedeployPlan:
        if note:
            self.notes.append(note)
        steps.append(Step(StepKind.WAIT_RUNNING, "wait until the job is RUNNING"))
        if self.req.wait_first_checkpoint:
            steps.append(Step(StepKind.WAIT_FIRST_CHECKPOINT, "wait for the first completed checkpoint"))
        if self.req.keep_savepoints is not None:
            steps.append(Step(StepKind.DISPOSE_OLD_SAVEPOINTS, f"keep the newest {self.req.keep_savepoints} savepoints",
                              keep=self.req.keep_savepoints))
        return RedeployPlan(self.req.cluster_id, self.req.mode, effective, restore, safety, tuple(steps),
                            tuple(self.notes))

    # -- observations, summarised ----------------------------------------------------------------------------

    def _our_image(self) -> bool:
        dep = self.obs.deployment
        return self.req.target_image is None or dep is None or dep.image == self.req.target_image

    def _restore_of_progress(self) -> Restore:
        p = self.progress
        return p.submitted_restore or (Restore.SAVEPOINT if p.savepoint_path else Restore.NONE)

    def _anything_exists(self) -> bool:
        ha, p = self.obs.ha, self.progress
        return (self.obs.cluster_present or bool(self.obs.pods) or bool(ha and ha.config_maps)
                or bool(p.savepoint_path or p.savepoint_trigger_id))

    def _loss_or_fresh(self) -> Safety:
        return Safety.STATE_DISCARDED if self._anything_exists() else Safety.FRESH_START

    def _retained_checkpoint(self) -> str | None:
        job, cp = self.obs.job, self.obs.checkpoints
        if job is None or not self.terminal or cp is None or not cp.externalized or not cp.latest_completed_path:
            return None
        if job.state == "FAILED" or (job.state == "CANCELED" and cp.retained_on_cancel):
            return cp.latest_completed_path
        return None

    def _seen(self) -> str:
        obs, job, ha = self.obs, self.obs.job, self.obs.ha
        parts = [f"Deployment {'present' if obs.deployment else 'absent'}"]
        if obs.rest_error:
            parts.append(f"REST unreachable ({obs.rest_error})")
        parts.append(f"job {job.job_id} {job.state}" if job else "no job")
        if ha and ha.config_maps:
            parts.append(f"HA checkpoint {self.ha_checkpoint}" if self.ha_checkpoint is not None else "no HA checkpoint")
            if ha.has_job_graph:
                parts.append("HA job graph present")
        else:
            parts.append("no HA ConfigMaps")
        return ", ".join(parts)

    def _options(self) -> str:
        opts = []
        if self.ha_checkpoint is not None and not self.terminal and self.req.mode is UpgradeMode.SAVEPOINT:
            opts.append("allow_fallback_to_last_state=true restores the HA checkpoint")
        if self.live and self.req.mode is UpgradeMode.LAST_STATE:
            opts.append("mode savepoint takes a savepoint of the RUNNING job")
        if self.obs.job and self.obs.job.state in TRANSITIONAL_JOB_STATES:
            opts.append("retry once the job is RUNNING")
        latest = self.obs.checkpoints.latest_savepoint_path if self.obs.checkpoints else None
        if latest and not self.live:
            opts.append(f"restore_from={latest} restores the job's latest savepoint known to Flink")
        opts += ["restore_from=<savepoint path> restores a savepoint you choose",
                 "allow_state_loss=true with mode stateless starts empty"]
        return "Options: " + "; ".join(opts) + "."


def _submit_detail(release: str, restore: Restore, path: str | None, ckpt: int | None) -> str:
    if restore is Restore.SAVEPOINT:
        return f"submit release {release} from savepoint {path or '(recorded by the stop step)'}"
    if restore is Restore.CHECKPOINT_PATH:
        return f"submit release {release} from retained checkpoint {path}"
    if restore is Restore.HA_CHECKPOINT:
        return f"submit release {release} with the same cluster id (HA restores checkpoint {ckpt})"
    return f"submit release {release} with empty state"
