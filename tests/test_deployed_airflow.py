"""Airflow as users deploy it, driven through the front door (issue 17).

The session's deployment (tests/fixtures/deployed_airflow.py) runs PostgreSQL, the api-server, the scheduler
(LocalExecutor: tasks in worker processes), the dag-processor and the triggerer as separate processes, with the
settings docker-compose.yaml uses. Tests only trigger and watch runs through the REST API, as the UI does, and
check what happened on the cluster (Deployments, Flink REST, the job's output) and in the API server's audit log.

Faults are real: components are SIGKILLed with everything below them (as when a container dies) and restarted;
PostgreSQL is stopped and started again; a task process is killed in the middle of a redeploy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.fixtures.airflow_settings import read_env_file
from tests.fixtures.deployed_airflow import BURST, BURST_RECORDS, NIGHTLY_RECORDS
from tests.fixtures.paths import REPO
from tests.fixtures.procs import wait_until
from tests.fixtures.test_jobs import read_batch_result, read_counts

pytestmark = [pytest.mark.slow, pytest.mark.deployed]

REDEPLOY = "flink_streaming_redeploy"
# The api-server sets its process title, which overwrites its /proc/<pid>/environ; the others keep theirs.
ENV_READABLE = ("scheduler", "dag-processor", "triggerer")


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode(errors="replace").split("=", 1) for item in raw if b"=" in item)


def _cmdlines_below(pid: int) -> list[str]:
    from scripts.demo_stack import descendants

    out = []
    for child in descendants(pid):
        try:
            out.append(Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            pass
    return out


def _max_counts(out: Path) -> dict[int, int]:
    return {k: max(v) for k, v in read_counts(out).items() if v}


def _no_reset(out: Path, before: dict[int, int]) -> None:
    """Keyed state continued: no key starts again from 1 after having counted past 1."""
    for key, series in read_counts(out).items():
        if before.get(key, 0) < 2:
            continue
        resets = [i for i in range(1, len(series)) if series[i] == 1 and series[i - 1] >= 1]
        assert not resets, f"key {key}: count restarted from 1 after reaching {before[key]} ({series[-12:]})"


def _creates(events, cluster_id: str) -> int:
    """How often the product created the JobManager Deployment `cluster_id` (= submitted the job)."""
    return sum(1 for e in events if e.verb == "create" and e.resource == "deployments" and e.name == cluster_id
               and e.code < 300)


# -- 1. the deployment itself --------------------------------------------------------------------------------


def test_make_airflow_up_contract(kube_cluster):
    """`scripts/airflow_local.py up` (what `make airflow-up` runs): api-url, admin-credentials, health of the four
    components, PostgreSQL, LocalExecutor; `down` stops every process it started."""
    from tests.fixtures.airflow_deployment import running_pids

    state = REPO / ".airflow-local" / f"pytest-contract-{os.getpid()}"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTEST"))},
           "AIRFLOW_LOCAL_STATE": str(state), "AIRFLOW_LOCAL_PORT": "0"}
    script = [sys.executable, str(REPO / "scripts" / "airflow_local.py")]
    try:
        t0 = time.monotonic()
        up = subprocess.run([*script, "up"], env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
        startup = time.monotonic() - t0
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        url = (state / "api-url").read_text().strip()
        user, _, password = (state / "admin-credentials").read_text().strip().partition(":")
        assert url.startswith("http://127.0.0.1:") and user == "admin" and password
        assert oct((state / "admin-credentials").stat().st_mode & 0o777) == "0o600"
        assert password not in up.stdout + up.stderr, "the admin password must not be printed"
        import requests

        health = requests.get(f"{url}/api/v2/monitor/health", timeout=10).json()
        assert {k: health[k]["status"] for k in ("metadatabase", "scheduler", "triggerer", "dag_processor")} == \
            dict.fromkeys(("metadatabase", "scheduler", "triggerer", "dag_processor"), "healthy"), health
        token = requests.post(f"{url}/auth/token", json={"username": user, "password": password}, timeout=10)
        assert token.status_code in (200, 201), token.text
        pids = running_pids(state)
        assert set(pids) == {"postgres", "api-server", "scheduler", "dag-processor", "triggerer"}, pids
        for name in ENV_READABLE:
            env_of = _environ(pids[name])
            assert env_of["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://"), name
            assert {k: env_of.get(k) for k in read_env_file()} == read_env_file(), name
        assert any("LocalExecutor" in c for c in _cmdlines_below(pids["scheduler"])), \
            "the scheduler should run LocalExecutor worker processes"
        print(f"make airflow-up contract: up in {startup:.1f} s")
    finally:
        down = subprocess.run([*script, "down"], env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
        left = running_pids(state)
        import shutil

        shutil.rmtree(state, ignore_errors=True)
    assert down.returncode == 0, down.stderr
    assert not left, f"still running after down: {left}"
    assert not [p for p in pids.values() if Path(f"/proc/{p}").exists() and _alive(p)], "a process survived down"


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2:].split()[0] != "Z"


def test_deployed_components_are_what_compose_runs(deployed_airflow):
    """The session's deployment: PostgreSQL as the metadata DB, the four components each in its own process with
    the shared settings, and each registered as a running job in the database."""
    d = deployed_airflow.deployment
    assert d.healthy(), d.health()
    with d.postgres.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT version()")
        assert cur.fetchone()[0].startswith("PostgreSQL")
        cur.execute("SELECT DISTINCT job_type FROM job WHERE state = 'running'")
        assert {row[0] for row in cur.fetchall()} >= {"SchedulerJob", "TriggererJob", "DagProcessorJob"}
    for name in ("api-server", "scheduler", "dag-processor", "triggerer"):
        proc = d.processes[name]
        assert proc.alive(), proc.log_tail()
        if name in ENV_READABLE:
            assert {k: _environ(proc.pid).get(k) for k in read_env_file()} == read_env_file(), name
    dag_ids = deployed_airflow.api.dag_ids()
    assert {REDEPLOY, "flink_batch__nightly", "flink_health_monitor", "pushgateway_cleanup"} <= dag_ids
    assert not deployed_airflow.api.import_errors()


# -- 2. through the front door -------------------------------------------------------------------------------


def test_bad_conf_posted_via_rest_fails_in_validate_and_touches_nothing(deployed_airflow):
    d = deployed_airflow
    mark = d.audit_mark()
    conf = {"job": "stream", "release": "2", "restore_from": "hdfs://nn/flink/savepoints/%2e%2e/%2e%2e/x",
            "force": True}
    run_id = d.trigger(REDEPLOY, conf)
    result = d.wait(REDEPLOY, run_id, timeout=300)
    assert result.state == "failed"
    assert result.task_states["validate"] == "failed", result.task_states
    assert {result.task_states[t] for t in ("plan", "execute", "healthy")} == {"upstream_failed"}, result.task_states
    log = d.task_log(REDEPLOY, run_id, "validate")
    assert "restore_from" in log and "conf.force" in log and "unknown parameter" in log, log[-3000:]
    # Nothing is changed. The `rollback` task (trigger rule one_failed also fires on upstream_failed) runs after the
    # failed validate and skips without a request (no plan); other DAGs of this deployment may read meanwhile.
    seen = d.airflow_requests(mark)
    assert not [e for e in seen if e.verb not in ("get", "list", "watch")], f"a refused conf changed something: {seen}"
    assert result.task_states.get("rollback") == "skipped", result.task_states
    assert d.stream_cluster not in d.deployments()


def test_conf_refused_by_the_serialized_params_creates_no_run(deployed_airflow):
    """The api-server checks a posted conf against the DAG's Params as the dag-processor serialized them into
    PostgreSQL: a release with a newline and an unknown job are refused with 400 and no run is created."""
    d = deployed_airflow
    d.api.unpause(REDEPLOY)
    runs_before = len(_run_ids(d, REDEPLOY, "manual"))
    for conf in ({"job": "stream", "release": "1\n--detached"}, {"job": "no-such-job", "release": "1"}):
        resp = d.api.session.post(f"{d.api.base_url}/api/v2/dags/{REDEPLOY}/dagRuns", timeout=30,
                                  json={"logical_date": None, "conf": conf})
        assert resp.status_code == 400, (conf, resp.status_code, resp.text[:500])
    assert len(_run_ids(d, REDEPLOY, "manual")) == runs_before


def test_streaming_first_deployment_through_the_rest_api(deployed_airflow):
    """Triggered exactly as the UI does (a DAG run with a conf), watched to success through the API, checked on the
    cluster. The savepoint redeploy through the same door is test_task_killed_right_after_the_savepoint_resumes_from_it
    (it ends in a completed redeploy too; one JobManager start less for the suite)."""
    d = deployed_airflow
    out = d.out / "stream"
    run_id = d.trigger(REDEPLOY, {"job": "stream", "release": "1"})
    first = d.wait(REDEPLOY, run_id, timeout=600)
    assert first.state == "success", first.task_states
    summary = d.api.xcom(REDEPLOY, run_id, "execute")
    assert summary["safety"].startswith("fresh start"), summary
    assert d.deployments()[d.stream_cluster] == "flink-test:1"
    wait_until(lambda: (c := _max_counts(out)) and max(c.values()) > 5, 180, "the streaming job to count past 5")


def _groups(gateway_url: str) -> list[dict[str, str]]:
    """Grouping keys on the gateway (without the empty `instance` label the gateway adds)."""
    with urllib.request.urlopen(f"{gateway_url}/api/v1/metrics", timeout=10) as resp:
        data = json.load(resp)["data"]
    return [{k: v for k, v in g["labels"].items() if not (k == "instance" and v == "")} for g in data]


def test_health_monitor_and_pushgateway_cleanup_runs_complete(deployed_airflow):
    """After the first deployment above: the monitor finds the job HEALTHY; the cleanup deletes exactly the stale
    Flink groups."""
    from tests.test_pushgateway_cleanup import push_all

    d = deployed_airflow
    health_run = d.trigger("flink_health_monitor")
    stale = [{"job": f"flink{uuid.uuid4().hex}"}, {"job": f"flink{uuid.uuid4().hex}", "cluster": "old"}]
    others = [{"job": "nightly_backup"}, {"job": "etl", "instance": "a"}, {"job": "etl", "instance": "b"}]
    push_all(d.gateway.url, stale + others)
    pushed = time.time()
    wait_until(lambda: time.time() > pushed + 2, 10, "the pushed groups to be 2 s old")  # max_age below is 1s
    cleanup_run = d.trigger("pushgateway_cleanup", {"max_age": "1s", "dry_run": False})

    health = d.wait("flink_health_monitor", health_run, timeout=300)
    assert health.state == "success", health.task_states
    verdicts = d.api.xcom("flink_health_monitor", health_run, "check_all", "verdicts")
    assert verdicts["stream"]["verdict"] == "HEALTHY", verdicts

    cleanup = d.wait("pushgateway_cleanup", cleanup_run, timeout=300)
    assert cleanup.state == "success", cleanup.task_states
    wait_until(lambda: not [g for g in stale if g in _groups(d.gateway.url)], 10, "the stale groups to be deleted")
    left = _groups(d.gateway.url)
    assert all(g in left for g in others), left


# -- 3. faults: nothing lost, nothing doubled ---------------------------------------------------------------


def _run_ids(d, dag_id: str, run_type: str) -> list[str]:
    runs = d.api._call("GET", f"/dags/{dag_id}/dagRuns", params={"run_type": run_type})["dag_runs"]
    return [r["dag_run_id"] for r in runs]


def _ti_state(d, dag_id: str, run_id: str, task_id: str) -> str | None:
    return d.task_instances(dag_id, run_id).get(task_id, {}).get("state")


def _trigger_owners(d) -> dict[int, int | None]:
    """trigger id -> id of the triggerer job running it, from the metadata DB."""
    with d.deployment.postgres.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT id, triggerer_id FROM trigger")
        return dict(cur.fetchall())


def _batch_outcome(d, dag_id: str, run_id: str, out: Path, records: int, mark: int) -> str:
    """The run's real end: FINISHED in XCom, every record summed once, one submit, the per-run cluster deleted."""
    pushed = d.api.xcom(dag_id, run_id, "run")
    assert pushed["final_state"] == "FINISHED" and pushed["job_id"], pushed
    totals = read_batch_result(out)
    assert sum(c for c, _ in totals.values()) == records, totals
    assert sum(s for _, s in totals.values()) == records * (records - 1) // 2, totals
    cluster_id = pushed["cluster_id"]
    assert _creates(d.airflow_requests(mark), cluster_id) == 1, f"{cluster_id} must be submitted exactly once"
    wait_until(lambda: cluster_id not in d.deployments(), 120, f"the per-run cluster {cluster_id} to be deleted")
    return cluster_id


