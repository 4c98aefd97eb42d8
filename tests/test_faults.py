"""Faults the other suites do not cover: a Kubernetes API that fails transiently, keeps failing or never answers,
a JobManager REST endpoint that never answers, the Airflow task killed while the real `flink run` is mid-submit,
and stale HA ConfigMaps left behind before a batch submit. (Pushgateway down: tests/test_pushgateway_dag.py.)

Faults are real, never a patch of our code and never an HTTP server answering in place of the API server
(tests/fixtures/kube_faults.py): connections reset by the network in front of the real API server (a TCP relay
that never reads HTTP), the real API server answering 500 because the admission webhook it must call is down,
an API address that accepts connections and never answers ("black hole": a dead node or a dropped-packet
firewall), and an API address where nothing listens. The product runs as the namespace's `flink-airflow`
service account; the API server's audit log counts what reached it.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.fixtures.k8s import airflow_kubernetes_conn_env
from tests.fixtures.kube_faults import (
    TcpRelay,
    admission_webhook,
    airflow_client,
    black_hole,
    closed_port_url,
    not_scheduled,
    sa_user,
    token_of,
    with_server,
)
from tests.fixtures.procs import free_port, wait_until
from tests.kube import audit
from tests.test_hostile_input import base_catalogue, make_tripwire, tripwire_fired


def kube_view(kubeconfig: Path, namespace: str, timeout: float = 2.0):
    from kubernetes import config

    from flink_k8s.clients.kube import KubeView, RetryPolicy

    return KubeView(config.new_client_from_config(str(kubeconfig)), namespace,
                    retry=RetryPolicy(attempts=4, first_delay=0.05, max_delay=0.2), request_timeout=timeout)


def gated_deployment(name: str, image: str = "repo/job:1") -> dict:
    """A JobManager-like Deployment whose pods are never scheduled (no kubelet runs them)."""
    labels = {"app": name, "component": "jobmanager", "type": "flink-native-kubernetes"}
    return {"metadata": {"name": name, "labels": labels},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": not_scheduled({"containers": [{"name": "c", "image": image}]})}}}


# --- Kubernetes API: transient failure, persistent 5xx, no answer ------------------------------------------------

def test_kube_api_transient_failure_is_retried_then_succeeds(k8s_api, tmp_path):
    """The network in front of the API server resets two connections; the third attempt reaches the real API."""
    k8s_api.core.create_namespaced_config_map(k8s_api.namespace, {"metadata": {"name": "probe"}})
    api = urlsplit(k8s_api.url)
    with TcpRelay((api.hostname, api.port), reset_first=2) as relay:
        kubeconfig = with_server(k8s_api.kubeconfig, tmp_path / "relay.kubeconfig", f"https://127.0.0.1:{relay.port}")
        view = kube_view(kubeconfig, k8s_api.namespace)
        assert view.configmap("probe")["metadata"]["name"] == "probe"  # answered by the real API server
    assert relay.connections == 3  # two resets, then the same request through


def test_kube_api_persistent_5xx_gives_kube_unavailable_after_bounded_retries(k8s_api):
    """The API server answers 500 to every delete of flink-airflow: the admission webhook it must call is down."""
    from flink_k8s.clients.kube import KubeUnavailable

    ns = k8s_api.namespace
    k8s_api.apps.create_namespaced_deployment(ns, gated_deployment("stream"))
    sa_apps = client.AppsV1Api(airflow_client(k8s_api))

    def webhook_in_effect() -> bool:
        try:
            sa_apps.delete_namespaced_deployment("stream", ns, dry_run="All")
        except ApiException as exc:
            return exc.status == 500
        return False

    with admission_webhook(k8s_api, resources=["deployments"], api_group="apps", operations=["DELETE"],
                           user=sa_user(ns), url=closed_port_url(), probe=webhook_in_effect):
        since = audit.mark(k8s_api.cluster.audit_log)
        view = kube_view(k8s_api.kubeconfig, ns)
        with pytest.raises(KubeUnavailable) as err:
            view.delete_deployment("stream")
        view.configmap("marker")  # a request logged after the deletes: the audit log has caught up with them
        wait_until(lambda: any(e.resource == "configmaps" for e in audit.events(k8s_api.cluster.audit_log, since, ns)),
                   10, "the audit log to catch up")
        deletes = [e for e in audit.events(k8s_api.cluster.audit_log, since, ns)
                   if e.verb == "delete" and e.resource == "deployments" and e.user == sa_user(ns)]
    assert [e.code for e in deletes] == [500] * 4  # exactly the budget: 4 attempts, no hidden retries
    message = str(err.value)
    assert "delete deployment stream" in message and "after 4 attempts" in message and "500" in message
    assert token_of(k8s_api.kubeconfig) not in message
    assert k8s_api.apps.read_namespaced_deployment("stream", ns).metadata.deletion_timestamp is None


def test_kube_api_that_never_answers_gives_kube_unavailable_after_bounded_timeouts(k8s_api, tmp_path):
    from flink_k8s.clients.kube import KubeUnavailable

    with black_hole() as (address, accepted):
        kubeconfig = with_server(k8s_api.kubeconfig, tmp_path / "dead.kubeconfig", f"https://{address}")
        view = kube_view(kubeconfig, k8s_api.namespace, timeout=0.5)
        with pytest.raises(KubeUnavailable) as err:
            view.pods("stream")
        assert len(accepted) == 4  # one connection per attempt
    assert "list pods of stream" in str(err.value) and "after 4 attempts" in str(err.value)
    assert "timed out" in str(err.value).lower() or "timeout" in str(err.value).lower()


def test_redeploy_dry_run_fails_clearly_when_the_kube_api_keeps_failing(k8s_api, tmp_path, monkeypatch,
                                                                         airflow_db, airflow_run):
    """The whole DAG with the API server down (nothing listens at its address): the plan fails naming the call."""
    catalogue = tmp_path / "catalogue.yaml"
    catalogue.write_text(yaml.safe_dump(base_catalogue(k8s_api.namespace)))
    tripwire = make_tripwire(tmp_path / "flink-home")
    monkeypatch.setenv("FLINK_K8S_CATALOGUE", str(catalogue))
    monkeypatch.setenv("FLINK_HOME", str(tripwire))
    down = with_server(k8s_api.kubeconfig, tmp_path / "down.kubeconfig", f"https://127.0.0.1:{free_port()}")
    for key, value in airflow_kubernetes_conn_env(down, k8s_api.namespace).items():
        monkeypatch.setenv(key, value)
    result = airflow_run("flink_streaming_redeploy", conf={"job": "stream", "release": "2", "dry_run": True})
    assert result.task_states["validate"] == "success"
    assert result.task_states["plan"] == "failed", result.task_states
    # the plan reads the job's ledger first (core/ledger.py), then observes the cluster
    assert "Kubernetes API failed for get configmap flink-k8s-airflow-stream after 4 attempts" in result.log_text
    assert "Connection refused" in result.log_text or "NewConnectionError" in result.log_text
    assert result.task_states.get("execute") == "upstream_failed"  # nothing executed after a failed plan
    assert result.state == "failed"  # and the run says so (a dry run whose plan fails is not a success)
    assert not tripwire_fired(tripwire)
    assert token_of(k8s_api.kubeconfig) not in result.log_text


# --- JobManager REST unreachable --------------------------------------------------------------------------------

def test_rest_endpoint_that_never_answers_gives_rest_unreachable_after_bounded_retries():
    from flink_k8s.clients.flink_rest import FlinkRestClient, RestUnreachable
    from flink_k8s.clients.http_retry import RetryPolicy

    sleeps: list[float] = []
    with black_hole() as (address, accepted):
        client = FlinkRestClient(f"http://{address}", timeout=0.5, sleep=sleeps.append,
                                 retry=RetryPolicy(attempts=3, backoff=0.1))
        with pytest.raises(RestUnreachable) as err:
            client.jobs()
        assert len(accepted) == 3  # one connection per try, no more
    assert sleeps == [0.1, 0.2]
    assert f"{address}/jobs/overview" in str(err.value) and "3 tries" in str(err.value)
    assert "Timeout" in str(err.value)


def test_observe_reports_unreachable_rest_without_failing(k8s_api):
    """The control plane's observation records the REST failure and still returns what Kubernetes shows."""
    from flink_k8s.clients.flink_cli import FlinkCli
    from flink_k8s.control_plane import FlinkControlPlane, RestAccess

    ns = k8s_api.namespace
    k8s_api.apps.create_namespaced_deployment(ns, gated_deployment("stream"))
    with black_hole() as (address, _):
        cp = FlinkControlPlane(kube_view(k8s_api.kubeconfig, ns), cli=FlinkCli(None), rest_timeout=0.5,
                               rest_access=RestAccess(mode="url", url_template=f"http://{address}"))
        observation = cp.observe("stream")
    assert observation.deployment is not None
    assert observation.job is None and "no answer after" in (observation.rest_error or "")


