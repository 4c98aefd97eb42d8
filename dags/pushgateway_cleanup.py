"""Nightly cleanup of stale Pushgateway groups (Flink reporters with randomJobNameSuffix leave them).

Configuration (read from the environment at parse time; no network or DB access here):
- `PUSHGATEWAY_CLEANUP_SCHEDULE`: cron or preset, default `30 2 * * *` (nightly); `none` = manual only.
- `PUSHGATEWAY_CLEANUP_MAX_AGE`: default for the `max_age` param, default `1d`.
- `PUSHGATEWAY_CLEANUP_JOB_PREFIX`: default for `job_prefix` (the reporter's jobName), default empty =
  any job ending in Flink's 32-hex random suffix.
The gateway is connection `pushgateway_default` (type http; host/port/schema, optional login/password).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import DAG, Param

from flink_k8s.operators.pushgateway import PushgatewayCleanupOperator
from flink_k8s.settings import schedule_from_env

with DAG(
    dag_id="pushgateway_cleanup",
    description="Delete Pushgateway groups whose last successful push is older than max_age",
    schedule=schedule_from_env("PUSHGATEWAY_CLEANUP_SCHEDULE", "30 2 * * *"),
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=30),
    tags=["flink", "pushgateway", "maintenance"],
    params={
        "max_age": Param(os.environ.get("PUSHGATEWAY_CLEANUP_MAX_AGE", "1d"), type="string",
                         description="Delete groups not pushed successfully for this long: 15m, 2h, 1d, PT15M"),
        "dry_run": Param(False, type="boolean", description="Only report what would be deleted"),
        "job_prefix": Param(os.environ.get("PUSHGATEWAY_CLEANUP_JOB_PREFIX", ""), type="string",
                            description="Flink reporter jobName; empty = any <name><32 hex> job"),
        "force": Param(False, type="boolean", description="Delete even above the max-share safety guard"),
    },
    default_args={"retries": 0},
    doc_md=__doc__,
):
    PushgatewayCleanupOperator(
        task_id="cleanup_stale_groups",
        max_age="{{ params.max_age }}",
        dry_run="{{ params.dry_run }}",
        job_prefix="{{ params.job_prefix }}",
        force="{{ params.force }}",
    )
