"""Trivial DAGs for the `run_dag()` smoke test: one that echoes its params/conf, one that fails."""

from __future__ import annotations

import logging

from airflow.sdk import DAG, task

log = logging.getLogger(__name__)

with DAG("smoke_echo", schedule=None, params={"greeting": "hello", "n": 1}, tags=["test"]):

    @task
    def echo(params=None, dag_run=None) -> dict:
        log.info("echo saw params=%s", dict(params))
        return {"greeting": params["greeting"], "n": params["n"], "conf": dict(dag_run.conf or {})}

    @task
    def double(value: dict) -> int:
        return value["n"] * 2

    double(echo())

with DAG("smoke_failing", schedule=None, tags=["test"]):

    @task
    def fine() -> str:
        return "ok"

    @task
    def explode() -> None:
        raise RuntimeError("Caused by: java.lang.IllegalStateException: smoke-root-cause-42")

    @task
    def never() -> None:
        """Downstream of the failure: must end upstream_failed, never run."""

    fine() >> explode() >> never()