def test_scheduled_batch_run_defers_to_the_triggerer_and_survives_a_scheduler_kill(deployed_airflow):
    """The scheduler itself starts the run (schedule due now), the task defers its wait to the real triggerer, the
    scheduler is SIGKILLed (with its executor's workers) and restarted: the run ends with the job's real end, the
    job submitted once."""
    d = deployed_airflow
    dag_id = "flink_batch__nightly"
    mark = d.audit_mark()
    d.api.unpause(dag_id)  # @daily, catchup off: the scheduler creates the latest interval's run at once
    run_id = wait_until(lambda: (ids := _run_ids(d, dag_id, "scheduled")) and ids[0], 120,
                        "the scheduler to create a scheduled run")
    wait_until(lambda: _ti_state(d, dag_id, run_id, "run") == "deferred", 300, "the batch task to defer its wait",
               interval=0.5)
    d.deployment.kill_component("scheduler")
    assert d.api.run(dag_id, run_id)["state"] == "running"
    d.deployment.start_component("scheduler")
    result = d.wait(dag_id, run_id, timeout=600)
    assert result.state == "success", result.task_states
    ti = d.task_instances(dag_id, run_id)["run"]
    assert ti["try_number"] == 1, ti  # resumed after the deferral, not retried
    _batch_outcome(d, dag_id, run_id, d.out / "nightly", NIGHTLY_RECORDS, mark)


