"""Redeploy a streaming job from the Airflow UI (Trigger DAG w/ config), without losing state silently.

Steps: validate the form → plan (observe the cluster, log the plan table and the keys the redeploy changes;
nothing changes) → approve (only when `require_approval` is set in the catalogue or the form: a person
approves or rejects the plan in Airflow's Required Actions; Reject touches nothing) → execute the plan
(skipped on dry run or rejection) → wait until the job is healthy. Upgrade modes:
- savepoint: stop-with-savepoint → wait until gone → delete HA ConfigMaps → submit with `-s <savepoint>`;
- last-state: delete the Deployment → wait → strip job-graph keys (keep checkpoint pointers) → submit;
  Flink restores the latest checkpoint through Kubernetes HA;
- stateless: only with "allow state loss" ticked.
A failure after the old job stopped names the savepoint; re-running the DAG resumes from it.
Rollback (catalogue `rollback.enabled`): when the new release fails or is not HEALTHY within
`rollback.healthy_within`, `rollback` redeploys the previous release from the savepoint taken before the upgrade,
`rollback_healthy` waits for it, and `outcome` fails the run naming both releases, the savepoint and why.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param, task

from flink_k8s import jobs
from flink_k8s.core.form_params import make_params, redeploy_param_specs
from flink_k8s.operators.approval import FlinkRedeployApprovalOperator, FlinkRedeployPlanOperator
from flink_k8s.operators.flink import FlinkRedeployOperator
from flink_k8s.operators.rollback import FlinkRedeployOutcomeOperator, FlinkRollbackOperator
from flink_k8s.sensors.flink import FlinkHealthSensor

with DAG(
    dag_id="flink_streaming_redeploy",
    description="Redeploy a streaming Flink job (stateless / savepoint / last-state)",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    # Titles, descriptions, sections and the catalogue defaults in words: core/form_params.py (the Flink page's
    # redeploy form shows the same texts). The `validate` task below stays the source of truth.
    params=make_params(redeploy_param_specs(jobs.load()), Param),
    tags=["flink", "streaming"],
    doc_md=__doc__,
):

    @task
    def validate(params: dict | None = None) -> dict:
        """Server-side check of the conf (the REST API skips the form); fails before anything is touched."""
        from flink_k8s.core.run_inputs import validate_redeploy

        conf = {k: v for k, v in (params or {}).items()}
        inp = validate_redeploy(conf, jobs.load())
        return {"job": inp.job.name, "release": inp.release, "upgrade_mode": inp.upgrade_mode,
                "dry_run": inp.dry_run}

    plan = FlinkRedeployPlanOperator(task_id="plan")

    @task.short_circuit
    def not_dry_run(checked: dict) -> bool:
        return not checked["dry_run"]

    approve = FlinkRedeployApprovalOperator(task_id="approve", plan_task_id="plan")
    execute = FlinkRedeployOperator(task_id="execute")
    healthy = FlinkHealthSensor(task_id="healthy", job="{{ params.job }}", poke_interval=5, timeout=600,
                                max_verdict="HEALTHY", bounded_by_rollback=True)
    # Runs only when something before it failed (one_failed: execute failed, or healthy timed out); skipped on
    # success. Skips itself when there is nothing to roll back (rollback off, first deployment, nothing replaced).
    rollback = FlinkRollbackOperator(task_id="rollback", job="{{ params.job }}", trigger_rule="one_failed")
    rollback_healthy = FlinkHealthSensor(task_id="rollback_healthy", job="{{ params.job }}", poke_interval=5,
                                         timeout=600, max_verdict="HEALTHY", bounded_by_rollback=True)
    # The run's verdict (all_done: it always runs once the rest is done, unless a dry run or a Reject skipped
    # everything): success when healthy confirmed the release; otherwise it fails the run with the message
    # naming both releases, the savepoint and why (a rolled-back run is a failed run).
    outcome = FlinkRedeployOutcomeOperator(task_id="outcome", job="{{ params.job }}")

    checked = validate()
    # plan runs always (it only observes); a failed plan fails the run, a dry run stops after it; approve passes
    # straight through unless approval is required, and a Reject skips everything after it.
    # (TaskFlow: the XComArg `checked` is the validated dict when not_dry_run runs; the stubs can't say so)
    checked >> plan >> not_dry_run(checked) >> approve >> execute >> healthy  # type: ignore[arg-type]
    healthy >> rollback >> rollback_healthy >> outcome
