"""HA-aware health of every streaming job of the catalogue, checked concurrently every 5 minutes.

The run fails when any job is UNHEALTHY or MISSING and logs a table of all verdicts; verdicts go to XCom
(`verdicts`). Schedule: `FLINK_K8S_HEALTH_SCHEDULE` (cron or preset; default every 5 minutes; `none` = manual only).

Drift is its own finding (task `drift`, XCom `drift`): DRIFTED with the keys and both values when the running
cluster no longer matches what the catalogue renders. It does not fail the run unless
`FLINK_K8S_FAIL_ON_DRIFT=true`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from flink_k8s.operators.drift import FlinkDriftOperator
from flink_k8s.operators.flink import FlinkHealthOperator
from flink_k8s.settings import flag_from_env, schedule_from_env

with DAG(
    dag_id="flink_health_monitor",
    description="Health verdicts of all streaming Flink jobs",
    schedule=schedule_from_env("FLINK_K8S_HEALTH_SCHEDULE", "*/5 * * * *"),
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=4),
    tags=["flink", "streaming", "monitoring"],
    doc_md=__doc__,
):
    FlinkHealthOperator(task_id="check_all")
    FlinkDriftOperator(task_id="drift", fail_on_drift=flag_from_env("FLINK_K8S_FAIL_ON_DRIFT"))
