"""FlinkCli runs the real `flink` executable: job ids, cluster creation, typed failures, masking, kill."""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path

import pytest

from flink_k8s.clients.flink_cli import (
    ApiServerUnreachable,
    CliFailed,
    CliKilled,
    CliTimeout,
    ClusterAlreadyExists,
    FlinkCli,
    JobManagerUnreachable,
    SecretMasker,
    parse_output,
)
from tests.fixtures import procs
from tests.fixtures.flink_cluster import FAST_CLI_ENV
from tests.fixtures.paths import FLINK_23

SECRET = "s3cr3t-Literal-42"


def _group_members(pgid: int) -> list[int]:
    """Pids whose process group is `pgid` (from /proc; field 5 of stat is pgrp)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            members.append(int(stat.parent.name))
    return members


def _gone(pid: int) -> bool:
    return not Path(f"/proc/{pid}").exists() and not _group_members(pid)


@pytest.fixture
def cli(tmp_path) -> FlinkCli:
    return FlinkCli(FLINK_23, log_dir=tmp_path / "cli-log", secrets=[SECRET], extra_env=FAST_CLI_ENV)


# -- pure parts -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("-Dmetrics.reporter.promgateway.password=abc123 next", "-Dmetrics.reporter.promgateway.password=*** next"),
    ("s3.secret-key: xyz", "s3.secret-key: ***"),
    ("Authorization: Bearer eyJhbGciOi.x-y", "Authorization: Bearer ***"),
    ("pushing to http://user:pw@gw:9091/metrics", "pushing to http://user:***@gw:9091/metrics"),
    (f"jar /tmp/{SECRET}/x.jar", "jar /tmp/***/x.jar"),
    ('{"password": "abc"}', '{"password": "***"}'),
    ("kubernetes.config.file=/tmp/kubeconfig parallelism.default=2",
     "kubernetes.config.file=/tmp/kubeconfig parallelism.default=2"),
])
def test_masker_masks_secrets_and_leaves_the_rest(text, expected):
    assert SecretMasker([SECRET]).mask(text) == expected


def test_parse_output_names_the_unreachable_address():
    out = parse_output([
        " The program finished with the following exception:",
        "org.apache.flink...KubernetesClientException: Operation: [get]  for kind: [Service]  failed.",
        "Caused by: java.io.IOException: Failed to connect to /127.0.0.1:33545",
        "Caused by: java.net.ConnectException: Connection refused",
    ])
    assert out.kubernetes_client_error and out.connect_failure
    assert out.connect_target == "127.0.0.1:33545"
    assert out.root_cause == "java.net.ConnectException: Connection refused"


def test_parse_output_recognises_what_the_cli_reports():
    out = parse_output([
        "Create flink application cluster demo successfully, JobManager Web Interface: http://10.0.0.1:30081",
        "Job has been submitted with JobID 0123456789abcdef0123456789abcdef",
        "Savepoint completed. Path: file:/tmp/sp/savepoint-0123-abc",
    ])
    assert (out.cluster_kind, out.cluster_id, out.web_interface_url) == ("application", "demo", "http://10.0.0.1:30081")
    assert out.job_id == "0123456789abcdef0123456789abcdef"
    assert out.savepoint_path == "file:/tmp/sp/savepoint-0123-abc"


# -- the real CLI -----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_run_detached_returns_the_job_id_the_cluster_knows(cli, flink_cluster, batch_job_jar, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="flink_k8s.clients.flink_cli")
    result = cli.run(cli.command("run", "-d", "-m", flink_cluster.jobmanager_address, str(batch_job_jar),
                                 "--output", str(tmp_path / "out"), "--records", "100"), timeout=180)

    assert result.returncode == 0
    assert result.job_id in {j["jid"] for j in flink_cluster.jobs()}
    assert flink_cluster.wait_job_state(result.job_id, {"FINISHED", "FAILED"}, timeout=90) == "FINISHED"
    assert any(f"Job has been submitted with JobID {result.job_id}" in r.getMessage() for r in caplog.records)
    assert _gone(result.pid)


@pytest.mark.slow
def test_failure_output_is_masked_in_logs_tail_and_error(cli, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="flink_k8s.clients.flink_cli")
    missing_jar = tmp_path / SECRET / "missing.jar"  # the real CLI echoes the path in its error

    with pytest.raises(CliFailed) as err:
        cli.run(cli.command("run", "-d", str(missing_jar)), timeout=120)

    text = str(err.value)
    assert SECRET not in text and "***" in text
    assert "JAR file does not exist" in text or "does not exist" in text
    assert err.value.returncode == 1
    assert all(SECRET not in line for line in err.value.tail)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert SECRET not in logged and "/***/missing.jar" in logged


@pytest.mark.slow
def test_timeout_kills_the_whole_process_group(cli, streaming_job_jar):
    closed = procs.free_port()  # nothing listens: the CLI keeps retrying the submission
    with pytest.raises(CliTimeout) as err:
        cli.run(cli.command("run", "-d", "-m", f"127.0.0.1:{closed}", str(streaming_job_jar), "--output", "/tmp/x"),
                timeout=5)

    assert "timeout=5" in str(err.value)
    assert err.value.pid is not None
    procs.wait_until(lambda: _gone(err.value.pid), 15, f"no process left in group {err.value.pid}")


@pytest.mark.slow
def test_kill_from_another_thread_stops_the_group(cli, streaming_job_jar):
    closed = procs.free_port()
    caught: list[BaseException] = []

    def submit() -> None:
        try:
            cli.run(cli.command("run", "-d", "-m", f"127.0.0.1:{closed}", str(streaming_job_jar),
                                "--output", "/tmp/x"), timeout=300)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            caught.append(exc)

    worker = threading.Thread(target=submit)
    worker.start()
    pid = procs.wait_until(lambda: cli.pid, 30, "the CLI process to start")
    # Wait until the JVM is really up (it logs its first line), so the kill hits a running CLI.
    procs.wait_until(lambda: any(p != pid for p in _group_members(pid)) or Path(f"/proc/{pid}/exe").resolve().name == "java",
                     30, "the CLI JVM")
    cli.kill()
    worker.join(timeout=30)

    assert not worker.is_alive()
    assert len(caught) == 1 and isinstance(caught[0], CliKilled), caught
    procs.wait_until(lambda: _gone(pid), 15, f"no process left in group {pid}")


@pytest.mark.slow
def test_exception_from_a_signal_handler_still_kills_the_group(cli, streaming_job_jar):
    """Airflow's SIGTERM handler calls on_kill (-> kill()) and raises in the thread blocked in run()."""
    closed = procs.free_port()

    class Terminated(Exception):
        pass

    running: list[int | None] = []

    def on_term(signum, frame):
        running.append(cli.pid)
        cli.kill()
        raise Terminated()

    previous = signal.signal(signal.SIGALRM, on_term)
    try:
        signal.setitimer(signal.ITIMER_REAL, 3)
        with pytest.raises(Terminated):
            cli.run(cli.command("run", "-d", "-m", f"127.0.0.1:{closed}", str(streaming_job_jar),
                                "--output", "/tmp/x"), timeout=300)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert cli.pid is None
    assert running and running[0] is not None, "the CLI was not running when the signal arrived"
    procs.wait_until(lambda: _gone(running[0]), 15, f"no process left in group {running[0]}")


