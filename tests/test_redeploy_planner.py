"""Redeploy planner: scenario table, invariants over the full decision matrix, and crash/resume simulation.

The simulation runs plans against a tiny model of a native Flink cluster with Kubernetes HA (Flink's rule
included: a checkpoint in the HA store wins over `-s`), crashes the executor at every step (before or after
the step's side effect), re-observes, re-plans with the recorded progress and checks that the job ends up
RUNNING the new release with the newest consistent state of the old job — or that the planner refused.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import pytest

from flink_k8s.core.observations import (
    CheckpointFacts,
    ClusterObservation,
    DeploymentFacts,
    HaFacts,
    JobFacts,
    PodFacts,
)
from flink_k8s.core.plan_table import render_plan
from flink_k8s.core.redeploy import (
    RedeployProgress,
    RedeployRequest,
    Restore,
    Safety,
    StepKind,
    UnsafeRedeploy,
    UpgradeMode,
    plan_redeploy,
)

NOW = datetime(2026, 11, 29, 17, 0, tzinfo=UTC)
CID = "streaming-job"
JOB = "00000000002efde30000000000000000"
SP = "hdfs://datacluster/flink/savepoints/savepoint-000000-6f1c2d3e4a5b"
K = StepKind
STOP, AWAIT, DEL, GONE = K.STOP_WITH_SAVEPOINT, K.AWAIT_SAVEPOINT, K.DELETE_DEPLOYMENT, K.WAIT_CLUSTER_GONE
DHA, STRIP, SUB, RUN, CK = K.DELETE_HA_CONFIGMAPS, K.STRIP_JOB_GRAPH, K.SUBMIT, K.WAIT_RUNNING, K.WAIT_FIRST_CHECKPOINT
SAVEPOINT, LAST_STATE, STATELESS = UpgradeMode.SAVEPOINT, UpgradeMode.LAST_STATE, UpgradeMode.STATELESS

DEP = DeploymentFacts(name=CID, replicas=1, available_replicas=1, ready_replicas=1, image="flink-java11:r1")
JM = PodFacts(name=f"{CID}-7d9c6b5f4-x2x8q", component="jobmanager", phase="Running", ready=True, restarts=0)
TM = PodFacts(name=f"{CID}-taskmanager-1-1", component="taskmanager", phase="Running", ready=True, restarts=0)
MAPS = (f"{CID}-cluster-config-map", f"{CID}-{JOB}-config-map")
HA = {
    "none": HaFacts(),
    "graph": HaFacts(config_maps=MAPS[:1], job_graph_keys=(f"executionPlan-{JOB}",)),
    "ckpt": HaFacts(config_maps=MAPS, job_graph_keys=(f"executionPlan-{JOB}",), checkpoint_counter=43,
                    latest_checkpoint_id=42, latest_checkpoint_pointer="file:/ha/completedCheckpoint4f1e"),
    "stripped": HaFacts(config_maps=MAPS, checkpoint_counter=43, latest_checkpoint_id=42),
}


def job(state: str) -> JobFacts:
    return JobFacts(job_id=JOB, name="streaming-job", state=state, start_time=NOW, restarts=0)


SITUATIONS = {
    "running": dict(deployment=DEP, pods=(JM, TM), job=job("RUNNING")),
    "restarting": dict(deployment=DEP, pods=(JM, TM), job=job("RESTARTING")),
    "failed": dict(deployment=DEP, pods=(JM,), job=job("FAILED")),
    "finished": dict(deployment=DEP, pods=(JM,), job=job("FINISHED")),
    "rest_down": dict(deployment=replace(DEP, available_replicas=0), pods=(replace(JM, ready=False),),
                      job=None, rest_error="connection refused"),
    "gone": dict(deployment=None, pods=(), job=None),
}
PROGRESS = {
    "none": RedeployProgress(),
    "trigger": RedeployProgress(savepoint_trigger_id="t-1"),
    "savepoint": RedeployProgress(savepoint_trigger_id="t-1", savepoint_path=SP),
    "submitted": RedeployProgress(savepoint_trigger_id="t-1", savepoint_path=SP, submit_started=True),
}


def observe(situation: str = "running", ha: str = "ckpt", **changes) -> ClusterObservation:
    base = ClusterObservation(cluster_id=CID, observed_at=NOW, ha=HA[ha], **SITUATIONS[situation])
    return replace(base, **changes)


def request(mode: UpgradeMode = SAVEPOINT, **changes) -> RedeployRequest:
    return replace(RedeployRequest(cluster_id=CID, release="r2", mode=mode), **changes)


# -- scenario table ---------------------------------------------------------------------------------------------

SCENARIOS = [
    # id, situation, ha, mode, request changes, progress, expected kinds, restore, safety
    ("sp-running", "running", "ckpt", SAVEPOINT, {}, "none",
     (STOP, DEL, GONE, DHA, SUB, RUN, CK), Restore.SAVEPOINT, Safety.STATE_KEPT),
    ("sp-restarting-fallback", "restarting", "ckpt", SAVEPOINT, {"allow_fallback_to_last_state": True}, "none",
     (DEL, GONE, STRIP, SUB, RUN, CK), Restore.HA_CHECKPOINT, Safety.STATE_KEPT),
    ("sp-jm-down-fallback", "rest_down", "ckpt", SAVEPOINT, {"allow_fallback_to_last_state": True}, "none",
     (DEL, GONE, STRIP, SUB, RUN, CK), Restore.HA_CHECKPOINT, Safety.STATE_KEPT),
    ("sp-gone-fallback-faq-trap", "gone", "ckpt", SAVEPOINT, {"allow_fallback_to_last_state": True}, "none",
     (STRIP, SUB, RUN, CK), Restore.HA_CHECKPOINT, Safety.STATE_KEPT),
    ("sp-resume-submit-failed", "gone", "ckpt", SAVEPOINT, {}, "savepoint",
     (DHA, SUB, RUN, CK), Restore.SAVEPOINT, Safety.STATE_KEPT),
    ("sp-resume-ha-already-deleted", "gone", "none", SAVEPOINT, {}, "savepoint",
     (DHA, SUB, RUN, CK), Restore.SAVEPOINT, Safety.STATE_KEPT),
    ("sp-resume-submit-never-ran", "gone", "none", SAVEPOINT, {}, "submitted",
     (DHA, SUB, RUN, CK), Restore.SAVEPOINT, Safety.STATE_KEPT),
    ("sp-resume-jm-lingers", "finished", "ckpt", SAVEPOINT, {}, "savepoint",
     (DEL, GONE, DHA, SUB, RUN, CK), Restore.SAVEPOINT, Safety.STATE_KEPT),
    ("sp-resume-unrecorded-result", "finished", "ckpt", SAVEPOINT, {}, "trigger",
     (AWAIT, DEL, GONE, DHA, SUB, RUN, CK), Restore.SAVEPOINT, Safety.STATE_KEPT),
    ("sp-resume-stop-failed-job-runs", "running", "ckpt", SAVEPOINT, {}, "trigger",
     (STOP, DEL, GONE, DHA, SUB, RUN, CK), Restore.SAVEPOINT, Safety.STATE_KEPT),
    ("sp-job-resurrected-after-savepoint", "running", "ckpt", SAVEPOINT, {}, "savepoint",
     (STOP, DEL, GONE, DHA, SUB, RUN, CK), Restore.SAVEPOINT, Safety.STATE_KEPT),
    ("sp-resume-after-submit", "running", "ckpt", SAVEPOINT, {}, "submitted",
     (RUN, CK), Restore.SAVEPOINT, Safety.STATE_KEPT),
    ("sp-resume-after-submit-jm-down", "rest_down", "ckpt", SAVEPOINT, {}, "submitted",
     (RUN, CK), Restore.SAVEPOINT, Safety.STATE_KEPT),
    ("sp-new-job-failed", "failed", "ckpt", SAVEPOINT, {}, "submitted",
     (DEL, GONE, DHA, SUB, RUN, CK), Restore.SAVEPOINT, Safety.STATE_KEPT),
    ("sp-trigger-unknown-fallback", "gone", "ckpt", SAVEPOINT, {"allow_fallback_to_last_state": True}, "trigger",
     (STRIP, SUB, RUN, CK), Restore.HA_CHECKPOINT, Safety.STATE_KEPT),
    ("ls-running", "running", "ckpt", LAST_STATE, {}, "none",
     (DEL, GONE, STRIP, SUB, RUN, CK), Restore.HA_CHECKPOINT, Safety.STATE_KEPT),
    ("ls-restarting", "restarting", "stripped", LAST_STATE, {}, "none",
     (DEL, GONE, STRIP, SUB, RUN, CK), Restore.HA_CHECKPOINT, Safety.STATE_KEPT),
    ("ls-gone-faq-trap", "gone", "ckpt", LAST_STATE, {}, "none",
     (STRIP, SUB, RUN, CK), Restore.HA_CHECKPOINT, Safety.STATE_KEPT),
    ("ls-prefers-recorded-savepoint", "gone", "ckpt", LAST_STATE, {}, "savepoint",
     (DHA, SUB, RUN, CK), Restore.SAVEPOINT, Safety.STATE_KEPT),
    ("stateless-running", "running", "ckpt", STATELESS, {"allow_state_loss": True}, "none",
     (DEL, GONE, DHA, SUB, RUN, CK), Restore.NONE, Safety.STATE_DISCARDED),
    ("stateless-gone-graph", "gone", "graph", STATELESS, {"allow_state_loss": True}, "none",
     (DHA, SUB, RUN, CK), Restore.NONE, Safety.STATE_DISCARDED),
    ("stateless-ignores-savepoint", "gone", "none", STATELESS, {"allow_state_loss": True}, "savepoint",
     (DHA, SUB, RUN, CK), Restore.NONE, Safety.STATE_DISCARDED),
    ("first-deploy-savepoint", "gone", "none", SAVEPOINT, {}, "none",
     (DHA, SUB, RUN, CK), Restore.NONE, Safety.FRESH_START),
    ("first-deploy-last-state", "gone", "none", LAST_STATE, {}, "none",
     (DHA, SUB, RUN, CK), Restore.NONE, Safety.FRESH_START),
    ("first-deploy-stateless", "gone", "none", STATELESS, {"allow_state_loss": True}, "none",
     (DHA, SUB, RUN, CK), Restore.NONE, Safety.FRESH_START),
    ("restore-from-user-path", "gone", "graph", SAVEPOINT, {"restore_from": SP}, "none",
     (DHA, SUB, RUN, CK), Restore.SAVEPOINT, Safety.STATE_KEPT),
    ("restore-from-after-unrecorded-stop", "gone", "ckpt", SAVEPOINT, {"restore_from": SP}, "trigger",
     (DHA, SUB, RUN, CK), Restore.SAVEPOINT, Safety.STATE_KEPT),
    ("restore-from-over-live-job", "running", "ckpt", SAVEPOINT, {"restore_from": SP, "allow_state_loss": True},
     "none", (DEL, GONE, DHA, SUB, RUN, CK), Restore.SAVEPOINT, Safety.STATE_DISCARDED),
    ("sp-version-change-running", "running", "ckpt", SAVEPOINT, {"flink_version_changed": True}, "none",
     (STOP, DEL, GONE, DHA, SUB, RUN, CK), Restore.SAVEPOINT, Safety.STATE_KEPT),
    ("retention-and-no-checkpoint-wait", "running", "ckpt", SAVEPOINT,
     {"keep_savepoints": 3, "wait_first_checkpoint": False}, "none",
     (STOP, DEL, GONE, DHA, SUB, RUN, K.DISPOSE_OLD_SAVEPOINTS), Restore.SAVEPOINT, Safety.STATE_KEPT),
]


@pytest.mark.parametrize("situation, ha, mode, changes, progress, kinds, restore, safety",
                         [s[1:] for s in SCENARIOS], ids=[s[0] for s in SCENARIOS])
def test_scenarios(situation, ha, mode, changes, progress, kinds, restore, safety):
    plan = plan_redeploy(observe(situation, ha), request(mode, **changes), PROGRESS[progress])
    assert (plan.kinds, plan.restore, plan.safety) == (kinds, restore, safety)
    assert render_plan(plan).count("\n") >= len(kinds) + 2


REFUSALS = [
    ("stateless-without-consent", "running", "ckpt", STATELESS, {}, "none", "state_loss_not_allowed", "allow_state_loss"),
    ("stateless-first-deploy-still-needs-consent", "gone", "none", STATELESS, {}, "none", "state_loss_not_allowed", "empty"),
    ("sp-restarting", "restarting", "ckpt", SAVEPOINT, {}, "none", "job_not_running", "retry once the job is RUNNING"),
    ("sp-jm-down", "rest_down", "ckpt", SAVEPOINT, {}, "none", "job_not_running", "allow_fallback_to_last_state"),
    ("sp-gone-faq-trap", "gone", "ckpt", SAVEPOINT, {}, "none", "job_not_running", "HA job graph present"),
    ("sp-gone-graph-only", "gone", "graph", SAVEPOINT, {}, "none", "job_not_running", "no HA checkpoint"),
    ("sp-failed-fallback-no-checkpoint", "failed", "ckpt", SAVEPOINT, {"allow_fallback_to_last_state": True}, "none",
     "no_usable_checkpoint", "job 00000000002efde30000000000000000 FAILED"),
    ("sp-outcome-unknown", "gone", "ckpt", SAVEPOINT, {"savepoint_dir": "hdfs://dc/sp"}, "trigger",
     "savepoint_outcome_unknown", "hdfs://dc/sp"),
    ("ls-running-no-ha", "running", "none", LAST_STATE, {}, "none", "no_usable_checkpoint", "mode savepoint"),
    ("ls-running-graph-only", "running", "graph", LAST_STATE, {}, "none", "no_usable_checkpoint", "no HA checkpoint"),
    ("ls-gone-graph-only", "gone", "graph", LAST_STATE, {}, "none", "no_usable_checkpoint", "HA job graph present"),
    ("ls-finished", "finished", "ckpt", LAST_STATE, {}, "none", "no_usable_checkpoint", "FINISHED"),
    ("ls-version-change", "running", "ckpt", LAST_STATE, {"flink_version_changed": True}, "none",
     "version_change_last_state", "savepoint"),
    ("sp-version-change-fallback", "restarting", "ckpt", SAVEPOINT,
     {"flink_version_changed": True, "allow_fallback_to_last_state": True}, "none", "version_change_fallback",
     "restore_from"),
    ("restore-from-over-live-job", "running", "ckpt", SAVEPOINT, {"restore_from": SP}, "none",
     "restore_from_discards_state", "allow_state_loss"),
    ("restore-from-over-ha-checkpoint", "gone", "stripped", SAVEPOINT, {"restore_from": SP}, "none",
     "restore_from_discards_state", "HA checkpoint 42"),
]


@pytest.mark.parametrize("situation, ha, mode, changes, progress, code, fragment",
                         [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS])
def test_refusals(situation, ha, mode, changes, progress, code, fragment):
    with pytest.raises(UnsafeRedeploy) as info:
        plan_redeploy(observe(situation, ha), request(mode, **changes), PROGRESS[progress])
    assert info.value.code == code and fragment in info.value.message
    assert str(info.value).startswith(code + ": ")


def test_submit_step_details():
    live = plan_redeploy(observe(), request())
    stop, submit = live.steps[0], live.steps[4]
    assert (stop.job_id, stop.trigger_id, submit.restore, submit.savepoint_path) == (JOB, None, Restore.SAVEPOINT, None)
    assert "recorded by the stop step" in submit.detail and "r2" in submit.detail
    resumed = plan_redeploy(observe("gone", "none"), request(), PROGRESS["savepoint"])
    assert resumed.steps[1].savepoint_path == SP and resumed.notes == (f"resuming from the savepoint this redeploy "
                                                                      f"recorded: {SP}",)
    ha = plan_redeploy(observe(), request(LAST_STATE)).steps[3]
    assert (ha.restore, ha.min_checkpoint_id, ha.savepoint_path) == (Restore.HA_CHECKPOINT, 42, None)
    pending = plan_redeploy(observe(), request(), PROGRESS["trigger"]).steps[0]
    assert pending.trigger_id == "t-1"  # re-attach to the stop that may still be running
    resurrected = plan_redeploy(observe(), request(), PROGRESS["savepoint"])
    assert resurrected.steps[0].trigger_id is None and "superseded" in resurrected.notes[0]


@pytest.mark.parametrize("state, ext, expected", [
    ("FAILED", dict(externalized=True), Restore.CHECKPOINT_PATH),
    ("CANCELED", dict(externalized=True, retained_on_cancel=True), Restore.CHECKPOINT_PATH),
    ("CANCELED", dict(externalized=True, retained_on_cancel=False), None),
    ("FINISHED", dict(externalized=True, retained_on_cancel=True), None),  # Flink discards on finish
    ("FAILED", dict(externalized=False), None),
])
def test_retained_checkpoint_of_a_terminal_job(state, ext, expected):
    cp = CheckpointFacts(interval=None, latest_completed_id=9, latest_completed_path="hdfs://dc/chk/x/chk-9", **ext)
    obs = observe("failed", "ckpt", job=job(state), checkpoints=cp)
    if expected is None:
        with pytest.raises(UnsafeRedeploy, match="no_usable_checkpoint"):
            plan_redeploy(obs, request(LAST_STATE))
        return
    plan = plan_redeploy(obs, request(LAST_STATE))
    assert plan.kinds == (DEL, GONE, DHA, SUB, RUN, CK) and plan.steps[3].savepoint_path == "hdfs://dc/chk/x/chk-9"
    assert plan.restore is expected


@pytest.mark.parametrize("recorded, restore", [(None, Restore.NONE), (Restore.HA_CHECKPOINT, Restore.HA_CHECKPOINT)])
def test_continuation_reports_the_recorded_restore(recorded, restore):
    progress = RedeployProgress(submit_started=True, submitted_restore=recorded)
    plan = plan_redeploy(observe(), request(LAST_STATE), progress)
    assert (plan.kinds, plan.restore) == ((RUN, CK), restore)


def test_continuation_says_when_restore_from_is_ignored():
    plan = plan_redeploy(observe(), request(restore_from=SP), PROGRESS["submitted"])
    assert plan.kinds == (RUN, CK) and plan.notes[0] == f"restore_from={SP} ignored: this redeploy's submission already ran"


def test_refusal_offers_the_latest_savepoint_flink_knows():
    cp = CheckpointFacts(interval=None, latest_savepoint_path="hdfs://dc/sp/savepoint-000000-aaaaaaaaaaaa")
    with pytest.raises(UnsafeRedeploy, match="restore_from=hdfs://dc/sp/savepoint-000000-aaaaaaaaaaaa restores the"):
        plan_redeploy(observe("finished", checkpoints=cp), request())


def test_taskmanager_pods_left_only_wait():
    plan = plan_redeploy(observe("gone", "ckpt", pods=(TM,)), request(LAST_STATE))
    assert plan.kinds == (GONE, STRIP, SUB, RUN, CK)
    plan = plan_redeploy(observe("gone", "ckpt", pods=(JM,)), request(LAST_STATE))
    assert plan.kinds == (GONE, STRIP, SUB, RUN, CK)


def test_submitted_cluster_with_another_image_is_redeployed_again():
    obs = observe(deployment=replace(DEP, image="flink-java11:r1"))
    assert plan_redeploy(obs, request(target_image="flink-java11:r2"), PROGRESS["submitted"]).kinds[0] is STOP
    assert plan_redeploy(obs, request(target_image="flink-java11:r1"), PROGRESS["submitted"]).kinds == (RUN, CK)


@pytest.mark.parametrize("changes, fragment", [
    ({"cluster_id": "other"}, "observation is of cluster"), ({"keep_savepoints": 0}, "keep_savepoints=0"),
])
def test_bad_requests(changes, fragment):
    with pytest.raises(ValueError, match=fragment):
        plan_redeploy(observe(), request(**changes))


def test_render_plan_names_fallback_and_notes():
    plan = plan_redeploy(observe("restarting"), request(allow_fallback_to_last_state=True))
    text = render_plan(plan)
    assert "mode savepoint -> last-state, restore ha-checkpoint, state kept" in text
    assert "note: job not RUNNING: falling back to last-state (allowed)" in text
    assert "STRIP_JOB_GRAPH" in text and "HA restores checkpoint 42" in text


# -- invariants over the whole matrix -----------------------------------------------------------------------------

FLAGS = [dict(allow_state_loss=a, allow_fallback_to_last_state=b) for a in (False, True) for b in (False, True)]
MATRIX = list(itertools.product(SITUATIONS, HA, list(UpgradeMode), range(len(FLAGS)), PROGRESS))
REFUSAL_CODES = {"state_loss_not_allowed", "job_not_running", "no_usable_checkpoint", "savepoint_outcome_unknown"}


@pytest.mark.parametrize("situation, ha, mode, flags, progress", MATRIX,
                         ids=["-".join(map(str, m)) for m in MATRIX])
def test_matrix_invariants(situation, ha, mode, flags, progress):
    obs, req, prog = observe(situation, ha), request(mode, **FLAGS[flags]), PROGRESS[progress]
    try:
        plan = plan_redeploy(obs, req, prog)
    except UnsafeRedeploy as refusal:
        assert refusal.code in REFUSAL_CODES
        assert "Options:" in refusal.message or refusal.code == "state_loss_not_allowed"
        if mode is STATELESS:
            assert refusal.code == "state_loss_not_allowed" and not req.allow_state_loss
        return
    kinds = plan.kinds
    live = obs.job is not None and obs.job.state == "RUNNING"
    terminal = obs.job is not None and obs.job.terminal
    continuing = prog.submit_started and obs.cluster_present and not terminal
    assert kinds[-2:] == (RUN, CK) and kinds.count(SUB) == (0 if continuing else 1)
    if SUB in kinds:
        i = kinds.index(SUB)
        cleanup, other = (STRIP, DHA) if plan.restore is Restore.HA_CHECKPOINT else (DHA, STRIP)
        assert kinds[i - 1] is cleanup and other not in kinds  # never submit over a stale job graph
        if obs.cluster_present:
            assert kinds.index(GONE) < kinds.index(cleanup)
        if obs.deployment is not None:
            assert kinds.index(DEL) < kinds.index(GONE)
    if STOP in kinds:  # only a live job is stopped, and only once
        assert live and mode is SAVEPOINT and kinds[0] is STOP and kinds.count(STOP) == 1
    if AWAIT in kinds:
        assert prog.savepoint_trigger_id and not prog.savepoint_path and obs.job is not None and not live
    if plan.safety is Safety.STATE_DISCARDED or (plan.restore is Restore.NONE and not continuing):
        assert req.allow_state_loss or plan.safety is Safety.FRESH_START
    if plan.safety is Safety.FRESH_START:
        assert not obs.cluster_present and obs.ha == HaFacts() and prog == RedeployProgress()
    if plan.restore is Restore.HA_CHECKPOINT:
        assert obs.ha.has_checkpoint and not terminal
        assert plan.steps[kinds.index(SUB)].min_checkpoint_id == 42
        assert mode is LAST_STATE or req.allow_fallback_to_last_state
    if prog.savepoint_path and not live and mode is not STATELESS and not continuing:
        assert plan.restore is Restore.SAVEPOINT and plan.steps[kinds.index(SUB)].savepoint_path == SP
    if live and mode is SAVEPOINT and not continuing:
        assert kinds[0] is STOP  # a running job's live state always beats anything recorded


def test_matrix_is_not_trivially_all_refusals():
    outcomes = {"plan": 0, "refused": 0}
    for situation, ha, mode, flags, progress in MATRIX:
        try:
            plan_redeploy(observe(situation, ha), request(mode, **FLAGS[flags]), PROGRESS[progress])
            outcomes["plan"] += 1
        except UnsafeRedeploy:
            outcomes["refused"] += 1
    assert outcomes["plan"] > 300 and outcomes["refused"] > 100, outcomes


# -- crash and resume simulation ----------------------------------------------------------------------------------

class Crash(Exception):
    pass


@dataclass
class World:
    """A native Flink cluster with Kubernetes HA, reduced to what the planner's safety depends on."""

    jm_exits_after_stop: bool = False
    cluster: bool = True
    job_state: str | None = "RUNNING"
    release: str = "r1"
    state: int = 100  # keyed state of the running job
    ha_graph: str | None = "r1"  # release whose job graph sits in HA
    ha_checkpoint: int | None = 100  # state captured by the newest HA checkpoint
    savepoints: dict[str, int] = field(default_factory=dict)
    triggers: dict[str, str] = field(default_factory=dict)  # only known while the JobManager lives
    restored: int | None = None
    record: RedeployProgress = field(default_factory=RedeployProgress)  # the executor's durable progress store
    resurrected_old_graph: bool = False
    stops: int = 0

    def observe(self) -> ClusterObservation:
        ha = HaFacts()
        if self.ha_graph or self.ha_checkpoint is not None:
            ha = HaFacts(config_maps=MAPS, job_graph_keys=(f"executionPlan-{JOB}",) if self.ha_graph else (),
                         latest_checkpoint_id=self.ha_checkpoint)
        return ClusterObservation(
            cluster_id=CID, observed_at=NOW, ha=ha,
            deployment=replace(DEP, image=f"flink-java11:{self.release}") if self.cluster else None,
            pods=(JM,) if self.cluster else (),
            job=job(self.job_state) if self.cluster and self.job_state else None)

    def tick(self) -> None:
        if self.cluster and self.job_state == "RUNNING":
            self.state += 1
            self.ha_checkpoint = self.state

    def jm_gone(self) -> None:
        self.cluster, self.job_state, self.triggers = False, None, {}