# --- the Airflow task killed mid-submit --------------------------------------------------------------------------

def _group_members(pgid: int) -> list[int]:
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            members.append(int(stat.parent.name))
    return members


@pytest.mark.slow
def test_on_kill_during_a_real_submit_leaves_no_jvm(k8s_api, tmp_path, monkeypatch, airflow_db):
    """`flink run --target kubernetes-application` against an API server that accepts and never answers: once
    the CLI JVM is connected (mid-submit), the operator's on_kill (what Airflow calls when the task is
    killed) must end it: CliKilled, the whole process group gone, nothing created anywhere."""
    from flink_k8s.clients.flink_cli import CliKilled
    from flink_k8s.operators.flink import FlinkSubmitOperator
    from tests.fixtures.flink_cluster import FAST_CLI_ENV
    from tests.fixtures.paths import FLINK_23

    catalogue = tmp_path / "catalogue.yaml"
    catalogue.write_text(yaml.safe_dump(base_catalogue(k8s_api.namespace)))
    monkeypatch.setenv("FLINK_K8S_CATALOGUE", str(catalogue))
    monkeypatch.setenv("FLINK_HOME", str(FLINK_23))
    monkeypatch.setenv("JVM_ARGS", FAST_CLI_ENV["JVM_ARGS"])
    monkeypatch.setenv("FLINK_LOG_DIR", str(tmp_path / "flink-log"))
    caught: list[BaseException] = []
    with black_hole() as (address, accepted):  # an API server that accepts and never answers
        kubeconfig = with_server(k8s_api.kubeconfig, tmp_path / "kubeconfig", f"http://{address}")
        for key, value in airflow_kubernetes_conn_env(kubeconfig, k8s_api.namespace).items():
            monkeypatch.setenv(key, value)
        op = FlinkSubmitOperator(task_id="submit", job="stream", release="1", deferrable=False)
        spec, release, parallelism = op._checked()
        cp = op.control_plane

        def submit() -> None:
            try:
                cp.submit(spec, release, cluster_id="stream", timeout=300)
            except BaseException as exc:  # noqa: BLE001 - handed to the test thread
                caught.append(exc)

        worker = threading.Thread(target=submit)
        worker.start()
        try:
            pid = wait_until(lambda: cp.cli.pid, 30, "the flink CLI to start")
            wait_until(lambda: accepted, 180, "the CLI JVM to connect to the API server (mid-submit)")
            op.on_kill()
        finally:
            worker.join(timeout=60)
    assert not worker.is_alive()
    assert len(caught) == 1 and isinstance(caught[0], CliKilled), caught
    assert caught[0].pid == pid
    wait_until(lambda: not Path(f"/proc/{pid}").exists() and not _group_members(pid), 15,
               f"no process left in group {pid}")
    assert k8s_api.apps.list_namespaced_deployment(k8s_api.namespace).items == []


