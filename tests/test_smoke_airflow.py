"""Airflow test plumbing is real: DAGs run through `dag.test()` on a SQLite metadata DB."""

from __future__ import annotations

import json
import os

from airflow.sdk import DAG, BaseHook, task

from tests.fixtures.airflow_env import AIRFLOW_HOME


def test_environment_points_at_repo_and_temp_home(airflow_db):
    from airflow.configuration import conf

    assert conf.get("core", "dags_folder").endswith("/dags")
    assert not conf.getboolean("core", "load_examples")
    assert str(AIRFLOW_HOME) in conf.get("database", "sql_alchemy_conn")
    assert "UNIT_TEST_MODE" not in "".join(os.environ)


def test_trivial_dag_runs_with_conf_and_returns_states_and_xcoms(airflow_run):
    result = airflow_run("smoke_echo", conf={"greeting": "bonjour", "n": 21})
    assert result.state == "success", result.log_text[-3000:]
    assert result.task_states == {"echo": "success", "double": "success"}
    assert result.xcoms["echo"] == {"greeting": "bonjour", "n": 21, "conf": {"greeting": "bonjour", "n": 21}}
    assert result.xcoms["double"] == 42
    assert "echo saw params=" in result.log_text


def test_failing_task_fails_the_run_and_its_cause_is_in_the_log(airflow_run):
    result = airflow_run("smoke_failing")
    assert result.state == "failed"
    assert result.task_states == {"fine": "success", "explode": "failed", "never": "upstream_failed"}
    assert result.xcoms == {"fine": "ok"}
    assert "java.lang.IllegalStateException: smoke-root-cause-42" in result.log_text


def test_dag_built_in_a_test_sees_env_connections(airflow_run, monkeypatch):
    conn = {"conn_type": "http", "host": "gw.example", "port": 9091, "login": "u", "password": "p"}
    monkeypatch.setenv("AIRFLOW_CONN_SMOKE_HTTP", json.dumps(conn))

    with DAG("smoke_inline_conn", schedule=None) as dag:

        @task
        def read_conn() -> dict:
            c = BaseHook.get_connection("smoke_http")
            return {"type": c.conn_type, "host": c.host, "port": c.port, "login": c.login}

        read_conn()

    result = airflow_run(dag)
    assert result.state == "success", result.log_text[-3000:]
    assert result.xcoms["read_conn"] == {"type": "http", "host": "gw.example", "port": 9091, "login": "u"}


def test_dag_file_from_any_folder_runs(airflow_run, tmp_path):
    (tmp_path / "adhoc.py").write_text(
        "from airflow.sdk import DAG, task\n"
        "with DAG('smoke_adhoc_folder', schedule=None, params={'x': 2}):\n"
        "    @task\n"
        "    def square(params=None):\n"
        "        return params['x'] ** 2\n"
        "    square()\n"
    )
    result = airflow_run("smoke_adhoc_folder", conf={"x": 7}, dags_folder=tmp_path)
    assert result.state == "success", result.log_text[-3000:]
    assert result.xcoms == {"square": 49}