def apply(world: World, step, req: RedeployRequest, crash_after: bool) -> None:
    """Execute one step like an executor would, recording progress (durably) where the docs say so."""
    _apply(world, step, req, crash_after)
    if crash_after:
        raise Crash(f"after {step.kind}")


def _record(world: World, **changes) -> None:
    world.record = replace(world.record, **changes)


def _apply(world: World, step, req: RedeployRequest, crash_after: bool) -> None:
    progress = world.record
    if step.kind is STOP:
        assert world.cluster and world.job_state == "RUNNING", "stopped a job that does not run"
        world.stops += 1
        trigger = f"t{world.stops}"
        _record(world, savepoint_trigger_id=trigger)  # recorded right after triggering
        world.state += 1  # records processed since the last checkpoint are in the savepoint
        path = f"sp-{world.state}"
        world.savepoints[path], world.triggers[trigger], world.job_state = world.state, path, "FINISHED"
        if world.jm_exits_after_stop:
            world.jm_gone()
        if not crash_after:  # a crash here: the stop completed but its result was never recorded
            _record(world, savepoint_path=path)
    elif step.kind is AWAIT:
        _record(world, savepoint_path=world.triggers[step.trigger_id])
    elif step.kind is DEL:
        world.jm_gone()
    elif step.kind is GONE:
        assert not world.cluster
    elif step.kind is DHA:
        world.ha_graph, world.ha_checkpoint = None, None
    elif step.kind is STRIP:
        world.ha_graph = None
    elif step.kind is SUB:
        _record(world, submit_started=True, submitted_restore=step.restore)  # recorded before the CLI runs
        assert not world.cluster, "submitted over an existing cluster"
        if step.min_checkpoint_id is not None and (world.ha_checkpoint or -1) < step.min_checkpoint_id:
            raise AssertionError("HA checkpoint vanished before a last-state submit")
        if world.ha_graph:
            world.resurrected_old_graph = True
        path = step.savepoint_path or (progress.savepoint_path if step.restore is Restore.SAVEPOINT else None)
        if world.ha_checkpoint is not None:
            world.state = world.ha_checkpoint  # Flink: a checkpoint in the HA store wins over -s
        elif path:
            world.state = world.savepoints[path]
        else:
            world.state = 0
        world.restored = world.state
        world.cluster, world.job_state, world.release = True, "RUNNING", world.ha_graph or req.release
        world.ha_graph, world.ha_checkpoint = world.release, None
    elif step.kind is RUN:
        assert world.job_state == "RUNNING"
    elif step.kind is CK:
        world.ha_checkpoint = world.state


