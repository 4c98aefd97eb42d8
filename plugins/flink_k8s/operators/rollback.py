"""The redeploy DAG's rollback tasks: `rollback` (runs only when the new release failed or was not HEALTHY in
time) and `outcome` (the run's verdict, with the message naming both releases, the savepoint and why).

Thin wiring: `FlinkControlPlane.rollback` decides (`core.rollback`) and executes; `core.rollback.run_outcome`
words the verdict from the job's release history. A rollback that did nothing because there was nothing to do
(rollback off, first deployment, the run replaced nothing) shows as *skipped* with the reason in its log and
XCom `decision`; one that could not be done safely, or stopped, *fails* with what to do.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from flink_k8s.operators.flink import FlinkJobOperatorBase, dag_run_id, holder_run_id


class FlinkRollbackOperator(FlinkJobOperatorBase):
    """Roll the run's new release back to the previous one from the savepoint taken before the upgrade.
    Re-running it (clear the task) continues a rollback that stopped, from the job's ledger."""

    template_fields = ("job",)
    ui_color = "#f9d9d6"

    def __init__(self, *, timeout: float = 600, plan_task_id: str = "plan", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.timeout, self.plan_task_id = timeout, plan_task_id

    def execute(self, context: Any) -> dict[str, Any]:
        from flink_k8s.core.rollback import RollbackKind

        if never_planned(context, self.plan_task_id):
            # one_failed also fires for a failed `validate`: nothing was planned, so nothing is read or touched
            raise AirflowSkipException("no rollback: this run's redeploy never started (no plan)")
        result = self.control_plane.rollback(self.job_spec, dag_run_id(context), holder_run_id(context),
                                             timeout=self.timeout, logger=self.log)
        summary = result.summary()
        context["ti"].xcom_push(key="decision", value=summary)
        kind = result.decision.kind
        if kind is RollbackKind.REFUSED:
            raise AirflowFailException(result.decision.message)
        if not kind.acts and kind is not RollbackKind.ALREADY_DONE:
            raise AirflowSkipException(f"no rollback: {result.decision.message}")
        return summary


class FlinkRedeployOutcomeOperator(FlinkJobOperatorBase):
    """The run's last task: succeeds when `healthy_task_id` confirmed HEALTHY, otherwise fails the run with the
    release history's account (rolled back from X to Y from savepoint S because …, or why not)."""

    template_fields = ("job",)

    def __init__(self, *, healthy_task_id: str = "healthy", rollback_task_id: str = "rollback",
                 plan_task_id: str = "plan", **kwargs: Any) -> None:
        kwargs.setdefault("trigger_rule", "all_done")
        super().__init__(**kwargs)
        self.healthy_task_id, self.rollback_task_id = healthy_task_id, rollback_task_id
        self.plan_task_id = plan_task_id

    def execute(self, context: Any) -> str:
        from flink_k8s.core.rollback import run_outcome

        if never_planned(context, self.plan_task_id):
            raise AirflowFailException(f"{self.job}: this run deployed nothing (it was refused before its plan; "
                                       "see the failed task)")
        ti = context["ti"]
        healthy = ti.xcom_pull(task_ids=self.healthy_task_id) is not None
        decision = ti.xcom_pull(task_ids=self.rollback_task_id, key="decision") or {}
        spec = self.job_spec
        ledger = self.control_plane.ledger(spec.cluster_id or spec.name)
        outcome = run_outcome(spec, ledger, dag_run_id(context), healthy, decision.get("message"))
        if outcome.failed:
            raise AirflowFailException(outcome.message)
        self.log.info("%s", outcome.message)
        return outcome.message


def never_planned(context: Any, plan_task_id: str) -> bool:
    """True when the run's `plan` task left no plan (validate failed before it): the rollback and verdict tasks
    then decide without a single request."""
    return context["ti"].xcom_pull(task_ids=plan_task_id) is None