def test_three_batch_runs_at_once_survive_a_triggerer_kill(deployed_airflow):
    """Three runs triggered together each get their own application cluster; while all three wait deferred, the
    triggerer is SIGKILLed, a second one adopts their triggers, and all three finish, each submitted once."""
    d = deployed_airflow
    mark = d.audit_mark()
    runs = {job: d.trigger(f"flink_batch__{job}", {"release": "1"}) for job in BURST}
    deferred: set[str] = set()

    def all_deferred() -> bool:  # each seen deferred (one may already be past it on a slow machine)
        states = {job: _ti_state(d, f"flink_batch__{job}", run_id, "run") for job, run_id in runs.items()}
        deferred.update(job for job, state in states.items() if state == "deferred")
        return all(job in deferred or states[job] == "success" for job in runs) and bool(deferred)

    wait_until(all_deferred, 420, "the three tasks to defer their waits", interval=0.5)
    before = _trigger_owners(d)
    # Normally all three triggers wait here; on a slow machine the first job may already have ended: at least one.
    assert before and None not in before.values(), before
    d.deployment.kill_component("triggerer")
    d.deployment.start_component("triggerer", name="triggerer-2")
    adopted: set[int] = set()

    def all_done() -> bool:
        for trigger_id, owner in _trigger_owners(d).items():
            if trigger_id in before and owner is not None and owner != before[trigger_id]:
                adopted.add(trigger_id)
        return all(d.api.run(f"flink_batch__{j}", r)["state"] in ("success", "failed") for j, r in runs.items())

    wait_until(all_done, 600, "the three runs to end", interval=1.0)
    clusters = set()
    for job, run_id in runs.items():
        result = d.wait(f"flink_batch__{job}", run_id, timeout=60)
        assert result.state == "success", (job, result.task_states)
        clusters.add(_batch_outcome(d, f"flink_batch__{job}", run_id, d.out / job, BURST_RECORDS, mark))
    assert len(clusters) == 3, clusters
    assert adopted or not set(before) & set(_trigger_owners(d)), "the second triggerer never took a trigger over"


