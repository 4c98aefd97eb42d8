"""The `pushgateway_cleanup` DAG: parses fast and light, and runs through `dag.test()` on the real gateway."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest

from flink_k8s.clients.pushgateway import PushgatewayClient
from tests.fixtures.paths import REPO
from tests.test_pushgateway_cleanup import (
    MAX_AGE,
    flink_job,
    key,
    keys_on,
    live_reporter,
    push_all,
    wait_gone,
    wait_until_older_than,
)

SECRET = "s3cr3t-" + uuid.uuid4().hex[:6]


def use_connection(monkeypatch, gateway) -> None:
    conn = {"conn_type": "http", "host": "127.0.0.1", "port": gateway.port, "schema": "http",
            "login": "cleaner", "password": SECRET}
    monkeypatch.setenv("AIRFLOW_CONN_PUSHGATEWAY_DEFAULT", json.dumps(conn))


def test_dag_file_parses_without_network_requests_or_client(tmp_path):
    code = (
        "import importlib.util, json, sys\n"
        "spec = importlib.util.spec_from_file_location('d', 'dags/pushgateway_cleanup.py')\n"
        "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        "print(json.dumps({'requests': 'requests' in sys.modules,\n"
        "                  'client': 'flink_k8s.clients.pushgateway' in sys.modules}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "plugins"), "AIRFLOW_HOME": str(tmp_path),
           "PUSHGATEWAY_CLEANUP_SCHEDULE": "15 3 * * *"}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"requests": False, "client": False}


def test_dag_shape(airflow_db):
    from tests.fixtures.airflow_env import load_dag

    dag = load_dag("pushgateway_cleanup")
    assert set(dag.params.keys()) == {"max_age", "dry_run", "job_prefix", "force"}
    assert dag.params["dry_run"] is False and dag.params["max_age"] == "1d"
    assert list(dag.task_dict) == ["cleanup_stale_groups"]
    assert dag.max_active_runs == 1
    assert dag.timetable.expression == "30 2 * * *"  # nightly unless PUSHGATEWAY_CLEANUP_SCHEDULE is set


def test_the_dry_run_argument_leaves_base_operators_dry_run_method_alone(airflow_db):
    from tests.fixtures.airflow_env import load_dag

    task = load_dag("pushgateway_cleanup").task_dict["cleanup_stale_groups"]
    assert task.dry_run_only == "{{ params.dry_run }}" and "dry_run_only" in task.template_fields
    task.dry_run()  # BaseOperator.dry_run(): logs each template field; a str attribute there is not callable


def test_dag_deletes_stale_groups_on_the_real_gateway(airflow_run, pushgateway, monkeypatch):
    use_connection(monkeypatch, pushgateway)
    client = PushgatewayClient(pushgateway.url)
    base = "dag" + uuid.uuid4().hex[:6]
    stale = [{"job": flink_job(base)}, {"job": flink_job(base), "path": "/a/b", "e": ""}]
    push_all(pushgateway.url, stale)
    wait_until_older_than(client, stale, MAX_AGE)
    fresh = [{"job": flink_job(base)}]  # a process still alive: its reporter keeps pushing
    with live_reporter(pushgateway.url, fresh):
        before = keys_on(client)

        dry = airflow_run("pushgateway_cleanup", conf={"max_age": f"{MAX_AGE}s", "job_prefix": base,
                                                       "dry_run": True, "force": True})
        assert dry.state == "success", dry.log_text[-4000:]
        report = dry.xcoms["cleanup_stale_groups"]
        assert report["dry_run"] is True and report["deleted"] == 0
        assert sorted(map(key, report["would_delete"])) == sorted(map(key, stale))
        assert keys_on(client) == before

        result = airflow_run("pushgateway_cleanup", conf={"max_age": f"{MAX_AGE}s", "job_prefix": base,
                                                          "force": True})
        assert result.state == "success", result.log_text[-4000:]
        report = result.xcoms["cleanup_stale_groups"]
        assert report["deleted"] == 2 and report["kept_fresh"] == 1 and report["failures"] == []
        wait_gone(client, stale)
        assert keys_on(client) == before - {key(g) for g in stale}
    assert SECRET not in dry.log_text + result.log_text


def test_dag_fails_clearly_when_gateway_is_down_and_succeeds_when_back(airflow_run, pushgateway, monkeypatch,
                                                                        tmp_path):
    from tests.fixtures.pushgateway import start_pushgateway

    use_connection(monkeypatch, pushgateway)
    pushgateway.stop()
    down = airflow_run("pushgateway_cleanup", conf={"max_age": "1h"})
    assert down.state == "failed"
    assert down.task_states == {"cleanup_stale_groups": "failed"}
    assert f"http://127.0.0.1:{pushgateway.port}/api/v1/metrics: no success after 4 attempts" in down.log_text
    assert SECRET not in down.log_text

    back = start_pushgateway(tmp_path, port=pushgateway.port, name="pushgateway-back")
    try:
        up = airflow_run("pushgateway_cleanup", conf={"max_age": "1h"})
        assert up.state == "success", up.log_text[-4000:]
        assert up.xcoms["cleanup_stale_groups"]["url"] == back.url
    finally:
        back.stop()


def test_guard_refusal_fails_the_task_and_deletes_nothing(airflow_run, pushgateway):
    from airflow.sdk import DAG

    from flink_k8s.operators.pushgateway import PushgatewayCleanupOperator

    client = PushgatewayClient(pushgateway.url)
    base = "refuse" + uuid.uuid4().hex[:6]
    stale = [{"job": flink_job(base), "instance": str(i)} for i in range(3)]
    push_all(pushgateway.url, stale)
    wait_until_older_than(client, stale, MAX_AGE)
    before = keys_on(client)

    def cleanup_dag(dag_id: str, force: bool) -> DAG:
        with DAG(dag_id, schedule=None) as dag:
            PushgatewayCleanupOperator(task_id="cleanup", url=pushgateway.url, max_age=f"{MAX_AGE}s",
                                       job_prefix=base, max_share=0.0, force=force)
        return dag

    refused = airflow_run(cleanup_dag("pushgateway_guard_refuses", force=False))
    assert refused.state == "failed" and refused.task_states == {"cleanup": "failed"}
    assert "safety guard refused the cleanup: 3 of" in refused.log_text
    assert keys_on(client) == before

    forced = airflow_run(cleanup_dag("pushgateway_guard_forced", force=True))
    assert forced.state == "success", forced.log_text[-4000:]
    assert forced.xcoms["cleanup"]["deleted"] == 3
    wait_gone(client, stale)


@pytest.mark.parametrize("value", ["yes", "maybe"])
def test_operator_rejects_bad_params_with_the_field(value):
    from flink_k8s.operators.pushgateway import as_bool

    if value == "yes":
        assert as_bool(value, "dry_run") is True
    else:
        with pytest.raises(ValueError, match="dry_run='maybe'"):
            as_bool(value, "dry_run")


@pytest.mark.parametrize(
    "host, schema, port, url",
    [("pgw.monitoring", None, 9091, "http://pgw.monitoring:9091"), ("pgw", "https", None, "https://pgw"),
     ("https://pgw.example/prefix/", "http", 1, "https://pgw.example/prefix")],
)
def test_connection_fields_to_url(host, schema, port, url):
    from flink_k8s.hooks.pushgateway import connection_url

    assert connection_url(host, schema, port) == url


def test_connection_without_host_is_a_clear_error():
    from flink_k8s.hooks.pushgateway import connection_url

    with pytest.raises(ValueError, match="'host' is empty"):
        connection_url("", "http", 9091)