@pytest.mark.slow
def test_unreachable_jobmanager_is_a_typed_error(cli, batch_job_jar):
    closed = procs.free_port()
    with pytest.raises(JobManagerUnreachable) as err:
        cli.run(cli.command("run", "-d", "-m", f"127.0.0.1:{closed}", "-Drest.retry.max-attempts=0",
                            str(batch_job_jar), "--output", "/tmp/x"), timeout=180)
    assert f"JobManager REST endpoint at 127.0.0.1:{closed} could not be reached" in str(err.value)
    assert "Connection refused" in str(err.value)


def _k8s_app_argv(cli: FlinkCli, kubeconfig: Path, namespace: str, cluster_id: str) -> list[str]:
    return cli.command(
        "run", "--target", "kubernetes-application",
        f"-Dkubernetes.config.file={kubeconfig}", f"-Dkubernetes.namespace={namespace}",
        f"-Dkubernetes.cluster-id={cluster_id}", "-Dkubernetes.container.image.ref=flink-test:2.3.0",
        "-Djobmanager.memory.process.size=1024m", "-Dtaskmanager.memory.process.size=1280m",
        "local:///opt/flink/usrlib/streaming-counter.jar", "--output", "/tmp/out")


@pytest.mark.slow
def test_application_cluster_created_and_second_submit_is_cluster_already_exists(cli, k8s_api):
    argv = _k8s_app_argv(cli, k8s_api.kubeconfig, k8s_api.namespace, "clitest")
    created = cli.run(argv, timeout=180)

    assert created.output.cluster_kind == "application"
    assert created.cluster_id == "clitest"
    assert created.web_interface_url and created.web_interface_url.startswith("http://")
    assert k8s_api.apps.read_namespaced_deployment("clitest", k8s_api.namespace).metadata.name == "clitest"

    with pytest.raises(ClusterAlreadyExists) as err:
        cli.run(argv, timeout=180)
    assert "kubernetes.cluster-id='clitest'" in str(err.value)
    assert "already exists" in str(err.value)


@pytest.mark.slow
def test_unreachable_api_server_is_a_typed_error(cli, tmp_path):
    closed = procs.free_port()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters: [{{name: c, cluster: {{server: 'http://127.0.0.1:{closed}'}}}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n")
    # fabric8 retries a refused connection ~10 times (25 s); one retry is enough to see the failure.
    cli.extra_env = {**cli.extra_env, "JVM_ARGS": cli.extra_env["JVM_ARGS"] + " -Dkubernetes.request.retry.backoffLimit=1"}
    with pytest.raises(ApiServerUnreachable) as err:
        cli.run(_k8s_app_argv(cli, kubeconfig, "flink", "nowhere"), timeout=240)
    assert f"API server at 127.0.0.1:{closed} could not be reached" in str(err.value)
    assert os.path.basename(str(kubeconfig)) in str(err.value)  # the command line names the kubeconfig used
