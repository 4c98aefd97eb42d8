"""The approval gate of `flink_streaming_redeploy` through Airflow's own human-in-the-loop (ApprovalOperator).

One `airflow standalone` (api-server, scheduler, dag-processor, triggerer; SQLite) and one small streaming job on
the local cluster serve both paths. The answers go through the REST endpoint the UI's Required Actions view
uses (`PATCH …/taskInstances/approve/-1/hitlDetails`), as a signed-in person's click does:
- the catalogue sets `require_approval`; the first deployment waits, its prompt shows the plan; Approve → it runs;
- a redeploy to release 2 waits, its prompt shows release 1 → 2 and the image change; Reject → `execute` is
  skipped and the cluster is untouched (same job id still RUNNING, same image, no savepoint taken).
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.fixtures import procs
from tests.fixtures.airflow_server import start_server

pytestmark = pytest.mark.slow
DAG = "flink_streaming_redeploy"
RUN_TIMEOUT = 1200


def _api(server, token, method, path, body=None):
    req = urllib.request.Request(f"{server.url}/api/v2{path}", method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read() or b"null")


def _hitl(server, token, run_id) -> dict | None:
    """The approval request once the task waits for a person (404 before)."""
    try:
        detail = _api(server, token, "GET", f"/dags/{DAG}/dagRuns/{run_id}/taskInstances/approve/-1/hitlDetails")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise
    return detail if detail.get("subject") else None


def _answer(server, token, run_id, option: str) -> dict:
    """Answer as a person would: after the scheduler has taken note that the paused task's workload ended.

    An answer within a fraction of a second of the pause races Airflow 3.3's scheduler: the resumed task is
    queued again before the executor's event for the pausing workload is processed, and the scheduler then marks
    the queued task FAILED ("finished with state success, but the task instance's state attribute is queued").
    No person is that fast; the test waits for the scheduler's own log line instead of guessing a delay."""
    seen = (f"Received executor event with state success for task instance TaskInstanceKey(dag_id='{DAG}', "
            f"task_id='approve', run_id='{run_id}'")
    procs.wait_until(lambda: seen in server.process.log_path.read_text(errors="replace"), 120,
                     "the scheduler to register that approve is waiting", procs=[server.process])
    return _api(server, token, "PATCH", f"/dags/{DAG}/dagRuns/{run_id}/taskInstances/approve/-1/hitlDetails",
                {"chosen_options": [option], "params_input": {}})


def _wait_run(server, token, run_id):
    def finished():
        state = _api(server, token, "GET", f"/dags/{DAG}/dagRuns/{run_id}")["state"]
        return state if state in ("success", "failed") else None
    return procs.wait_until(finished, RUN_TIMEOUT, f"run {run_id}", interval=2.0, procs=[server.process])


def _task_states(server, token, run_id) -> dict[str, str]:
    items = _api(server, token, "GET", f"/dags/{DAG}/dagRuns/{run_id}/taskInstances")["task_instances"]
    return {ti["task_id"]: ti["state"] for ti in items}


def _trigger(server, token, conf) -> str:
    return _api(server, token, "POST", f"/dags/{DAG}/dagRuns", {"logical_date": None, "conf": conf})["dag_run_id"]


def test_approve_and_reject_through_the_real_gate(flink_env, k8s_api, tmp_path):
    started = time.monotonic()
    catalogue = Path(os.environ["FLINK_K8S_CATALOGUE"])
    text = catalogue.read_text()
    assert "    savepoints_to_keep: 2\n" in text
    catalogue.write_text(text.replace("    savepoints_to_keep: 2\n", "    savepoints_to_keep: 2\n    require_approval: true\n"))
    env = {"FLINK_K8S_CATALOGUE": str(catalogue), "FLINK_HOME": os.environ["FLINK_HOME"],
           "FLINK_K8S_HEALTH_SCHEDULE": "none", "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
           **k8s_api.airflow_env()}
    server = start_server(tmp_path / "airflow", env, standalone=True, timeout=600)
    try:
        token = server.token("admin")
        procs.wait_until(lambda: _api(server, token, "GET", f"/dags/{DAG}"), 300, "the redeploy DAG to be parsed",
                         interval=2.0, procs=[server.process])
        _api(server, token, "PATCH", f"/dags/{DAG}", {"is_paused": False})
        ready = time.monotonic()

        # 1. First deployment: the catalogue requires approval; the prompt shows the plan; Approve -> it runs.
        first = _trigger(server, token, {"job": "stream", "release": "1"})
        ask = procs.wait_until(lambda: _hitl(server, token, first), 600, "the approval request",
                               interval=2.0, procs=[server.process])
        assert ask["options"] == ["Approve", "Reject"]
        assert "stream" in ask["subject"] and "→ 1" in ask["subject"], ask["subject"]
        assert "**Release** | not running → 1" in ask["body"] and "SUBMIT" in ask["body"], ask["body"]
        assert _task_states(server, token, first)["execute"] in (None, "none", "scheduled", "queued")
        answered = _answer(server, token, first, "Approve")
        assert answered["chosen_options"] == ["Approve"]
        assert _wait_run(server, token, first) == "success", server.process.log_tail()
        states = _task_states(server, token, first)
        assert states["approve"] == "success" and states["execute"] == "success" and states["healthy"] == "success"
        cluster, ns = flink_env["cluster"], flink_env["ns"]
        dep = k8s_api.apps.read_namespaced_deployment(cluster, ns)
        assert dep.spec.template.spec.containers[0].image == "flink-test:1"
        from flink_k8s.hooks.flink import FlinkKubernetesHook

        cp = FlinkKubernetesHook("kubernetes_default", ns).control_plane
        with cp.rest(cluster) as rest:
            running = [j for j in rest.jobs() if j.state == "RUNNING"]
        assert len(running) == 1
        approved_at = time.monotonic()

        # 2. Redeploy to release 2: the prompt shows 1 -> 2 and the image change; Reject -> nothing touched.
        second = _trigger(server, token, {"job": "stream", "release": "2"})
        ask = procs.wait_until(lambda: _hitl(server, token, second), 600, "the second approval request",
                               interval=2.0, procs=[server.process])
        body = ask["body"]
        assert "**Release** | 1 → 2" in body and "STOP_WITH_SAVEPOINT" in body, body
        assert "| deployment.image | flink-test:1 | flink-test:2 |" in body, body
        assert "the JobManager Deployment" in body  # what will be deleted
        _answer(server, token, second, "Reject")
        assert _wait_run(server, token, second) == "success", server.process.log_tail()
        states = _task_states(server, token, second)
        assert states["approve"] == "success" and states["execute"] == "skipped" and states["healthy"] == "skipped"
        with cp.rest(cluster) as rest:
            after = [j for j in rest.jobs() if j.state == "RUNNING"]
            checkpoints = rest.checkpoints(after[0].job_id)
        assert [j.job_id for j in after] == [running[0].job_id]  # the same job, still running
        assert checkpoints.latest_savepoint_path is None  # no savepoint was taken
        dep = k8s_api.apps.read_namespaced_deployment(cluster, ns)
        assert dep.spec.template.spec.containers[0].image == "flink-test:1"
        print(f"approval gate: server ready {ready - started:.0f}s, approve path {approved_at - ready:.0f}s, "
              f"reject path {time.monotonic() - approved_at:.0f}s, total {time.monotonic() - started:.0f}s")
    finally:
        server.stop()
