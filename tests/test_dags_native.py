"""The batch DAG end to end with `dag.test()` on the local harness.

The streaming job's whole life (deploy, redeploy modes, resume, health) is tests/test_dags_streaming.py;
hostile form values are tests/test_hostile_input.py (schema refusal and server-side refusal, with
no-side-effect proofs).

Real components only: the real Flink 2.3.0 CLI submits into the real local control plane
(tests/kube/controlplane.py) as the namespace's `flink-airflow` service account, the Deployment and
ReplicaSet controllers and the scheduler place the JobManager, the test's kubelet runs it and the
TaskManagers Flink asks for (as `flink-sa`), REST goes through the API server's service proxy, the garbage
collector removes what the deleted Deployment owned, and Airflow runs the repository's DAG files. The
catalogue is a test catalogue (Flink 2.3, small memory, the test jars).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.fixtures.procs import wait_until
from tests.fixtures.test_jobs import FAILURE_MESSAGE, read_batch_result

pytestmark = pytest.mark.slow


def _deployments(native) -> list[str]:
    return [d.metadata.name for d in native.api.apps.list_namespaced_deployment(native.api.namespace).items]


def _left_of(native, cluster_id: str) -> list[str]:
    """What is left of a cluster: its pods, Services and ConfigMaps (Flink labels them all `app=<id>`)."""
    core, ns, selector = native.api.core, native.api.namespace, f"app={cluster_id}"
    return [f"{kind}/{obj.metadata.name}" for kind, listing in (
        ("pod", core.list_namespaced_pod), ("service", core.list_namespaced_service),
        ("configmap", core.list_namespaced_config_map)) for obj in listing(ns, label_selector=selector).items]


def test_batch_dag_runs_to_finished_and_cleans_up(flink_env, airflow_run):
    result = airflow_run("flink_batch__nightly", conf={"release": "1"})
    assert result.state == "success", result.log_text[-4000:]
    xcom = result.xcoms["run"]
    assert xcom["final_state"] == "FINISHED"
    assert xcom["job_id"] and len(xcom["job_id"]) == 32
    counts = read_batch_result(flink_env["out"] / "nightly")
    assert sum(c for c, _ in counts.values()) == 2000
    # the per-run cluster is deleted afterwards: the Deployment at once, its dependents (ReplicaSet, pods,
    # Services, flink-config ConfigMap) by the real garbage collector, the TaskManager pods by their owner
    native, cluster_id = flink_env["native"], xcom["cluster_id"]
    assert cluster_id not in _deployments(native)
    wait_until(lambda: not _left_of(native, cluster_id), 60, f"the garbage collector to remove {cluster_id}'s objects")


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
    native = flink_env["native"]
    assert {"service", "configmap"} <= {o.split("/")[0] for o in _left_of(native, cluster_id)}, \
        _left_of(native, cluster_id)  # what the selector of the clean-up checks finds while the cluster is up

    result = airflow_run("flink_batch__nightly", conf={"release": "1"}, logical_date=logical, run_after=logical)
    assert result.run_id == run_id
    assert result.state == "success", result.log_text[-4000:]
    assert "attaching, not submitting again" in result.log_text
    assert "Submitted " not in result.log_text
    assert result.xcoms["run"]["final_state"] == "FINISHED"
    wait_until(lambda: not _left_of(native, cluster_id), 60, f"the garbage collector to remove {cluster_id}'s objects")


def _can_proxy(api) -> bool:
    """May the product's identity (flink-airflow) reach Flink REST through the service proxy? (the authorizer)"""
    done = api.kubectl("auth", "can-i", "get", "services", "--subresource=proxy", "-n", api.namespace, check=False)
    return done.stdout.strip() == "yes"


def test_batch_wait_refused_by_rbac_fails_at_once_with_the_api_servers_reason(flink_env, airflow_run):
    """flink-airflow without `services/proxy` (a Role trimmed too far): the cluster is submitted (the Flink CLI
    needs no proxy), but the job's state cannot be read.

    The real API server's RBAC answers 403 on every REST call through the proxy. Waiting cannot change that, so
    the wait must fail at once, naming who may not do what — not poll out the operator's 24 h timeout (the
    emulator accepted any identity, so this path never ran before) — and the per-run cluster is still deleted.
    """
    from airflow.models.dagrun import DagRun
    from airflow.utils.types import DagRunType
    from kubernetes import client

    from flink_k8s import jobs
    from flink_k8s.hooks.flink import FlinkKubernetesHook
    from flink_k8s.operators.flink import FlinkSubmitOperator, run_cluster_id

    native = flink_env["native"]
    api, ns = native.api, flink_env["ns"]
    rbac = client.RbacAuthorizationV1Api(api.client)
    role = rbac.read_namespaced_role("flink-airflow", ns)
    kept = [r for r in role.rules if "services/proxy" not in (r.resources or [])]
    assert len(kept) == len(role.rules) - 1, role.rules
    role.rules = kept
    rbac.replace_namespaced_role("flink-airflow", ns, role)
    wait_until(lambda: not _can_proxy(api), 30, "the authorizer to refuse services/proxy to flink-airflow")

    logical = datetime(2024, 4, 1, tzinfo=UTC)
    run_id = DagRun.generate_run_id(run_type=DagRunType.MANUAL, logical_date=logical, run_after=logical)
    spec = jobs.load_job("nightly")
    cluster_id = run_cluster_id(spec.name, "flink_batch__nightly", run_id)
    cp = FlinkKubernetesHook("kubernetes_default", ns).control_plane
    cp.submit(spec, "1", cluster_id=cluster_id, extra_conf=FlinkSubmitOperator._extra_conf(spec))  # needs no proxy

    check = cp.check_job(cluster_id, "finished")  # one poll decides: a 403 is final
    assert check.done and not check.succeeded, check
    assert "HTTP 403" in check.message and 'cannot get resource "services/proxy"' in check.message, check

    result = airflow_run("flink_batch__nightly", conf={"release": "1"}, logical_date=logical, run_after=logical)
    assert result.run_id == run_id
    assert result.state == "failed"
    assert 'cannot get resource "services/proxy"' in result.log_text, result.log_text[-4000:]
    assert "Waiting does not change that" in result.log_text
    wait_until(lambda: not _left_of(native, cluster_id), 90, f"the failed run to delete cluster {cluster_id}")


def test_wait_fails_at_once_on_a_certificate_that_does_not_verify(k8s_api, k8s_airflow_conn):
    """A REST endpoint whose TLS certificate does not verify (here: the API server's service proxy reached
    through a `url` template, checked against the system CAs instead of the cluster's) fails the wait at once.

    Found on the real API server: with `REQUESTS_CA_BUNDLE` set, every proxied REST call failed certificate
    verification, and the batch wait took each failure for "cluster starting" and would have polled for 24 h.
    """
    from flink_k8s.hooks.flink import FlinkKubernetesHook

    ns = k8s_api.namespace
    k8s_api.kubectl("create", "deployment", "tls", "--image=flink-test:1", "--replicas=0", "-n", ns, admin=True)
    k8s_api.kubectl("create", "service", "clusterip", "tls-rest", "--tcp=8081:8081", "-n", ns, admin=True)
    template = f"{k8s_api.url}/api/v1/namespaces/{{namespace}}/services/{{cluster_id}}-rest:8081/proxy"
    cp = FlinkKubernetesHook(k8s_airflow_conn, ns, rest_access={"mode": "url", "url_template": template}).control_plane

    check = cp.check_job("tls", "finished")
    assert check.done and not check.succeeded, check
    assert "certificate does not verify" in check.message, check
