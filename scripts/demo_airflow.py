"""The demo's Airflow REST client: log in, trigger DAG runs, wait for them, read task states and XComs.

Why a client of the public REST API (not `dag.test()`): the demo shows what a user gets — runs that the
scheduler, the executor's worker processes and the triggerer of a real `airflow standalone` execute.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

TERMINAL_RUN_STATES = ("success", "failed")


@dataclass
class RunResult:
    """A finished (or timed-out) DAG run as the REST API reports it."""
    dag_id: str
    run_id: str
    state: str
    duration_s: float | None
    task_states: dict[str, str] = field(default_factory=dict)


def admin_password(airflow_home: Path) -> str:
    """The password `airflow standalone` generated for `admin` (simple auth manager)."""
    data = json.loads((airflow_home / "simple_auth_manager_passwords.json.generated").read_text())
    return data["admin"]


class AirflowApi:
    """Bearer-token client of one Airflow API server (`/auth/token`, `/api/v2`)."""

    def __init__(self, base_url: str, username: str, password: str, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._username, self._password = username, password
        self.timeout = timeout
        self.session = requests.Session()

    def login(self) -> None:
        resp = self.session.post(f"{self.base_url}/auth/token", timeout=self.timeout,
                                 json={"username": self._username, "password": self._password})
        resp.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {resp.json()['access_token']}"

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = self.session.request(method, f"{self.base_url}/api/v2{path}", timeout=self.timeout, **kwargs)
        if resp.status_code == 401:  # token expired (default lifetime 24 h): log in again once
            self.login()
            resp = self.session.request(method, f"{self.base_url}/api/v2{path}", timeout=self.timeout, **kwargs)
        if resp.status_code >= 400:
            raise RuntimeError(f"{method} /api/v2{path} -> {resp.status_code}: {resp.text[:500]}")
        return resp.json() if resp.content else None

    # -- DAGs ------------------------------------------------------------------------------------------------

    def dag_ids(self) -> set[str]:
        return {d["dag_id"] for d in self._call("GET", "/dags", params={"limit": 100})["dags"]}

    def import_errors(self) -> list[str]:
        errors = self._call("GET", "/importErrors")["import_errors"]
        return [f"{e['filename']}: {e['stack_trace'].strip().splitlines()[-1]}" for e in errors]

    def unpause(self, dag_id: str) -> None:
        self._call("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    # -- runs ------------------------------------------------------------------------------------------------

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        """Start a manual run now (`logical_date: null`); returns its run id."""
        body = {"logical_date": None, "conf": conf or {}}
        return self._call("POST", f"/dags/{dag_id}/dagRuns", json=body)["dag_run_id"]

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self._call("GET", f"/dags/{dag_id}/dagRuns/{run_id}")

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        tis = self._call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
        return {ti["task_id"]: ti["state"] or "none" for ti in tis}

    def wait(self, dag_id: str, run_id: str, timeout: float, interval: float = 3.0) -> RunResult:
        """Poll the run until success/failed or `timeout` seconds (then state `timeout`)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                run = self.run(dag_id, run_id)
            except requests.RequestException as exc:  # a busy API server: keep polling until the deadline
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{dag_id} run {run_id}: the API did not answer: {exc}") from exc
                time.sleep(interval)
                continue
            if run["state"] in TERMINAL_RUN_STATES or time.monotonic() > deadline:
                state = run["state"] if run["state"] in TERMINAL_RUN_STATES else "timeout"
                return RunResult(dag_id, run_id, state, _duration(run.get("start_date"), run.get("end_date")),
                                 self.task_states(dag_id, run_id))
            time.sleep(interval)

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        """An XCom value as JSON data (None when the task pushed nothing under `key`)."""
        try:
            value = self._call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}")
        except RuntimeError as exc:
            if "-> 404" in str(exc):
                return None
            raise
        raw = value.get("value")
        if isinstance(raw, str):
            try:
                return json.loads(raw)
            except ValueError:
                return raw
        return raw


def _duration(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return round((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds(), 1)
