"""One scheduled DAG per batch job of the catalogue: `flink_batch__<job>`.

Each run submits the job to native Kubernetes with the real Flink CLI on a per-run cluster id
(`<cluster id[:36]>-<8 hex of sha1(dag_id/run_id)>`), waits (deferrable) until it ends, fails with
Flink's root exception when the job fails, and deletes the cluster. Retries re-attach to the cluster the
first try submitted. Parse cost: reading the catalogue file; no network, no Kubernetes imports.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import DAG, Asset, Param

from flink_k8s import jobs
from flink_k8s.core.form_params import batch_param_specs, make_params
from flink_k8s.operators.flink import FlinkSubmitOperator

# Retries re-attach to the run's cluster (same per-run cluster id), so they are safe; env overrides for tests.
RETRIES = int(os.environ.get("FLINK_K8S_BATCH_RETRIES", "2"))

for spec in jobs.load().batch_jobs():
    with DAG(
        dag_id=f"flink_batch__{spec.name}",
        description=spec.description or f"Flink batch job {spec.name}",
        schedule=spec.schedule,
        start_date=datetime(2024, 1, 1),
        catchup=False,
        max_active_runs=1,
        default_args={"retries": RETRIES, "retry_delay": timedelta(minutes=1)},
        # Title, description and section of the form field: core/form_params.py.
        params=make_params(batch_param_specs(spec), Param),
        tags=["flink", "batch"],
        doc_md=__doc__,
    ) as dag:
        FlinkSubmitOperator(
            task_id="run",
            job=spec.name,
            release="{{ params.release }}",
            # The asset is the job's output, identified by the job alone: a name and URI that never change when
            # the job moves namespace or cluster id (Airflow deactivates an asset whose name gets a new URI).
            outlets=[Asset(name=f"flink_batch__{spec.name}", uri=f"flink://batch/{spec.name}")],
        )
    globals()[dag.dag_id] = dag