def _metadatabase_status(d) -> str:
    try:
        return d.deployment.health()["metadatabase"]["status"]
    except Exception as exc:  # noqa: BLE001 - an api-server that cannot answer is a status too
        return f"error: {type(exc).__name__}"


def test_postgres_restart_during_a_run(deployed_airflow):
    """PostgreSQL goes down (fast shutdown: every session cut) and comes back while a run is in flight: the
    components reconnect, the run completes, and /health reports all four healthy again."""
    d = deployed_airflow
    run_id = d.trigger(REDEPLOY, {"job": "stream", "release": "9", "dry_run": True})
    wait_until(lambda: any(ti["state"] in ("queued", "running", "success")
                           for ti in d.task_instances(REDEPLOY, run_id).values()), 120, "the run to start")
    assert d.api.run(REDEPLOY, run_id)["state"] in ("queued", "running")

    def outage_seen() -> None:  # the api-server's own health check notices the database is gone
        wait_until(lambda: _metadatabase_status(d) != "healthy", 60, "the api-server to see the database down",
                   interval=0.2)

    down_for = d.deployment.restart_postgres(while_down=outage_seen)
    # Airflow 3.3.2's scheduler and triggerer may exit when the database drops a connection mid-commit
    # (OperationalError: server closed the connection unexpectedly); docker-compose.yaml restarts them
    # (`restart: always`), so the harness does the same here, and says so.
    restarted = []
    for name, proc in list(d.deployment.processes.items()):
        if not proc.alive():
            restarted.append(name)
            d.deployment.processes.pop(name)
            d.deployment.start_component(name.split("-2")[0] if name.endswith("-2") else name, name=name)
    result = d.wait(REDEPLOY, run_id, timeout=300)
    assert result.state == "success", result.task_states
    assert result.task_states["execute"] == "skipped"
    wait_until(d.deployment.healthy, 120, "all components healthy after the restart", interval=1.0)
    for name, proc in d.deployment.processes.items():
        assert proc.alive(), f"{name} died after PostgreSQL restarted:\n{proc.log_tail()}"
    print(f"PostgreSQL was down for {down_for:.1f} s; restarted as compose would: {restarted or 'none'}")


