"""The redeploy progress ConfigMap under concurrent writers, on the real API server (issue 15).

Why: two Airflow workers (a retry racing a still-running attempt, or two operators of one job) update the
same ConfigMap. A read-modify-write without the resourceVersion silently drops one update — a savepoint
path that a later redeploy or the retention policy would never see. The API server's optimistic
concurrency (409 Conflict on a stale resourceVersion) is what makes the re-read-and-retry safe; it is
checked here against the real API server, as the `flink-airflow` service account.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from kubernetes import config

from flink_k8s.clients.kube import KubeView
from flink_k8s.control_plane import ProgressStore
from flink_k8s.core.redeploy import RedeployProgress
from tests.kube import audit


def _store(k8s_api) -> ProgressStore:
    """A store as one Airflow worker has it: its own API client, the namespace's flink-airflow token."""
    return ProgressStore(KubeView(config.new_client_from_config(str(k8s_api.kubeconfig)), k8s_api.namespace))


def test_a_write_racing_another_is_retried_not_lost(k8s_api):
    first, second = _store(k8s_api), _store(k8s_api)
    when = datetime(2026, 12, 5, tzinfo=UTC)
    first.remember_savepoint("job", "file:///sp/0", when)
    since = audit.mark(k8s_api.cluster.audit_log)
    original = first.kube.update_configmap
    raced = []

    def update_with_a_racer(name, change, labels=None, attempts=8):
        def change_then_race(data):
            if not raced:  # between our read and our write, the other worker writes
                raced.append(True)
                second.remember_savepoint("job", "file:///sp/other", when)
            return change(data)
        return original(name, change_then_race, labels, attempts)

    first.kube.update_configmap = update_with_a_racer
    first.remember_savepoint("job", "file:///sp/1", when)

    assert [p for p, _ in _store(k8s_api).savepoints("job")] == ["file:///sp/0", "file:///sp/other", "file:///sp/1"]
    conflicts = [e for e in audit.events(k8s_api.cluster.audit_log, since, k8s_api.namespace)
                 if e.resource == "configmaps" and e.verb == "update" and e.code == 409]
    assert conflicts, "the stale write was not refused by the API server (no 409 in its audit log)"
    assert all(e.user.endswith(":flink-airflow") for e in conflicts)


def test_concurrent_workers_keep_every_savepoint_and_progress(k8s_api):
    when = datetime(2026, 12, 5, tzinfo=UTC)
    stores = [_store(k8s_api) for _ in range(3)]
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            for n in range(8):
                stores[index].remember_savepoint("job", f"file:///sp/{index}-{n}", when)
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(stores))]
    for t in threads:
        t.start()
    stores[0].save("job", RedeployProgress(savepoint_path="file:///sp/in-flight"))
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    kept = {p for p, _ in _store(k8s_api).savepoints("job")}
    assert kept == {f"file:///sp/{i}-{n}" for i in range(3) for n in range(8)}
    assert _store(k8s_api).load("job").savepoint_path == "file:///sp/in-flight"
    stores[1].forget_savepoints("job", [f"file:///sp/0-{n}" for n in range(8)])
    stores[2].clear("job")
    assert {p for p, _ in _store(k8s_api).savepoints("job")} == kept - {f"file:///sp/0-{n}" for n in range(8)}
    assert _store(k8s_api).load("job") == RedeployProgress()
