"""The redeploy DAG's `plan` and `approve` tasks: the plan with the changes it applies, and a human gate.

`FlinkRedeployPlanOperator` is the dry-run `FlinkRedeployOperator` plus what a person needs before saying
yes: the configuration keys the redeploy changes (catalogue at the requested release vs the running
cluster, `core.drift`), the release running now, and the approval prompt (`core.approval`).

`FlinkRedeployApprovalOperator` is Airflow's own `ApprovalOperator` (human-in-the-loop, answered in the UI's
Required Actions view or through `PATCH …/taskInstances/approve/-1/hitlDetails`). It asks only when the
plan says `require_approval` (catalogue or form); otherwise it passes straight through. Reject skips
`execute` (and so everything after it): nothing is touched. No answer within `response_timeout` fails the
task: nothing is touched either, and the run is marked failed.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from airflow.providers.standard.operators.hitl import ApprovalOperator

from flink_k8s.operators.flink import FlinkRedeployOperator

DEFAULT_APPROVAL_TIMEOUT = timedelta(hours=24)


class FlinkRedeployPlanOperator(FlinkRedeployOperator):
    """Observe and plan (never executes), then add `changes`, `running_release` and the approval prompt."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(dry_run_only=True, **kwargs)

    def execute(self, context: Any) -> dict[str, Any]:
        from flink_k8s import drift_check
        from flink_k8s import jobs as catalogue_access
        from flink_k8s.core import drift
        from flink_k8s.core.approval import approval_body
        from flink_k8s.core.run_inputs import validate_redeploy

        result = super().execute(context)
        planned: dict[str, Any] = dict(result) if isinstance(result, dict) else {"plan": str(result)}
        conf = self.conf if self.conf is not None else dict(context["params"])
        if isinstance(conf, str):
            conf = json.loads(conf)
        inp = validate_redeploy(conf, catalogue_access.load(self.catalogue))
        spec = inp.job
        cluster_id = spec.cluster_id or spec.name
        running = drift_check.observe_running(self.control_plane.kube, cluster_id)
        running_release, _ = drift.infer_release(spec, running)
        report = drift.diff(drift.desired_state(spec, inp.release, inp.parallelism), running)
        changes = report.to_dict()["differences"] if running.deployed else []
        self.log.info("What this redeploy changes (running -> after):\n%s",
                      drift.render_report(spec.name, report) if running.deployed else "first deployment")
        steps = [str(s) for s in planned.get("steps", [])]
        planned.update(
            job=spec.name, cluster_id=cluster_id, release=inp.release, running_release=running_release,
            upgrade_mode=inp.upgrade_mode, parallelism=inp.parallelism, require_approval=inp.require_approval,
            changes=changes,
            approval_body=approval_body(
                job=spec.name, cluster_id=cluster_id, namespace=spec.namespace, running_release=running_release,
                release=inp.release, mode=inp.upgrade_mode, parallelism=inp.parallelism,
                catalogue_parallelism=spec.parallelism, restore_from=inp.restore_from,
                savepoint_dir=spec.savepoint_dir, steps=steps, safety=str(planned.get("safety", "")),
                plan_table=planned.get("table"), changes=changes))
        return planned


class FlinkRedeployApprovalOperator(ApprovalOperator):
    """Ask a person to approve the plan of task `plan_task_id` — only when that plan requires it."""

    ui_color = "#fdf1d6"

    def __init__(self, *, plan_task_id: str = "plan", response_timeout: timedelta | None = DEFAULT_APPROVAL_TIMEOUT,
                 **kwargs: Any) -> None:
        kwargs.setdefault("subject", "Approve this Flink redeploy?")
        # Reject skips every task after approve, whatever its trigger rule (the rollback/outcome tasks run on
        # failures and all_done: a rejected plan must not reach them).
        kwargs.setdefault("ignore_downstream_trigger_rules", True)
        super().__init__(response_timeout=response_timeout, **kwargs)
        self.plan_task_id = plan_task_id

    def execute(self, context: Any) -> Any:
        plan = context["ti"].xcom_pull(task_ids=self.plan_task_id) or {}
        if not plan.get("require_approval"):
            self.log.info("Approval not required for %s (catalogue require_approval and the form's are off): "
                          "going on", plan.get("job"))
            return {"required": False}
        self.subject = (f"Redeploy {plan.get('job')}: release {plan.get('running_release') or 'not running'} → "
                        f"{plan.get('release')} ({plan.get('upgrade_mode')})?")
        self.body = plan.get("approval_body") or "(the plan task left no summary; see its log)"
        self.log.info("Waiting for a person to approve or reject:\n%s\n%s", self.subject, self.body)
        return super().execute(context)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        result = super().execute_complete(context, event)  # on Reject: skips `execute` and what follows
        chosen = result["chosen_options"][0]
        who = (result.get("responded_by_user") or {}).get("name") or "someone"
        if chosen == self.APPROVE:
            self.log.info("APPROVED by %s: the plan runs", who)
        else:
            self.log.warning("REJECTED by %s: nothing is stopped, deleted or submitted; execute is skipped", who)
        return {"required": True, "approved": chosen == self.APPROVE, "by": who}
