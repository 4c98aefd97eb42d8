"""Step handlers (`executor.HANDLERS`) that otherwise only run inside slow redeploys and stops, one step at a
time on the local native-Kubernetes harness: each is idempotent — run again after it completed, it reports
the same result and changes nothing more (a re-run of a failed DAG run repeats the step it was in).

AWAIT_SAVEPOINT polls a trigger it never makes: here a plain savepoint's, so the job keeps running and the
step can be polled twice (a redeploy polls a stop-with-savepoint's trigger through the same endpoint).
CANCEL_JOB runs on a cluster that stays up after its application ends, so the second cancel reaches the
JobManager that cancelled the job.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.fixtures.procs import wait_until

pytestmark = pytest.mark.slow


def test_await_savepoint_and_cancel_job_steps_are_idempotent(flink_env):
    from flink_k8s import executor, jobs
    from flink_k8s.core import ledger as L
    from flink_k8s.core.lifecycle import ActionPlan, PlanOutcome, plan_cancel
    from flink_k8s.core.redeploy import Step, StepKind
    from flink_k8s.hooks.flink import FlinkKubernetesHook

    cluster, spec = flink_env["cluster"], jobs.load_job("stream")
    cp = FlinkKubernetesHook("kubernetes_default", flink_env["ns"]).control_plane
    cp.submit(spec, "1", extra_conf={"execution.shutdown-on-application-finish": "false"}, timeout=300)
    job_id = cp.wait_running(cluster, 300).job_id
    cp.wait_first_checkpoint(cluster, None, 300)  # every task runs: a savepoint can be taken

    # AWAIT_SAVEPOINT: poll a trigger made elsewhere; twice gives the same path, recorded once, job untouched
    with cp.rest(cluster) as rest:
        trigger = rest.trigger_savepoint(job_id, None)
    await_step = Step(StepKind.AWAIT_SAVEPOINT, f"poll savepoint {trigger}", job_id=job_id, trigger_id=trigger)
    session = cp.ledger_store.begin(cluster, "tests/await", L.Action.REDEPLOY, timedelta(minutes=10))
    run = executor.Run(cp, ActionPlan(L.Action.REDEPLOY, cluster, (await_step,)), spec, timeout=180,
                       session=session)
    first = executor.HANDLERS[StepKind.AWAIT_SAVEPOINT](run, await_step)
    again = executor.HANDLERS[StepKind.AWAIT_SAVEPOINT](run, await_step)
    session.end()
    assert first.savepoint and first.savepoint.startswith("file:"), first
    assert (again.kind, again.savepoint) == (first.kind, first.savepoint)
    ledger = cp.ledger(cluster)
    assert ledger.progress.savepoint_path == first.savepoint and ledger.holder is None
    assert ledger.savepoint_paths() == (first.savepoint,)  # one history entry for two polls
    assert ledger.progress.savepoint_trigger_id is None  # polling never records (or makes) a trigger
    running = cp.current_job(cluster)
    assert running is not None and (running.job_id, running.state) == (job_id, "RUNNING")

    # CANCEL_JOB: cancel, then cancel the CANCELED job again: the same result, no error; the plan then says done
    plan = plan_cancel(cluster, "streaming", True, running, "stream")
    assert plan.kinds == (StepKind.CANCEL_JOB,)
    (cancel_step,) = plan.steps
    cancel_run = executor.Run(cp, plan, spec, timeout=120)
    done = executor.HANDLERS[StepKind.CANCEL_JOB](cancel_run, cancel_step)
    assert (done.kind, done.job_id) == (StepKind.CANCEL_JOB, job_id)
    wait_until(lambda: getattr(cp.current_job(cluster), "state", None) == "CANCELED", 120, "job CANCELED")
    repeated = executor.HANDLERS[StepKind.CANCEL_JOB](cancel_run, cancel_step)
    assert (repeated.kind, repeated.job_id) == (StepKind.CANCEL_JOB, job_id)
    after = cp.current_job(cluster)
    assert after is not None and (after.job_id, after.state) == (job_id, "CANCELED")
    assert plan_cancel(cluster, "streaming", True, after, "stream").outcome is PlanOutcome.NOTHING_TO_DO