def test_task_killed_right_after_the_savepoint_resumes_from_it(deployed_airflow):
    """The redeploy's `execute` process is SIGKILLed right after the savepoint completed (recorded in the ledger,
    nothing submitted yet). Clearing the task (the UI's retry) resumes from the recorded savepoint: no second stop,
    the new release restores that savepoint, keyed state continues."""
    from flink_k8s.core.ledger import parse_ledger

    d = deployed_airflow
    out = d.out / "stream"
    before = _max_counts(out)
    run_id = d.trigger(REDEPLOY, {"job": "stream", "release": "2"})

    def savepoint_recorded() -> str | None:
        progress = parse_ledger(d.progress(d.stream_cluster)).progress
        return progress.savepoint_path if progress.savepoint_path and not progress.submit_started else None

    savepoint = wait_until(savepoint_recorded, 300, "the redeploy to record its savepoint", interval=0.05)
    ti_id = d.task_instances(REDEPLOY, run_id)["execute"]["id"]
    title = f"airflow worker -- {ti_id}"
    from scripts.demo_stack import descendants

    scheduler = d.deployment.processes["scheduler"]
    task_pids = [p for p in descendants(scheduler.pid)
                 if Path(f"/proc/{p}/cmdline").exists()
                 and Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip() == title]
    assert task_pids, f"no process titled {title!r} below the scheduler"
    for pid in task_pids:
        os.kill(pid, 9)
    wait_until(lambda: _ti_state(d, REDEPLOY, run_id, "execute") in ("failed", "up_for_retry"), 120,
               "the killed task to be seen as failed")
    assert not parse_ledger(d.progress(d.stream_cluster)).progress.submit_started, "killed too late: submit started"

    d.api._call("POST", f"/dags/{REDEPLOY}/clearTaskInstances",
                json={"dry_run": False, "dag_run_id": run_id, "task_ids": ["execute"], "only_failed": True,
                      "include_downstream": True, "reset_dag_runs": True})
    result = d.wait(REDEPLOY, run_id, timeout=600)
    assert result.state == "success", result.task_states
    summary = d.api.xcom(REDEPLOY, run_id, "execute")
    assert "STOP_WITH_SAVEPOINT" not in summary["steps"], summary
    assert summary["restored_from"] == savepoint, (summary, savepoint)
    assert d.deployments()[d.stream_cluster] == "flink-test:2"
    wait_until(lambda: all(_max_counts(out).get(k, 0) > n for k, n in before.items()), 180,
               "counts to continue after the resumed restore")
    _no_reset(out, before)