# --- stale HA ConfigMaps before a batch submit --------------------------------------------------------------------

RECORDING_TRIPWIRE = """#!/bin/sh
# Stands at the place of bin/flink for one purpose: record which ConfigMaps existed at the moment the operator
# started the CLI (the stale HA maps must be gone by then). It never submits anything.
kubeconfig=""; namespace=""
for arg in "$@"; do
  case "$arg" in
    -Dkubernetes.config.file=*) kubeconfig="${arg#-Dkubernetes.config.file=}" ;;
    -Dkubernetes.namespace=*) namespace="${arg#-Dkubernetes.namespace=}" ;;
  esac
done
marker="$(dirname "$0")/../INVOKED"
printf '%s\\n' "$*" >> "$marker"
kubectl --kubeconfig "$kubeconfig" -n "$namespace" get configmaps -o name >> "$marker" 2>&1
exit 97
"""


def _ha_configmap(name: str, cluster_id: str, data: dict[str, str]) -> dict:
    return {"metadata": {"name": name, "labels": {"app": cluster_id, "type": "flink-native-kubernetes",
                                                   "configmap-type": "high-availability"}},
            "data": data}


def test_stale_ha_configmaps_of_the_run_are_deleted_before_the_batch_submit(k8s_api, k8s_airflow_conn, tmp_path,
                                                                            monkeypatch, airflow_db):
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.models.dagrun import DagRun
    from airflow.sdk import DAG
    from airflow.utils.types import DagRunType

    from flink_k8s.operators.flink import FlinkSubmitOperator, run_cluster_id
    from tests.fixtures.airflow_env import capture_logs, collect_result, serialize_dag

    ns = k8s_api.namespace
    catalogue = tmp_path / "catalogue.yaml"
    catalogue.write_text(yaml.safe_dump(base_catalogue(ns)))
    home = make_tripwire(tmp_path / "flink-home")
    (home / "bin" / "flink").write_text(RECORDING_TRIPWIRE)
    monkeypatch.setenv("FLINK_K8S_CATALOGUE", str(catalogue))
    monkeypatch.setenv("FLINK_HOME", str(home))

    dag_id = f"stale_ha_{uuid.uuid4().hex[:6]}"
    logical = datetime(2024, 5, 1, tzinfo=UTC)
    run_id = DagRun.generate_run_id(run_type=DagRunType.MANUAL, logical_date=logical, run_after=logical)
    cluster = run_cluster_id("nightly", dag_id, run_id)
    job_id = uuid.uuid4().hex
    stale = [_ha_configmap(f"{cluster}-cluster-config-map", cluster,
                           {f"executionPlan-{job_id}": "stale job graph of an earlier try"}),
             _ha_configmap(f"{cluster}-{job_id}-config-map", cluster, {"counter": "7", "checkpointID-7": "x"})]
    others = [_ha_configmap("nightly-cluster-config-map", "nightly", {"counter": "1"}),  # the base id: not this run
              _ha_configmap("other-cluster-config-map", "other", {"counter": "1"})]
    for body in stale + others:
        k8s_api.core.create_namespaced_config_map(ns, body)

    with DAG(dag_id, schedule=None) as dag:
        FlinkSubmitOperator(task_id="run", job="nightly", release="1", deferrable=False)
    DagBundlesManager().sync_bundles_to_db(deactivate_missing=False)  # see run_test_dag
    serialize_dag(dag)
    with capture_logs() as logs:  # run_dag without run_after: the run id (and so the cluster id) must be known
        dag_run = dag.test(logical_date=logical, run_after=logical)
    result = collect_result(dag.dag_id, dag_run.run_id, logs.getvalue())

    assert result.run_id == run_id
    assert result.state == "failed"  # the recording tripwire exits 97: the submit itself "fails"
    assert "exit code: 97" in result.log_text
    recorded = (home / "INVOKED").read_text()
    assert f"-Dkubernetes.cluster-id={cluster}" in recorded
    at_submit = {line.split("/", 1)[1] for line in recorded.splitlines() if line.startswith("configmap/")}
    assert at_submit, recorded  # kubectl listed the namespace when the CLI was started
    assert not {b["metadata"]["name"] for b in stale} & at_submit, recorded
    assert {b["metadata"]["name"] for b in others} <= at_submit
    left = {cm.metadata.name for cm in k8s_api.core.list_namespaced_config_map(ns).items}
    # kube-root-ca.crt: the cluster's CA, published into every namespace by the controller-manager; untouched
    assert left == {b["metadata"]["name"] for b in others} | {"kube-root-ca.crt"}
