"""Secrets never leak: the kubeconfig's bearer token, the Pushgateway password and Flink keys whose names say
`password`/`secret` stay out of task logs, XComs, trigger kwargs and exception messages.

Real components: DAG runs with `dag.test()` against the real API server (tests/kube/controlplane.py) with the
namespace's `flink-airflow` token from the TokenRequest API (distinctive: a match anywhere is a leak), and the
real Pushgateway; the real Flink CLI for the masking of its output. Refusals are real: RBAC answers 403 to an
identity without a Role, and a validating admission webhook refuses the ConfigMap the Flink CLI creates with a
message that echoes the object (as policy engines and debugging webhooks do), which the API server relays
verbatim: the worst case for anything that copies an error text into a log or an exception. (The API server
never echoes a bearer token: it authenticates and drops it; a webhook never receives it.)
"""

from __future__ import annotations

import base64
import json
import logging
import uuid
from pathlib import Path

import pytest
import yaml

from tests.fixtures.k8s import airflow_kubernetes_conn_env
from tests.fixtures.kube_faults import (
    WebhookServer,
    admission_webhook,
    airflow_client,
    not_scheduled,
    sa_user,
    service_account_kubeconfig,
    token_of,
)
from tests.test_hostile_input import base_catalogue, make_tripwire, run_test_dag, tripwire_fired

S3_SECRET = "s3secret" + uuid.uuid4().hex[:12]
KEYSTORE_PASSWORD = "kspass" + uuid.uuid4().hex[:12]
PG_PASSWORD = "pgpass" + uuid.uuid4().hex[:12]
SECRETS = (S3_SECRET, KEYSTORE_PASSWORD, PG_PASSWORD)
SECRET_CONF = {"s3.secret-key": S3_SECRET, "security.ssl.rest.keystore-password": KEYSTORE_PASSWORD}


def leaked(text: str, *tokens: str) -> list[str]:
    """Which secrets (the given tokens, or the base64 basic-auth form of the gateway password) appear in `text`."""
    basic = base64.b64encode(f"cleaner:{PG_PASSWORD}".encode()).decode()
    return [s for s in (*SECRETS, *tokens, basic) if s in text]


def secret_catalogue(path: Path, namespace: str) -> Path:
    data = base_catalogue(namespace)
    data["jobs"]["stream"]["flink_conf"].update(SECRET_CONF)
    data["jobs"]["nightly"]["flink_conf"] = dict(SECRET_CONF)
    path.write_text(yaml.safe_dump(data))
    return path


def use_connection(monkeypatch, kubeconfig: Path, namespace: str) -> None:
    for key, value in airflow_kubernetes_conn_env(kubeconfig, namespace).items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def token_env(k8s_api, tmp_path, monkeypatch, airflow_db):
    """Connection `kubernetes_default` = the flink-airflow token kubeconfig; catalogue with secret keys."""
    use_connection(monkeypatch, k8s_api.kubeconfig, k8s_api.namespace)
    monkeypatch.setenv("FLINK_K8S_CATALOGUE", str(secret_catalogue(tmp_path / "catalogue.yaml", k8s_api.namespace)))
    tripwire = make_tripwire(tmp_path / "flink-home")
    monkeypatch.setenv("FLINK_HOME", str(tripwire))
    return {"api": k8s_api, "kubeconfig": k8s_api.kubeconfig, "token": token_of(k8s_api.kubeconfig),
            "tripwire": tripwire}


def _xcom_text(result) -> str:
    return json.dumps({f"{t}/{k}": v for (t, k), v in result.all_xcoms.items()}, default=str)


