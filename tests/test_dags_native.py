"""The batch DAG end to end with `dag.test()` on the local harness.

The streaming DAGs are tests/test_dags_streaming.py (one lifecycle).

Hostile form values are tests/test_hostile_input.py (schema refusal and server-side refusal, with no-side-effect
proofs).

The streaming job's whole life (deploy, redeploy modes, resume, health) is tests/test_dags_streaming.py.

Real components only: the real Flink 2.3.0 CLI submits into the emulated Kubernetes API, the harness runs
the JobManager/TaskManagers Flink asks for, REST goes through the API server's service proxy, and Airflow
runs the repository's DAG files. The catalogue is a test catalogue (Flink 2.3, small memory, the test jars).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.fixtures.test_jobs import FAILURE_MESSAGE, read_batch_result

pytestmark = pytest.mark.slow


def _deployments(native) -> list[str]:
    return [d.metadata.name for d in native.api.apps.list_namespaced_deployment(native.api.namespace).items]


def test_batch_dag_runs_to_finished_and_cleans_up(flink_env, airflow_run):
    result = airflow_run("flink_batch__nightly", conf={"release": "1"})
    assert result.state == "success", result.log_text[-4000:]
    xcom = result.xcoms["run"]
    assert xcom["final_state"] == "FINISHED"
    assert xcom["job_id"] and len(xcom["job_id"]) == 32
    counts = read_batch_result(flink_env["out"] / "nightly")
    assert sum(c for c, _ in counts.values()) == 2000
    # the per-run cluster is deleted afterwards (Deployment; dependents cascade)
    assert xcom["cluster_id"] not in _deployments(flink_env["native"])


def test_failing_batch_job_fails_the_task_with_the_java_root_cause(flink_env, airflow_run):
    result = airflow_run("flink_batch__broken", conf={"release": "1"})
    assert result.state == "failed"
    assert result.task_states["run"] in ("failed", "up_for_retry")
    assert FAILURE_MESSAGE in result.log_text
    assert "Root cause" in result.log_text


def test_batch_retry_reattaches_to_the_cluster_the_first_try_submitted(flink_env, airflow_run):
    """A worker that died after submitting leaves the per-run cluster; the next try must not submit again."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.types import DagRunType

    from flink_k8s import jobs
    from flink_k8s.hooks.flink import FlinkKubernetesHook
    from flink_k8s.operators.flink import FlinkSubmitOperator, run_cluster_id

    logical = datetime(2024, 3, 1, tzinfo=UTC)
    run_id = DagRun.generate_run_id(run_type=DagRunType.MANUAL, logical_date=logical, run_after=logical)
    spec = jobs.load_job("nightly")
    cluster_id = run_cluster_id(spec.name, "flink_batch__nightly", run_id)
    cp = FlinkKubernetesHook("kubernetes_default", flink_env["ns"]).control_plane
    cp.submit(spec, "1", cluster_id=cluster_id, extra_conf=FlinkSubmitOperator._extra_conf(spec))  # "first try"

    result = airflow_run("flink_batch__nightly", conf={"release": "1"}, logical_date=logical, run_after=logical)
    assert result.run_id == run_id
    assert result.state == "success", result.log_text[-4000:]
    assert "attaching, not submitting again" in result.log_text
    assert "Submitted " not in result.log_text
    assert result.xcoms["run"]["final_state"] == "FINISHED"
