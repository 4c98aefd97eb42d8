"""FlinkDriftOperator: the health monitor's drift finding — DRIFTED is its own kind, never UNHEALTHY.

Why a separate task: a drifted job can be perfectly healthy (a hot-fixed image, a parallelism set from the
redeploy form), and a health failure must not hide behind a drift report or the other way round. The task
succeeds unless `fail_on_drift=True` (the monitor DAG reads `FLINK_K8S_FAIL_ON_DRIFT`): drift is something
to look at and reconcile with a redeploy, not an outage. Findings go to XCom `drift` and the log.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator

from flink_k8s import jobs as catalogue_access


class FlinkDriftOperator(BaseOperator):
    """Drift of every streaming job (or `jobs`): catalogue rendering vs the running cluster."""

    ui_color = "#f5ecd7"

    def __init__(self, *, jobs: list[str] | None = None, catalogue: str | None = None,
                 kubernetes_conn_id: str | None = None, fail_on_drift: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.jobs = jobs
        self.catalogue = catalogue
        self.kubernetes_conn_id = kubernetes_conn_id
        self.fail_on_drift = fail_on_drift

    def execute(self, context: Any) -> dict[str, dict[str, Any]]:
        from flink_k8s import drift_check
        from flink_k8s.core.drift import DriftReport, findings, render_findings
        from flink_k8s.hooks.flink import FlinkKubernetesHook

        catalogue = catalogue_access.load(self.catalogue)
        specs = [catalogue.job(n) for n in self.jobs] if self.jobs else catalogue.streaming_jobs()
        groups: dict[tuple[str, str], list[Any]] = {}
        for spec in specs:
            groups.setdefault((self.kubernetes_conn_id or spec.kubernetes_conn_id, spec.namespace), []).append(spec)
        checked: dict[str, DriftReport | str] = {}
        for (conn_id, namespace), group in groups.items():
            hook = FlinkKubernetesHook(conn_id, namespace)
            checked.update(drift_check.check_many(hook.control_plane.kube, group))
        result = findings(checked)
        self.log.info("Drift of %d streaming jobs (catalogue vs running):\n%s", len(result), render_findings(result))
        context["ti"].xcom_push(key="drift", value=result)
        drifted = sorted(name for name, f in result.items() if f["verdict"] == "DRIFTED")
        if drifted and self.fail_on_drift:
            raise RuntimeError("drifted from the catalogue: " + "; ".join(
                f"{name}: {', '.join(result[name]['keys'])}" for name in drifted))
        return result