def test_redeploy_dry_run_with_a_token_kubeconfig_leaks_nothing(token_env, airflow_run):
    """The plan task observes the cluster (Kubernetes reads, REST through the service proxy with the bearer
    token: a Deployment exists, so it tries) and logs the plan; nothing may show the token or secret keys."""
    api, token = token_env["api"], token_env["token"]
    labels = {"app": "stream", "component": "jobmanager", "type": "flink-native-kubernetes"}
    api.apps.create_namespaced_deployment(api.namespace, {
        "metadata": {"name": "stream", "labels": labels},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": not_scheduled(
                     {"containers": [{"name": "flink-main-container", "image": "repo/job:1"}]})}}})
    api.core.create_namespaced_service(api.namespace, {  # its JobManager pod never runs: no endpoint, proxy 503
        "metadata": {"name": "stream-rest", "labels": {"app": "stream", "type": "flink-native-kubernetes"}},
        "spec": {"selector": labels, "ports": [{"name": "rest", "port": 8081}]}})

    result = airflow_run("flink_streaming_redeploy", conf={"job": "stream", "release": "2", "dry_run": True})

    assert result.task_states["validate"] == "success", result.log_text[-4000:]
    # The plan refuses (a Deployment without a reachable job is not safe for savepoint mode) after REST tries
    # through the service proxy: its exception message and the retry log lines are checked too.
    assert result.task_states["plan"] == "failed", result.task_states
    assert "job_not_running" in result.log_text and "stream-rest:8081/proxy/jobs/overview" in result.log_text
    assert result.task_states.get("execute") == "upstream_failed", result.task_states  # nothing executed
    assert leaked(result.log_text, token) == []
    assert leaked(_xcom_text(result), token) == []
    assert not tripwire_fired(token_env["tripwire"])  # a dry run runs no flink command


def test_trigger_kwargs_carry_the_connection_id_not_credentials(token_env):
    from airflow.sdk.serde import serialize

    from flink_k8s.operators.flink import FlinkSubmitOperator
    from flink_k8s.triggers.flink import FlinkHealthTrigger, FlinkJobTrigger

    token = token_env["token"]
    op = FlinkSubmitOperator(task_id="submit", job="stream", release="1")
    assert op.hook.api_client.configuration.api_key  # the hook really holds the token …
    for cls, check in ((FlinkJobTrigger, {"want": "running"}), (FlinkHealthTrigger, {"job": "stream"})):
        trigger = cls(**op._trigger_kwargs("stream", check, 5.0, 60.0))
        classpath, kwargs = trigger.serialize()
        wire = json.dumps(serialize(kwargs), default=str) + repr(trigger)
        assert kwargs["kubernetes_conn_id"] == "kubernetes_default"  # … the trigger gets only the id
        assert leaked(wire, token) == [] and str(token_env["kubeconfig"]) not in wire
    target = op.hook.control_plane.kube.rest_proxy_target("stream", port=8081)
    assert target.headers and leaked(repr(target), token) == []


def test_submit_plan_log_and_failure_mask_secret_flink_keys(token_env, airflow_run):
    """FlinkSubmitOperator logs the exact argv (with `-Ds3.secret-key=…`) before submitting; the submit itself
    hits the tripwire, which exits 97: the failure message repeats the command line. Both must be masked."""
    from airflow.sdk import DAG

    from flink_k8s.operators.flink import FlinkSubmitOperator

    with DAG(f"secret_submit_{uuid.uuid4().hex[:6]}", schedule=None) as dag:
        FlinkSubmitOperator(task_id="run", job="nightly", release="1", deferrable=False)
    result = run_test_dag(airflow_run, dag)
    assert result.state == "failed"
    assert tripwire_fired(token_env["tripwire"])  # the argv really reached the "flink" executable
    invoked = (token_env["tripwire"] / "INVOKED").read_text()
    assert S3_SECRET in invoked  # the secret was on the command line (Flink needs it) …
    assert "-Ds3.secret-key=***" in result.log_text  # … and the logs show it masked
    assert "exit code: 97" in result.log_text
    assert leaked(result.log_text, token_env["token"]) == []
    assert leaked(_xcom_text(result), token_env["token"]) == []


