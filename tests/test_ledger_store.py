"""The job ledger ConfigMap under concurrent writers, on the real API server (issues 15 and 20).

Why: two Airflow workers (a retry racing a still-running attempt, two redeploys of one job, a stop during a
redeploy) write the same ConfigMap. A read-modify-write without the resourceVersion silently drops one
update — a savepoint path that a later redeploy or the retention policy would never see. The API server's
optimistic concurrency (409 Conflict on a stale resourceVersion) is what makes re-read, re-decide and retry
safe; it is checked here against the real API server, as the `flink-airflow` service account.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from kubernetes import config

from flink_k8s.clients.kube import KubeView
from flink_k8s.core import ledger as L
from flink_k8s.core.ledger import Action, JobHeld, SavepointSource
from flink_k8s.core.redeploy import RedeployProgress, Restore
from flink_k8s.ledger_store import LedgerStore
from tests.kube import audit

WHEN = datetime(2026, 12, 5, tzinfo=UTC)


def _store(k8s_api, clock=lambda: datetime.now(UTC)) -> LedgerStore:
    """A store as one Airflow worker has it: its own API client, the namespace's flink-airflow token."""
    return LedgerStore(KubeView(config.new_client_from_config(str(k8s_api.kubeconfig)), k8s_api.namespace), clock)


def _remember(store: LedgerStore, path: str) -> None:
    store.update("job", lambda led: L.remember_savepoint(led, path, WHEN))


def test_a_write_racing_another_is_retried_not_lost(k8s_api):
    first, second = _store(k8s_api), _store(k8s_api)
    _remember(first, "file:///sp/0")
    since = audit.mark(k8s_api.cluster.audit_log)
    raced = []

    def change_then_race(led):
        if not raced:  # between our read and our write, the other worker writes
            raced.append(True)
            _remember(second, "file:///sp/other")
        return L.remember_savepoint(led, "file:///sp/1", WHEN)

    first.update("job", change_then_race)

    assert _store(k8s_api).load("job").savepoint_paths() == ("file:///sp/0", "file:///sp/other", "file:///sp/1")
    conflicts = [e for e in audit.events(k8s_api.cluster.audit_log, since, k8s_api.namespace)
                 if e.resource == "configmaps" and e.verb == "update" and e.code == 409]
    assert conflicts, "the stale write was not refused by the API server (no 409 in its audit log)"
    assert all(e.user.endswith(":flink-airflow") for e in conflicts)


def test_concurrent_workers_keep_every_savepoint_and_progress(k8s_api):
    stores = [_store(k8s_api) for _ in range(3)]
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            for n in range(8):
                _remember(stores[index], f"file:///sp/{index}-{n}")
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(stores))]
    for t in threads:
        t.start()
    stores[0].update("job", lambda led: L.with_progress(led, RedeployProgress(savepoint_path="file:///sp/in-flight")))
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    kept = set(_store(k8s_api).load("job").savepoint_paths())
    assert kept == {f"file:///sp/{i}-{n}" for i in range(3) for n in range(8)}
    assert _store(k8s_api).load("job").progress.savepoint_path == "file:///sp/in-flight"
    stores[1].update("job", lambda led: L.forget_savepoints(led, [f"file:///sp/0-{n}" for n in range(8)]))
    stores[2].update("job", L.clear_progress)
    assert set(_store(k8s_api).load("job").savepoint_paths()) == kept - {f"file:///sp/0-{n}" for n in range(8)}
    assert _store(k8s_api).load("job").progress == RedeployProgress()