def run(world: World, req: RedeployRequest, crashes: list[tuple[int, bool]]) -> None:
    """Plan and execute until done; crash at (step index, after side effect) of successive plans."""
    for attempt in range(len(crashes) + 1):
        plan = plan_redeploy(world.observe(), req, world.record)
        crash_at, after = crashes[attempt] if attempt < len(crashes) else (None, False)
        try:
            for i, step in enumerate(plan.steps):
                if i == crash_at and not after:
                    raise Crash(f"before {step.kind}")
                apply(world, step, req, crash_after=(i == crash_at))
                world.tick()
            world.record = RedeployProgress()  # done: the executor discards its progress
            return
        except Crash:
            continue
    raise AssertionError("unreachable")


CRASH_POINTS = [(i, after) for i in range(8) for after in (False, True)]


@pytest.mark.parametrize("jm_exits", [False, True], ids=["jm-lingers", "jm-exits"])
@pytest.mark.parametrize("first, second", [(c, None) for c in CRASH_POINTS] + [(c, (0, True)) for c in CRASH_POINTS]
                         + [(c, (3, False)) for c in CRASH_POINTS])
def test_savepoint_redeploy_survives_crashes(jm_exits, first, second):
    world, req = World(jm_exits_after_stop=jm_exits), request(SAVEPOINT)
    crashes = [first] + ([second] if second else [])
    try:
        run(world, req, crashes)
    except UnsafeRedeploy as refusal:
        # Only case: the stop completed, its result was not recorded, and the JobManager that knew it is gone.
        assert jm_exits and refusal.code == "savepoint_outcome_unknown"
        assert world.stops == 1 and not world.cluster and world.restored is None
        (path,) = world.savepoints  # the user finds it and resumes explicitly: nothing lost
        run(world, replace(req, restore_from=path), [])
        assert world.restored == world.savepoints[path]
        return
    assert world.stops == 1, "a second savepoint was taken"
    (path,) = world.savepoints
    assert (world.release, world.job_state, world.resurrected_old_graph) == ("r2", "RUNNING", False)
    assert world.restored == world.savepoints[path], "restored state is not the savepoint's"


@pytest.mark.parametrize("first, second", [(c, None) for c in CRASH_POINTS] + [(c, (0, True)) for c in CRASH_POINTS])
def test_last_state_redeploy_survives_crashes(first, second):
    world, req = World(), request(LAST_STATE)
    run(world, req, [first] + ([second] if second else []))
    assert (world.release, world.job_state, world.resurrected_old_graph, world.stops) == ("r2", "RUNNING", False, 0)
    assert world.restored == 100, "last-state must restore the newest HA checkpoint of the old job"


def test_simulation_detects_a_missing_ha_cleanup():
    """Guard for the simulator itself: submitting -s over stale HA state regresses or resurrects."""
    world = World()
    world.jm_gone()
    world.savepoints["sp-500"] = 500
    world.record = RedeployProgress(savepoint_path="sp-500")
    plan = plan_redeploy(world.observe(), request(SAVEPOINT), world.record)
    sub = plan.steps[plan.kinds.index(SUB)]
    apply(world, sub, request(SAVEPOINT), crash_after=False)  # skip DELETE_HA_CONFIGMAPS on purpose
    assert world.resurrected_old_graph and world.restored == 100