def test_kube_403_in_task_logs_says_what_was_refused_and_holds_no_token(k8s_api, tmp_path, monkeypatch,
                                                                      airflow_db, airflow_run):
    """The connection's identity has no Role in the namespace: the real authorizer answers 403."""
    ns = k8s_api.namespace
    kubeconfig = service_account_kubeconfig(k8s_api, "no-rights", tmp_path / "no-rights.kubeconfig")
    use_connection(monkeypatch, kubeconfig, ns)
    monkeypatch.setenv("FLINK_K8S_CATALOGUE", str(secret_catalogue(tmp_path / "catalogue.yaml", ns)))
    monkeypatch.setenv("FLINK_HOME", str(make_tripwire(tmp_path / "flink-home")))
    result = airflow_run("flink_streaming_redeploy", conf={"job": "stream", "release": "2", "dry_run": True})
    assert result.task_states["plan"] == "failed"
    # the plan's first request: the job's ledger ConfigMap (read once per action, before observing the cluster)
    assert f"Kubernetes API refused get configmap flink-k8s-airflow-stream in namespace {ns!r}: HTTP 403 Forbidden" \
        in result.log_text, result.log_text[-3000:]
    assert 'cannot get resource "configmaps" in API group ""' in result.log_text
    assert leaked(result.log_text, token_of(kubeconfig)) == []


def test_kube_view_exception_message_holds_no_token(k8s_api, tmp_path):
    from kubernetes import config

    from flink_k8s.clients.kube import KubeApiError, KubeView

    kubeconfig = service_account_kubeconfig(k8s_api, "no-rights", tmp_path / "no-rights.kubeconfig")
    view = KubeView(config.new_client_from_config(str(kubeconfig)), k8s_api.namespace)
    with pytest.raises(KubeApiError) as err:
        view.deployment("stream")
    assert "403" in str(err.value) and "get deployment stream" in str(err.value)
    assert f'namespace "{k8s_api.namespace}"' in str(err.value)
    assert leaked(str(err.value), token_of(kubeconfig)) == []
    assert err.value.__cause__ is None and err.value.__suppress_context__  # no verbatim ApiException in tracebacks


# --- the Pushgateway connection ----------------------------------------------------------------------------

def _gateway_connection(monkeypatch, gateway, in_url: bool) -> None:
    if in_url:  # credentials written into the host URL, the way people paste them
        conn = {"conn_type": "http", "host": f"http://cleaner:{PG_PASSWORD}@127.0.0.1:{gateway.port}"}
    else:
        conn = {"conn_type": "http", "host": "127.0.0.1", "port": gateway.port, "schema": "http",
                "login": "cleaner", "password": PG_PASSWORD}
    monkeypatch.setenv("AIRFLOW_CONN_PUSHGATEWAY_DEFAULT", json.dumps(conn))


@pytest.mark.parametrize("in_url", [False, True], ids=["password-field", "password-in-host-url"])
def test_pushgateway_password_stays_out_of_logs_xcom_and_errors(airflow_run, pushgateway, monkeypatch, in_url):
    from tests.test_pushgateway_cleanup import flink_job, push_all

    _gateway_connection(monkeypatch, pushgateway, in_url)
    push_all(pushgateway.url, [{"job": flink_job("secretcheck")}])
    ok = airflow_run("pushgateway_cleanup", conf={"max_age": "1h", "dry_run": True})
    assert ok.state == "success", ok.log_text[-3000:]
    assert ok.xcoms["cleanup_stale_groups"]["url"] == pushgateway.url
    assert leaked(ok.log_text) == [] and leaked(_xcom_text(ok)) == []

    pushgateway.stop()  # the failure message names the URL it could not reach: without the password
    down = airflow_run("pushgateway_cleanup", conf={"max_age": "1h"})
    assert down.state == "failed"
    assert f"127.0.0.1:{pushgateway.port}" in down.log_text
    assert leaked(down.log_text) == []


def test_pushgateway_client_errors_and_repr_hold_no_password():
    from flink_k8s.clients.pushgateway import PushgatewayClient, PushgatewayUnavailable, RetryPolicy
    from tests.fixtures.procs import free_port

    client = PushgatewayClient(f"http://cleaner:{PG_PASSWORD}@127.0.0.1:{free_port()}",
                               retry=RetryPolicy(attempts=2, backoff=0.0), timeout=1)
    with pytest.raises(PushgatewayUnavailable) as err:
        client.list_groups()
    assert leaked(str(err.value) + repr(client) + client.url) == []