def test_round_trip_labels_and_one_write_per_commit(k8s_api):
    store = _store(k8s_api)
    view = store.kube
    assert store.load("demo") == L.JobLedger()
    session = store.begin("demo", "dag/run-1/execute", Action.REDEPLOY, timedelta(minutes=10))
    progress = RedeployProgress(savepoint_trigger_id="a" * 32, savepoint_path="file:///sp/1", submit_started=True,
                                submitted_restore=Restore.SAVEPOINT)
    session.commit(lambda led: L.remember_savepoint(L.with_progress(led, progress), "file:///sp/1", WHEN,
                                                    SavepointSource.STOP))
    session.end(L.clear_progress)
    assert session.writes == 3  # acquire, one step, end: one write each
    led = store.load("demo")
    assert led.progress == RedeployProgress() and led.holder is None
    assert led.savepoints == (L.SavepointRecord("file:///sp/1", WHEN, SavepointSource.STOP),)
    cm = view.configmap("flink-k8s-airflow-demo")
    assert cm["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "flink-k8s-airflow"}
    assert set(cm["data"]) == {"ledger"} and json.loads(cm["data"]["ledger"])["schema_version"] == 2
    assert view.ha_configmaps("demo") == [] and view.delete_ha_configmaps("demo") == []  # never an HA map


def test_a_schema_1_configmap_is_read_and_upgraded_on_the_first_write(k8s_api):
    store = _store(k8s_api)
    old = {"progress": json.dumps({"savepoint_path": "file:///sp/a", "submit_started": False}),
           "savepoints": json.dumps([["file:///sp/a", WHEN.isoformat()]])}
    store.kube.write_configmap("flink-k8s-airflow-old", old, L.MANAGED_LABELS, None)
    led = store.load("old")
    assert led.schema_version == 1 and led.progress.savepoint_path == "file:///sp/a"
    store.update("old", lambda x: x)  # nothing changes but the format
    cm = store.kube.configmap("flink-k8s-airflow-old")
    assert set(cm["data"]) == {"ledger"}
    again = store.load("old")
    assert again.schema_version == 2 and again.progress == led.progress and again.savepoints == led.savepoints


def test_two_runs_at_once_one_holds_the_job_the_other_is_refused_naming_it(k8s_api):
    """Two redeploys of one job started at once: exactly one holds it; the other is refused with a message
    naming the holding run, and writes nothing; once the holder ends, the next run proceeds."""
    stores = [_store(k8s_api) for _ in range(2)]
    _remember(stores[0], "file:///sp/before")
    barrier = threading.Barrier(2)
    outcome: dict[str, object] = {}

    def start(i: int) -> None:
        barrier.wait(timeout=30)
        try:
            outcome[f"run-{i}"] = stores[i].begin("job", f"run-{i}", Action.REDEPLOY, timedelta(minutes=10))
        except JobHeld as exc:
            outcome[f"run-{i}"] = exc

    threads = [threading.Thread(target=start, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    held = [k for k, v in outcome.items() if not isinstance(v, JobHeld)]
    refused = [v for v in outcome.values() if isinstance(v, JobHeld)]
    assert len(held) == 1 and len(refused) == 1, outcome
    assert f"held by run '{held[0]}'" in str(refused[0]) and "nothing changed" in str(refused[0])
    winner = outcome[held[0]]
    winner.commit(lambda led: L.remember_savepoint(led, "file:///sp/winner", WHEN))
    loser = "run-0" if held[0] == "run-1" else "run-1"
    with pytest.raises(JobHeld, match=held[0]):
        stores[0].begin("job", loser, Action.STOP, timedelta(minutes=10))
    winner.end()
    led = _store(k8s_api).load("job")
    assert led.holder is None and led.savepoint_paths() == ("file:///sp/before", "file:///sp/winner")
    stores[1].begin("job", loser, Action.REDEPLOY, timedelta(minutes=10)).end()  # free again


def test_a_hold_lapses_when_its_run_stops_writing(k8s_api):
    t0 = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    now = [t0]
    store = _store(k8s_api, clock=lambda: now[0])
    store.begin("job", "dead-run", Action.REDEPLOY, timedelta(minutes=10))  # never ends: its worker died
    now[0] = t0 + timedelta(minutes=9)
    with pytest.raises(JobHeld):
        store.begin("job", "next-run", Action.REDEPLOY, timedelta(minutes=10))
    now[0] = t0 + timedelta(minutes=11)
    session = store.begin("job", "next-run", Action.REDEPLOY, timedelta(minutes=10))
    assert store.load("job").holder.run_id == "next-run"
    session.end()
