"""The job ledger's I/O: one ConfigMap per job, read once per action, written at an exact resourceVersion.

Why the resourceVersion on every write: two Airflow workers (a retry racing a still-running attempt, two
redeploys of one job, a stop during a redeploy) write the same ConfigMap. The API server answers 409 to a
write made from a stale read; then the writer re-reads, re-decides with the pure functions of
`core.ledger` (another run holding the job refuses this one with `JobHeld`), and writes again. Nothing is
overwritten silently. The document's schema and upgrade path: docs/ledger.md.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from flink_k8s.clients.kube import KubeApiError, KubeError, KubeView
from flink_k8s.core import ledger as L
from flink_k8s.core.ledger import Action, JobLedger

Change = Callable[[JobLedger], JobLedger]
ATTEMPTS = 10


class LedgerStore:
    def __init__(self, kube: KubeView, clock: Callable[[], datetime]) -> None:
        self.kube, self.clock = kube, clock

    def read(self, cluster_id: str) -> tuple[JobLedger, str | None, dict[str, str]]:
        """(ledger, resourceVersion or None when there is no ConfigMap yet, the raw data)."""
        cm = self.kube.configmap(L.configmap_name(cluster_id))
        if cm is None:
            return JobLedger(), None, {}
        data = dict(cm.get("data") or {})
        return L.parse_ledger(data), cm["metadata"]["resourceVersion"], data

    def load(self, cluster_id: str) -> JobLedger:
        return self.read(cluster_id)[0]

    def update(self, cluster_id: str, change: Change) -> JobLedger:
        """Read, apply the pure `change`, write at that resourceVersion; on 409 re-read and re-apply."""
        for attempt in range(ATTEMPTS):
            ledger, version, data = self.read(cluster_id)
            new = change(ledger)
            if new == ledger and version is not None and ledger.schema_version == L.SCHEMA_VERSION:
                return ledger
            try:
                self.kube.write_configmap(L.configmap_name(cluster_id), L.serialize_ledger(new, data),
                                          L.MANAGED_LABELS, version)
                return new
            except KubeApiError as exc:
                if exc.status != 409:
                    raise
            time.sleep(random.uniform(0, 0.02 * (attempt + 1)))  # backoff with jitter, not synchronisation
        raise KubeError(f"ledger {L.configmap_name(cluster_id)} kept changing under {ATTEMPTS} concurrent writes; "
                        "retry the task")

    def begin(self, cluster_id: str, run_id: str, action: Action, hold_for: timedelta) -> LedgerSession:
        """Hold the job for `run_id` (JobHeld when another run holds it) and return the session that writes
        this action's steps."""
        session = LedgerSession(self, cluster_id, run_id, hold_for)
        session.commit(lambda led: L.acquire(led, cluster_id, run_id, action, self.clock(), hold_for))
        return session


class LedgerSession:
    """One action's view of the ledger: the document and resourceVersion it last wrote; one write per commit."""

    def __init__(self, store: LedgerStore, cluster_id: str, run_id: str, hold_for: timedelta) -> None:
        self.store, self.cluster_id, self.run_id, self.hold_for = store, cluster_id, run_id, hold_for
        self.ledger, self.version, self.data = store.read(cluster_id)
        self.writes = 0

    def commit(self, change: Change) -> JobLedger:
        """Apply `change` (and renew the hold) in one write; a 409 means someone else wrote: re-read and
        re-decide — `core.ledger.acquire` raises JobHeld if another run took the job meanwhile."""
        for attempt in range(ATTEMPTS):
            now = self.store.clock()
            new = L.extend(change(self.ledger), self.run_id, now, self.hold_for)
            holder = new.holder
            if holder is not None and holder.run_id != self.run_id and holder.expires_at > now:
                raise L.JobHeld(self.cluster_id, holder, self.run_id)
            try:
                self.version = self.store.kube.write_configmap(
                    L.configmap_name(self.cluster_id), L.serialize_ledger(new, self.data), L.MANAGED_LABELS,
                    self.version)
                self.ledger, self.data = new, L.serialize_ledger(new, self.data)
                self.writes += 1
                return new
            except KubeApiError as exc:
                if exc.status != 409:
                    raise
            time.sleep(random.uniform(0, 0.02 * (attempt + 1)))
            self.ledger, self.version, self.data = self.store.read(self.cluster_id)
        raise KubeError(f"ledger {L.configmap_name(self.cluster_id)} kept changing under {ATTEMPTS} concurrent "
                        "writes; retry the task")

    def end(self, change: Change = lambda led: led) -> JobLedger:
        """The action's last write: apply `change` and give the job back."""
        return self.commit(lambda led: L.release_hold(change(led), self.run_id))