# --- the real Flink CLI -------------------------------------------------------------------------------------

@pytest.mark.slow
def test_real_flink_failure_output_with_secret_keys_is_masked(k8s_api, tmp_path, caplog):
    """The catalogue's real submit argv (secret Flink keys in `-D`) run by the real CLI against the real API
    server, whose admission webhook refuses the `flink-config-<id>` ConfigMap (it holds the whole Flink
    configuration) and echoes the object: CLI log lines, the kept tail and the exception must all be masked,
    and the JVM must be gone."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    from flink_k8s.clients.flink_cli import FlinkCli, FlinkCliError
    from flink_k8s.core.catalogue import load_catalogue
    from flink_k8s.core.flink_config import build_argv
    from tests.fixtures.flink_cluster import FAST_CLI_ENV
    from tests.fixtures.paths import FLINK_23

    ns = k8s_api.namespace
    token = token_of(k8s_api.kubeconfig)
    caplog.set_level(logging.INFO, logger="flink_k8s.clients.flink_cli")
    job = load_catalogue(secret_catalogue(tmp_path / "catalogue.yaml", ns)).job("stream")
    cli = FlinkCli(FLINK_23, log_dir=tmp_path / "log", extra_env=FAST_CLI_ENV, secrets=[token])

    def echo_and_deny(request: dict) -> dict | None:
        if request.get("dryRun"):
            return {"code": 403, "message": "dry run probe"}
        return {"code": 403, "message": "denied by policy; object=" + json.dumps(request.get("object"))[:6000]}

    sa = client.CoreV1Api(airflow_client(k8s_api))

    def applied() -> bool:
        try:
            sa.create_namespaced_config_map(ns, {"metadata": {"name": "probe"}}, dry_run="All")
        except ApiException as exc:
            return exc.status == 403 and "dry run probe" in (exc.body or "")
        return False

    with WebhookServer(echo_and_deny) as hook, \
            admission_webhook(k8s_api, resources=["configmaps"], operations=["CREATE", "UPDATE"],
                              user=sa_user(ns), url=hook.url, ca_bundle=hook.ca_bundle, probe=applied):
        argv = build_argv(job, cli.executable, release="1", kubeconfig=str(k8s_api.kubeconfig))
        assert f"-Ds3.secret-key={S3_SECRET}" in argv
        with pytest.raises(FlinkCliError) as err:
            cli.run(argv, timeout=240)
        echoed = [r for r in hook.reviews if not r.get("dryRun")]
    assert echoed and S3_SECRET in json.dumps(echoed[0]["object"])  # the refused object did hold the secret
    output = "\n".join(err.value.tail)
    assert "denied by policy" in output, output[-3000:]
    assert "secret-key: ***" in output  # the echoed configuration reached the CLI's output, masked
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "-Ds3.secret-key=***" in str(err.value) and "-Ds3.secret-key=***" in logged
    assert leaked(str(err.value), token) == [] and leaked(output, token) == [] and leaked(logged, token) == []
    assert not Path(f"/proc/{err.value.pid}").exists()


def test_the_hook_masks_the_connections_token_in_flink_cli_output(k8s_api, k8s_airflow_conn):
    """The kubernetes client keeps a kubeconfig token under `api_key["BearerToken"]`; the hook must find it."""
    import yaml

    from flink_k8s.hooks.flink import FlinkKubernetesHook

    token = yaml.safe_load(k8s_api.kubeconfig.read_text())["users"][0]["user"]["token"]
    hook = FlinkKubernetesHook(kubernetes_conn_id=k8s_airflow_conn, namespace=k8s_api.namespace)
    masked = hook.control_plane.cli.masker.mask(f"flink said: token {token} and Authorization: Bearer {token}")
    assert token not in masked
