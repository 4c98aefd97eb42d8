"""Faults the other suites do not cover: a Kubernetes API that answers 5xx or never answers, a JobManager REST
endpoint that never answers, the Airflow task killed while the real `flink run` is mid-submit, and stale HA
ConfigMaps left behind before a batch submit. (Pushgateway down: tests/test_pushgateway_dag.py.)

Faults are injected on the wire, never by patching our code: `FaultyApi` is a real HTTP server in front of
the emulated Kubernetes API that answers 503, hangs, or forwards; a "black hole" is a socket that accepts
connections and never answers (what a dead node or a dropped-packet firewall looks like to a client).
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from tests.fixtures.http_stub import StubHandler, serve
from tests.fixtures.k8s import airflow_kubernetes_conn_env
from tests.fixtures.procs import wait_until
from tests.test_hostile_input import base_catalogue, make_tripwire, tripwire_fired


class FaultyApi:
    """A real HTTP server in front of `upstream`: `fail_next` requests get 503, `hang` makes every request wait
    until the server stops, anything else is forwarded. Counts the requests it saw."""

    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream)
        self.fail_next = 0
        self.hang = False
        self.seen: list[str] = []
        self._release = threading.Event()
        self._lock = threading.Lock()
        outer = self

        class Handler(StubHandler):
            protocol_version = "HTTP/1.1"

            def answer(self) -> None:
                body = self.body()
                with outer._lock:
                    outer.seen.append(f"{self.command} {self.path}")
                    fail = outer.fail_next > 0
                    outer.fail_next -= 1 if fail else 0
                if outer.hang:
                    outer._release.wait(60)
                    self.close_connection = True
                    return
                if fail:
                    return self.reply(503, json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                                       "reason": "ServiceUnavailable", "code": 503,
                                                       "message": "etcd leader changed"}).encode())
                conn = http.client.HTTPConnection(outer.upstream.hostname, outer.upstream.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn.request(self.command, self.path, body=body or None, headers=headers)
                resp = conn.getresponse()
                self.reply(resp.status, resp.read(), resp.getheader("Content-Type", "application/json"))
                conn.close()

        self._serving = serve(Handler, before_shutdown=self._release.set)
        self.url = ""

    def __enter__(self) -> FaultyApi:
        self.url = self._serving.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._serving.__exit__(None, None, None)


@contextmanager
def black_hole() -> Iterator[tuple[str, list[socket.socket]]]:
    """127.0.0.1:<port> that accepts TCP connections and never answers; yields (address, accepted sockets)."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def loop() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            accepted.append(conn)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}", accepted
    finally:
        stop.set()
        thread.join(5)
        for conn in accepted:
            conn.close()
        listener.close()


def kube_view(url: str, namespace: str, timeout: float = 2.0):
    from kubernetes import client

    from flink_k8s.clients.kube import KubeView, RetryPolicy

    config = client.Configuration()
    config.host = url
    config.api_key = {"authorization": "Bearer emulator-token"}
    return KubeView(client.ApiClient(config), namespace, retry=RetryPolicy(attempts=4, first_delay=0.05,
                                                                            max_delay=0.2),
                    request_timeout=timeout)


def write_kubeconfig(path: Path, server: str, namespace: str) -> Path:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": {"token": "emulator-token"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u", "namespace": namespace}}]}))
    return path


# --- Kubernetes API 5xx and timeouts --------------------------------------------------------------------------

def test_kube_api_transient_503_is_retried_then_succeeds(k8s_api):
    k8s_api.core.create_namespaced_config_map(k8s_api.namespace, {"metadata": {"name": "probe"}})
    with FaultyApi(k8s_api.url) as api:
        api.fail_next = 2
        view = kube_view(api.url, k8s_api.namespace)
        assert view.configmap("probe")["metadata"]["name"] == "probe"
    assert len(api.seen) == 3 and len(set(api.seen)) == 1  # two 503s, then the same request forwarded


def test_kube_api_persistent_503_gives_kube_unavailable_after_bounded_retries(k8s_api):
    from flink_k8s.clients.kube import KubeUnavailable

    with FaultyApi(k8s_api.url) as api:
        api.fail_next = 10**6
        view = kube_view(api.url, k8s_api.namespace)
        with pytest.raises(KubeUnavailable) as err:
            view.deployment("stream")
    assert len(api.seen) == 4
    message = str(err.value)
    assert "get deployment stream" in message and "after 4 attempts" in message and "503" in message


def test_kube_api_that_never_answers_gives_kube_unavailable_after_bounded_timeouts(k8s_api):
    from flink_k8s.clients.kube import KubeUnavailable

    with FaultyApi(k8s_api.url) as api:
        api.hang = True
        view = kube_view(api.url, k8s_api.namespace, timeout=0.5)
        with pytest.raises(KubeUnavailable) as err:
            view.pods("stream")
    assert len(api.seen) == 4
    assert "list pods of stream" in str(err.value) and "after 4 attempts" in str(err.value)
    assert "timed out" in str(err.value).lower() or "timeout" in str(err.value).lower()


def test_redeploy_dry_run_fails_clearly_when_the_kube_api_keeps_failing(k8s_api, tmp_path, monkeypatch,
                                                                         airflow_db, airflow_run):
    catalogue = tmp_path / "catalogue.yaml"
    catalogue.write_text(yaml.safe_dump(base_catalogue(k8s_api.namespace)))
    tripwire = make_tripwire(tmp_path / "flink-home")
    monkeypatch.setenv("FLINK_K8S_CATALOGUE", str(catalogue))
    monkeypatch.setenv("FLINK_HOME", str(tripwire))
    with FaultyApi(k8s_api.url) as api:
        api.fail_next = 10**6
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", api.url, k8s_api.namespace)
        for key, value in airflow_kubernetes_conn_env(kubeconfig, k8s_api.namespace).items():
            monkeypatch.setenv(key, value)
        result = airflow_run("flink_streaming_redeploy", conf={"job": "stream", "release": "2", "dry_run": True})
    assert result.task_states["validate"] == "success"
    assert result.task_states["plan"] == "failed", result.task_states
    assert "Kubernetes API failed for get deployment stream after 4 attempts" in result.log_text
    assert "503" in result.log_text
    assert result.task_states.get("execute") == "upstream_failed"  # nothing executed after a failed plan
    assert result.state == "failed"  # and the run says so (a dry run whose plan fails is not a success)
    assert not tripwire_fired(tripwire)
    assert all(line.startswith("GET ") for line in api.seen), api.seen  # it only ever read


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
    k8s_api.apps.create_namespaced_deployment(ns, {
        "metadata": {"name": "stream", "labels": {"app": "stream", "component": "jobmanager",
                                                  "type": "flink-native-kubernetes"}},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "stream"}},
                 "template": {"metadata": {"labels": {"app": "stream"}},
                              "spec": {"containers": [{"name": "c", "image": "repo/job:1"}]}}}})
    with black_hole() as (address, _):
        cp = FlinkControlPlane(kube_view(k8s_api.url, ns), cli=FlinkCli(None), rest_timeout=0.5,
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
    with black_hole() as (address, accepted):
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", f"http://{address}", k8s_api.namespace)
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
    assert left == {b["metadata"]["name"] for b in others}
