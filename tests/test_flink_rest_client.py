"""FlinkRestClient against the real session cluster (and through the real API server's service proxy).

Jobs are submitted with the real CLI through FlinkCli; every client call is exercised for real.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from flink_k8s.clients.flink_cli import FlinkCli
from flink_k8s.clients.flink_rest import (
    FlinkRestClient,
    FlinkRestError,
    JobNotFound,
    RestUnreachable,
    SavepointFailed,
    SavepointTimeout,
    root_cause_line,
)
from flink_k8s.clients.http_retry import RetryPolicy
from tests.fixtures import procs
from tests.fixtures.flink_cluster import FAST_CLI_ENV
from tests.fixtures.kube_faults import TcpRelay, not_scheduled, pod_running_status, token_of
from tests.fixtures.paths import FLINK_23
from tests.fixtures.test_jobs import FAILURE_MESSAGE, read_counts
from tests.kube.controlplane import NODE_IP

pytestmark = pytest.mark.slow

UNKNOWN_JOB = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def rest(flink_cluster) -> FlinkRestClient:
    with FlinkRestClient(flink_cluster.rest_url, timeout=10) as client:
        yield client


@pytest.fixture
def submit(flink_cluster, tmp_path):
    """Submit a jar with the real CLI (through FlinkCli) to the shared cluster; returns the job id."""
    cli = FlinkCli(FLINK_23, log_dir=tmp_path / "cli-log", extra_env=FAST_CLI_ENV)

    def _submit(jar: Path, *args: str, savepoint: str | None = None) -> str:
        restore = ["-s", savepoint] if savepoint else []
        result = cli.run(cli.command("run", "-d", "-m", flink_cluster.jobmanager_address, *restore, str(jar), *args),
                         timeout=180)
        assert result.job_id, result.tail
        return result.job_id

    return _submit


def _local(path: str) -> Path:
    """`file:/x/y` (Flink's URI form) -> /x/y."""
    return Path(urlsplit(path).path)


def test_version_config_and_overview(rest):
    assert rest.version() == "2.3.0"
    assert "flink-revision" in rest.config()
    overview = rest.overview()
    assert overview["taskmanagers"] == 1 and overview["slots-total"] == 2


def test_streaming_job_observed_then_savepoint_stop_restore_continues_state(rest, submit, flink_cluster,
                                                                          streaming_job_jar, tmp_path):
    out1, out2 = tmp_path / "run1", tmp_path / "run2"
    job_id = submit(streaming_job_jar, "--output", str(out1), "--keys", "3", "--rate", "30")

    assert job_id in {j.job_id for j in rest.jobs()}
    procs.wait_until(lambda: rest.job(job_id).state == "RUNNING", 60, "job RUNNING")
    facts = procs.wait_until(lambda: (f := rest.checkpoints(job_id)).completed_count >= 1 and f, 90,
                             "a completed checkpoint")
    assert facts.interval == timedelta(seconds=1)
    assert facts.latest_completed_path.startswith(f"file:{flink_cluster.checkpoint_dir}/{job_id}/chk-")
    age = rest.latest_checkpoint_age(job_id)
    assert age is not None and age >= timedelta(0)
    assert procs.wait_until(lambda: rest.restart_count(job_id) is not None, 30, "numRestarts metric") is True
    assert rest.restart_count(job_id) == 0
    assert rest.root_cause(job_id) is None

    # A savepoint while running (the job continues), then stop-with-savepoint (the job ends).
    running_sp = rest.savepoint(job_id, timeout=120)
    assert (_local(running_sp) / "_metadata").is_file()
    assert rest.job(job_id).state == "RUNNING"
    stop_sp = rest.stop_with_savepoint(job_id, timeout=120)
    assert stop_sp != running_sp and (_local(stop_sp) / "_metadata").is_file()
    assert flink_cluster.wait_job_state(job_id, {"FINISHED", "FAILED", "CANCELED"}) == "FINISHED"
    before = {key: counts[-1] for key, counts in read_counts(out1).items()}
    assert sorted(before) == [0, 1, 2] and min(before.values()) >= 1

    # Restore with the real CLI: every key's count continues where the savepoint left it.
    job2 = submit(streaming_job_jar, "--output", str(out2), "--keys", "3", "--rate", "30", savepoint=stop_sp)
    procs.wait_until(lambda: len(read_counts(out2)) == 3, 90, "output of all 3 keys after restore")
    after = {key: counts[0] for key, counts in read_counts(out2).items()}
    assert after == {key: before[key] + 1 for key in before}, (before, after)

    # Dispose the running-job savepoint through Flink; cancel the restored job.
    rest.dispose_savepoint(running_sp, timeout=60)
    assert not _local(running_sp).exists()
    rest.cancel(job2)
    assert flink_cluster.wait_job_state(job2, {"CANCELED", "FAILED", "FINISHED"}) == "CANCELED"


def test_failing_job_root_cause_and_restart_count(rest, submit, flink_cluster, failing_job_jar):
    job_id = submit(failing_job_jar, "--fail-after", "2", "--rate", "20", "--restart-attempts", "1000",
                    "--restart-delay-ms", "200")

    procs.wait_until(lambda: (rest.restart_count(job_id) or 0) >= 2, 120, "2 restarts of the failing job")
    cause = rest.root_cause(job_id)
    assert cause is not None
    assert FAILURE_MESSAGE in cause.root_cause
    assert cause.root_cause.startswith("java.lang.IllegalStateException")
    assert len(rest.exceptions(job_id)) >= 2
    rest.cancel(job_id)
    assert flink_cluster.wait_job_state(job_id, {"CANCELED", "FAILED"}) == "CANCELED"


def test_savepoint_that_cannot_complete_times_out_with_its_trigger_id(rest, submit, streaming_job_jar, tmp_path):
    out = tmp_path / "out"
    job_id = submit(streaming_job_jar, "--output", str(out), "--rate", "10", "--stall-ms", "600000")
    # The sink is blocked inside its first record: a barrier behind it cannot pass.
    procs.wait_until(lambda: any(p.read_text().startswith("stalled ") for p in out.glob("part-*.txt")), 90,
                     "the sink to stall")
    with pytest.raises(SavepointTimeout) as err:
        rest.savepoint(job_id, timeout=3)
    assert len(err.value.trigger_id) == 32
    assert rest.savepoint_status(job_id, err.value.trigger_id).state == "IN_PROGRESS"
    rest.cancel(job_id)


def test_savepoint_to_unwritable_directory_fails_with_cause(rest, submit, streaming_job_jar, tmp_path):
    job_id = submit(streaming_job_jar, "--output", str(tmp_path / "out"))
    procs.wait_until(lambda: rest.job(job_id).state == "RUNNING" and rest.checkpoints(job_id).completed_count,
                     90, "job RUNNING with a checkpoint")
    with pytest.raises(SavepointFailed) as err:
        rest.stop_with_savepoint(job_id, "file:///proc/flink-k8s-airflow-no-such-dir", timeout=120)
    assert err.value.cause
    assert rest.job(job_id).state == "RUNNING"  # a failed stop-with-savepoint leaves the job running


def test_disposing_a_missing_savepoint_fails(rest, tmp_path):
    with pytest.raises(SavepointFailed) as err:
        rest.dispose_savepoint((tmp_path / "no-savepoint").as_uri(), timeout=60)
    assert "no-savepoint" in str(err.value)


@pytest.mark.parametrize("call", ["job", "cancel", "checkpoints", "exceptions", "savepoint", "stop_with_savepoint"])
def test_unknown_job_is_job_not_found(rest, call):
    with pytest.raises(JobNotFound) as err:
        getattr(rest, call)(UNKNOWN_JOB)
    assert UNKNOWN_JOB in str(err.value)


def test_4xx_is_not_retried(flink_cluster):
    sleeps: list[float] = []
    client = FlinkRestClient(flink_cluster.rest_url, sleep=sleeps.append)
    with pytest.raises(FlinkRestError) as err:
        client.request("GET", "/jobs/not-a-job-id")
    assert err.value.status is not None and 400 <= err.value.status < 500
    assert sleeps == []


def test_unreachable_url_raises_after_bounded_retries():
    sleeps: list[float] = []
    closed = procs.free_port()
    client = FlinkRestClient(f"http://127.0.0.1:{closed}", retry=RetryPolicy(attempts=4, backoff=0.01),
                             sleep=sleeps.append, timeout=2)
    with pytest.raises(RestUnreachable) as err:
        client.version()
    assert sleeps == [0.01, 0.02, 0.04]
    assert "4 tries" in str(err.value) and f"127.0.0.1:{closed}/config" in str(err.value)


def test_through_the_kubernetes_service_proxy(flink_cluster, k8s_api):
    """The API server's service proxy in front of the JobManager: answers pass through; no endpoints -> 503.

    As flink-airflow (a real TokenRequest token). The session cluster's REST listens on loopback, and the real
    proxy forwards only to the address of a pod (EndpointSlice `targetRef`, checked against the pod's IPs) and
    never to loopback. So the JobManager is given a pod object as a host-network pod (its IP is the node's;
    gated: no kubelet runs anything for it) and a TCP relay on the node address plays that pod's socket,
    carrying the proxy's connections to the session cluster. The Service has no selector; its EndpointSlice,
    written here as an endpoints controller would, targets that pod.
    """
    from kubernetes import client as k8s

    ns = k8s_api.namespace
    token = token_of(k8s_api.kubeconfig)
    k8s_api.core.create_namespaced_service(ns, {"metadata": {"name": "demo-rest"},
                                                "spec": {"ports": [{"name": "rest", "port": 8081}]}})
    proxy = f"{k8s_api.url}/api/v1/namespaces/{ns}/services/demo-rest:rest/proxy"
    sleeps: list[float] = []
    client = FlinkRestClient(proxy, headers={"Authorization": f"Bearer {token}"},
                             verify=str(k8s_api.cluster.pki / "ca.crt"), retry=RetryPolicy(attempts=3, backoff=0.01),
                             sleep=sleeps.append)

    with pytest.raises(FlinkRestError) as err:  # the Service has no endpoints yet
        client.version()
    assert err.value.status == 503 and sleeps == [0.01, 0.02]
    assert "no endpoints available" in str(err.value)
    assert token not in str(err.value) and token not in repr(client)

    rest = urlsplit(flink_cluster.rest_url)
    with TcpRelay((rest.hostname, rest.port), listen_host=NODE_IP) as relay:
        k8s_api.core.create_namespaced_pod(ns, {
            "metadata": {"name": "demo-jobmanager", "labels": {"app": "demo", "component": "jobmanager"}},
            "spec": not_scheduled({"hostNetwork": True, "containers": [{
                "name": "flink-main-container", "image": "flink:2.3",
                "ports": [{"name": "rest", "containerPort": relay.port}]}]})})
        status = pod_running_status()
        status["status"].update(podIP=NODE_IP, podIPs=[{"ip": NODE_IP}], hostIP=NODE_IP, hostIPs=[{"ip": NODE_IP}])
        k8s_api.core.patch_namespaced_pod_status("demo-jobmanager", ns, status)
        k8s.DiscoveryV1Api(k8s_api.client).create_namespaced_endpoint_slice(ns, {
            "metadata": {"name": "demo-rest-1", "labels": {"kubernetes.io/service-name": "demo-rest",
                                                            "endpointslice.kubernetes.io/managed-by": "tests"}},
            "addressType": "IPv4", "ports": [{"name": "rest", "port": relay.port, "protocol": "TCP"}],
            "endpoints": [{"addresses": [NODE_IP], "conditions": {"ready": True},
                           "targetRef": {"kind": "Pod", "namespace": ns, "name": "demo-jobmanager"}}]})
        assert procs.wait_until(client.version, 30, "the API server to proxy to the new endpoint") == "2.3.0"
        with pytest.raises(JobNotFound):
            client.job(UNKNOWN_JOB)
    assert b"GET /config " in relay.received  # the answers came through the proxy and this relay
    assert token.encode() not in relay.received  # the API server authenticated the call; the token stays there


def test_root_cause_line_picks_the_deepest_cause():
    trace = ("org.apache.flink.runtime.JobException: Recovery is suppressed\n\tat x\n"
             "Caused by: java.lang.RuntimeException: wrapper\n\tat y\n"
             "Caused by: java.lang.IllegalStateException: boom\n\tat z\n")
    assert root_cause_line(trace) == "java.lang.IllegalStateException: boom"
    assert root_cause_line("java.lang.Error: only\n\tat a") == "java.lang.Error: only"


def test_retry_helper_retries_only_transient_errors_and_gives_up_bounded():
    from flink_k8s.clients.http_retry import RetriesExhausted, call_with_retries

    calls: list[int] = []
    sleeps: list[float] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("refused")
        return "ok"

    policy = RetryPolicy(attempts=5, backoff=0.5, multiplier=3, max_backoff=1.0)
    assert call_with_retries(flaky, lambda e: isinstance(e, ConnectionError), policy, sleeps.append) == "ok"
    assert sleeps == [0.5, 1.0]

    def bad_request() -> None:
        calls.append(1)
        raise ValueError("400")

    calls.clear()
    with pytest.raises(ValueError):
        call_with_retries(bad_request, lambda e: isinstance(e, ConnectionError), policy, sleeps.append)
    assert len(calls) == 1

    with pytest.raises(RetriesExhausted) as err:
        call_with_retries(lambda: (_ for _ in ()).throw(ConnectionError("down")), lambda e: True,
                          RetryPolicy(attempts=2, backoff=0), lambda _: None)
    assert err.value.tries == 2 and isinstance(err.value.last, ConnectionError)
    with pytest.raises(ValueError, match="attempts=0"):
        RetryPolicy(attempts=0)


def test_finished_batch_job_without_checkpointing(rest, submit, flink_cluster, batch_job_jar, tmp_path):
    job_id = submit(batch_job_jar, "--output", str(tmp_path / "out"), "--records", "200")
    procs.wait_until(lambda: rest.job(job_id).terminal, 90, "batch job to end")

    assert rest.job(job_id).state == "FINISHED"
    facts = rest.checkpoints(job_id)
    assert facts.interval is None and facts.completed_count == 0 and facts.latest_completed_path is None
    assert rest.latest_checkpoint_age(job_id) is None
    assert rest.root_cause(job_id) is None
