"""One ledger per job (pure): in-flight progress, savepoint history, release history and the run holding the job.

Why one typed document: every lifecycle action (redeploy, stop, rollback) reads it once, decides, and writes it
once per step with the ConfigMap's resourceVersion, so two writers never silently replace each other and a
second action on the same job is refused while one holds it. Stored as ConfigMap `flink-k8s-airflow-<cluster
id>`, data key `ledger` (JSON, `schema_version` 2); docs/ledger.md has the schema and the upgrade path.

Schema 1 (before issue 20) had two keys: `progress` (JSON object of RedeployProgress fields) and `savepoints`
(JSON list of `[path, ISO time]`). `parse_ledger` reads both formats; `serialize_ledger` always writes schema 2
and drops the schema-1 keys. Parsing is tolerant (the Flink page must never fail on a hand-edited ConfigMap):
unreadable entries are skipped and reported in `JobLedger.problems`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from flink_k8s.core.errors import FlinkK8sError
from flink_k8s.core.redeploy import RedeployProgress, Restore

SCHEMA_VERSION = 2
LEDGER_KEY = "ledger"
LEGACY_KEYS = ("progress", "savepoints")  # schema 1
RELEASES_KEPT = 50
RELEASE_RECORD_VERSION = 1  # of one `releases[]` entry; docs/ledger.md "Release records"
CONFIGMAP_PREFIX = "flink-k8s-airflow-"
MANAGED_LABELS = {"app.kubernetes.io/managed-by": "flink-k8s-airflow"}


class SavepointSource(StrEnum):
    REDEPLOY = "redeploy"  # taken by a redeploy's STOP_WITH_SAVEPOINT
    STOP = "stop"  # taken by FlinkStopOperator (stop with savepoint, no redeploy)
    RESTORED = "restored"  # a path a redeploy restored from (user-chosen or recorded earlier)
    UNKNOWN = "unknown"  # schema 1 did not say


class Action(StrEnum):
    REDEPLOY = "redeploy"
    STOP = "stop"
    CANCEL = "cancel"
    ROLLBACK = "rollback"
    SUBMIT = "submit"
    CLEANUP = "cleanup"


@dataclass(frozen=True)
class SavepointRecord:
    path: str
    created_at: datetime | None
    source: SavepointSource = SavepointSource.UNKNOWN


class ReleaseOutcome(StrEnum):
    """How one deployment ended (`in-flight` while it runs, or when its worker died mid-way)."""

    IN_FLIGHT = "in-flight"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ROLLED_BACK = "rolled-back"  # failed, and the rollback of the same run restored the previous release


class ReleaseAction(StrEnum):
    DEPLOY = "deploy"  # first deployment (nothing existed)
    REDEPLOY = "redeploy"
    ROLLBACK = "rollback"  # the previous release, restored from the savepoint taken before the upgrade


@dataclass(frozen=True)
class ReleaseRecord:
    """One deployment of the job, appended when it starts and completed in the same ledger writes the executor
    makes anyway (the last RELEASES_KEPT are kept). `savepoint_taken`: the old release's savepoint this
    deployment restores (the rollback's restore point); `restore_source`: what the new job was submitted from.
    Values are as read: a hand-edited entry may hold anything, so readers treat them as text."""

    release: str
    cluster_id: str
    image: str | None = None
    flink_version: str | None = None
    upgrade_mode: str | None = None
    restore_source: str | None = None
    savepoint_taken: str | None = None
    dag_run_id: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    outcome: str | None = None
    action: str | None = None  # ReleaseAction value
    parallelism: int | None = None
    reason: str | None = None  # why it failed / was rolled back (first lines, never a secret: no argv)
    record_version: int = RELEASE_RECORD_VERSION

    @property
    def key(self) -> tuple[str | None, str | None]:
        """A deployment is identified by its DAG run and action: a retry of the same task updates, never appends."""
        return self.dag_run_id, self.action


@dataclass(frozen=True)
class Holder:
    """The run that holds the job for one action; the hold lapses at `expires_at` (a worker that died)."""

    run_id: str
    action: Action
    since: datetime
    expires_at: datetime


@dataclass(frozen=True)
class JobLedger:
    progress: RedeployProgress = RedeployProgress()
    savepoints: tuple[SavepointRecord, ...] = ()  # oldest first, one entry per path
    releases: tuple[ReleaseRecord, ...] = ()  # oldest first
    holder: Holder | None = None
    schema_version: int = SCHEMA_VERSION  # the version that was read (1: not upgraded yet)
    problems: tuple[str, ...] = field(default=(), compare=False)

    def savepoint_paths(self) -> tuple[str, ...]:
        return tuple(s.path for s in self.savepoints)

    def newest_first(self) -> tuple[SavepointRecord, ...]:
        return tuple(sorted(self.savepoints, key=lambda s: (s.created_at is not None, s.created_at or datetime.min),
                            reverse=True))


class JobHeld(FlinkK8sError, RuntimeError):
    """Another run holds the job: its action is still under way (or its hold has not lapsed yet)."""

    def __init__(self, cluster_id: str, holder: Holder, wanted_by: str) -> None:
        self.cluster_id, self.holder = cluster_id, holder
        super().__init__(f"job {cluster_id} is held by run {holder.run_id!r} ({holder.action} since "
                         f"{holder.since.isoformat(timespec='seconds')}, hold lapses "
                         f"{holder.expires_at.isoformat(timespec='seconds')}); run {wanted_by!r} refused, nothing "
                         f"changed. Wait for that run to end, then re-run")


def configmap_name(cluster_id: str) -> str:
    return f"{CONFIGMAP_PREFIX}{cluster_id}"


# -- updates (pure) --------------------------------------------------------------------------------------------

def acquire(ledger: JobLedger, cluster_id: str, run_id: str, action: Action, now: datetime,
            hold_for: timedelta) -> JobLedger:
    """Hold the job for `run_id`; JobHeld if another run's hold has not lapsed (the same run re-acquires)."""
    h = ledger.holder
    if h is not None and h.run_id != run_id and h.expires_at > now:
        raise JobHeld(cluster_id, h, run_id)
    since = h.since if h is not None and h.run_id == run_id else now
    return replace(ledger, holder=Holder(run_id, action, since, now + hold_for))


def extend(ledger: JobLedger, run_id: str, now: datetime, hold_for: timedelta) -> JobLedger:
    """Every step's write renews the hold: a live run never lapses, a dead one does after `hold_for`."""
    h = ledger.holder
    if h is None or h.run_id != run_id:
        return ledger
    return replace(ledger, holder=replace(h, expires_at=now + hold_for))


def release_hold(ledger: JobLedger, run_id: str) -> JobLedger:
    return replace(ledger, holder=None) if ledger.holder and ledger.holder.run_id == run_id else ledger


def remember_savepoint(ledger: JobLedger, path: str, when: datetime,
                       source: SavepointSource = SavepointSource.REDEPLOY) -> JobLedger:
    """Add a savepoint to the history once (the same path again is not a new entry)."""
    if path in ledger.savepoint_paths():
        return ledger
    return replace(ledger, savepoints=(*ledger.savepoints, SavepointRecord(path, when, source)))


def forget_savepoints(ledger: JobLedger, paths: Iterable[str]) -> JobLedger:
    gone = set(paths)
    return replace(ledger, savepoints=tuple(s for s in ledger.savepoints if s.path not in gone))


def with_progress(ledger: JobLedger, progress: RedeployProgress) -> JobLedger:
    return replace(ledger, progress=progress)


def clear_progress(ledger: JobLedger) -> JobLedger:
    return replace(ledger, progress=RedeployProgress())


def add_release(ledger: JobLedger, record: ReleaseRecord) -> JobLedger:
    return replace(ledger, releases=(*ledger.releases, record)[-RELEASES_KEPT:])


def start_release(ledger: JobLedger, record: ReleaseRecord) -> JobLedger:
    """Append `record` as in-flight; a retry of the same run and action re-opens its own entry instead (keeping
    its start time and the savepoint it recorded) so one deployment is one entry."""
    mine = release_of(ledger, record.dag_run_id, record.action) if record.dag_run_id else None
    if mine is None:
        return add_release(ledger, replace(record, outcome=ReleaseOutcome.IN_FLIGHT.value, ended_at=None))
    merged = replace(record, started_at=mine.started_at or record.started_at, outcome=ReleaseOutcome.IN_FLIGHT.value,
                     savepoint_taken=record.savepoint_taken or mine.savepoint_taken,
                     restore_source=record.restore_source or mine.restore_source, ended_at=None, reason=None)
    return _replace_release(ledger, mine, merged)


def update_release(ledger: JobLedger, dag_run_id: str | None, action: str | None, **changes: Any) -> JobLedger:
    """Change fields of the run's entry (no entry: unchanged — actions outside a DAG run keep no history)."""
    mine = release_of(ledger, dag_run_id, action) if dag_run_id else None
    return ledger if mine is None else _replace_release(ledger, mine, replace(mine, **changes))


def finish_release(ledger: JobLedger, dag_run_id: str | None, action: str | None, outcome: ReleaseOutcome,
                   when: datetime, reason: str | None = None) -> JobLedger:
    """End the run's entry. A rollback that succeeded also marks the release it replaced `rolled-back`."""
    led = update_release(ledger, dag_run_id, action, outcome=outcome.value, ended_at=when,
                         reason=reason[:1000] if reason else None)
    if action == ReleaseAction.ROLLBACK and outcome is ReleaseOutcome.SUCCEEDED:
        forward = forward_release(led, dag_run_id)
        if forward is not None:
            led = _replace_release(led, forward, replace(forward, outcome=ReleaseOutcome.ROLLED_BACK.value,
                                                         ended_at=forward.ended_at or when))
    return led


def release_of(ledger: JobLedger, dag_run_id: str | None, action: str | None) -> ReleaseRecord | None:
    """The newest entry of this DAG run and action."""
    return next((r for r in reversed(ledger.releases) if r.key == (dag_run_id, action)), None)


def forward_release(ledger: JobLedger, dag_run_id: str | None) -> ReleaseRecord | None:
    """The deployment (first deploy or redeploy) this DAG run made, if any."""
    return next((r for r in reversed(ledger.releases) if r.dag_run_id == dag_run_id
                 and r.action in (ReleaseAction.DEPLOY, ReleaseAction.REDEPLOY)), None)


def current_release(ledger: JobLedger) -> ReleaseRecord | None:
    """The release that should be running: the newest entry that succeeded (a rollback's included)."""
    return next((r for r in reversed(ledger.releases) if r.outcome == ReleaseOutcome.SUCCEEDED), None)


def _replace_release(ledger: JobLedger, old: ReleaseRecord, new: ReleaseRecord) -> JobLedger:
    index = max(i for i, r in enumerate(ledger.releases) if r is old)
    return replace(ledger, releases=(*ledger.releases[:index], new, *ledger.releases[index + 1:]))


# -- wire format -----------------------------------------------------------------------------------------------

def serialize_ledger(ledger: JobLedger, data: Mapping[str, str] | None = None) -> dict[str, str]:
    """The ConfigMap data (schema 2): other keys kept, schema-1 keys dropped (they are now in `ledger`)."""
    p = ledger.progress
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "progress": {"savepoint_trigger_id": p.savepoint_trigger_id, "savepoint_path": p.savepoint_path,
                     "submit_started": p.submit_started,
                     "submitted_restore": p.submitted_restore.value if p.submitted_restore else None},
        "savepoints": [{"path": s.path, "created_at": _iso(s.created_at), "source": s.source.value}
                       for s in ledger.savepoints],
        "releases": [{k: _iso(v) if isinstance(v, datetime) else v for k, v in r.__dict__.items()}
                     for r in ledger.releases],
        "holder": None if ledger.holder is None else {
            "run_id": ledger.holder.run_id, "action": ledger.holder.action.value,
            "since": _iso(ledger.holder.since), "expires_at": _iso(ledger.holder.expires_at)},
    }
    out = {k: v for k, v in (data or {}).items() if k not in LEGACY_KEYS}
    out[LEDGER_KEY] = json.dumps(doc, separators=(",", ":"))
    return out


def parse_ledger(data: Mapping[str, str] | None) -> JobLedger:
    """ConfigMap data (schema 1 or 2, or None) -> JobLedger; never raises on content."""
    data = data or {}
    problems: list[str] = []
    if LEDGER_KEY in data:
        doc = _json(data[LEDGER_KEY], dict, problems, LEDGER_KEY)
        version = doc.get("schema_version")
        if isinstance(version, int) and version > SCHEMA_VERSION:
            problems.append(f"schema_version {version} is newer than this code ({SCHEMA_VERSION}): read as "
                            f"{SCHEMA_VERSION}")
        return JobLedger(progress=_progress(doc.get("progress"), problems),
                         savepoints=_savepoints(doc.get("savepoints"), problems),
                         releases=_releases(doc.get("releases"), problems),
                         holder=_holder(doc.get("holder"), problems),
                         schema_version=version if isinstance(version, int) else SCHEMA_VERSION,
                         problems=tuple(problems))
    progress = _json(data.get("progress") or "{}", dict, problems, "progress")
    legacy = _json(data.get("savepoints") or "[]", list, problems, "savepoints")
    return JobLedger(progress=_progress(progress, problems), savepoints=_savepoints(legacy, problems),
                     schema_version=1, problems=tuple(problems))


def _json(text: str, kind: type, problems: list[str], key: str) -> Any:
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        problems.append(f"{key}: not JSON")
        return kind()
    if not isinstance(value, kind):
        problems.append(f"{key}: not a JSON {kind.__name__}")
        return kind()
    return value


def _progress(raw: Any, problems: list[str]) -> RedeployProgress:
    if not isinstance(raw, dict):
        return RedeployProgress()
    restore = None
    if raw.get("submitted_restore"):
        try:
            restore = Restore(raw["submitted_restore"])
        except ValueError:
            problems.append(f"progress.submitted_restore {raw['submitted_restore']!r} unknown")
    return RedeployProgress(savepoint_trigger_id=_str(raw.get("savepoint_trigger_id")),
                            savepoint_path=_str(raw.get("savepoint_path")),
                            submit_started=raw.get("submit_started") is True, submitted_restore=restore)


def _savepoints(raw: Any, problems: list[str]) -> tuple[SavepointRecord, ...]:
    out: dict[str, SavepointRecord] = {}
    for item in raw if isinstance(raw, list) else ():
        if isinstance(item, list | tuple) and item and isinstance(item[0], str):  # schema 1: [path, time]
            rec = SavepointRecord(item[0], _time(item[1] if len(item) > 1 else None))
        elif isinstance(item, dict) and isinstance(item.get("path"), str):
            try:
                source = SavepointSource(item.get("source") or "unknown")
            except ValueError:
                source = SavepointSource.UNKNOWN
            rec = SavepointRecord(item["path"], _time(item.get("created_at")), source)
        else:
            problems.append(f"savepoints: entry {str(item)[:80]!r} skipped")
            continue
        out.setdefault(rec.path, rec)
    return tuple(out.values())


_RECORD_TEXT = ("release", "cluster_id", "image", "flink_version", "upgrade_mode", "restore_source",
                "savepoint_taken", "dag_run_id", "outcome", "action", "reason")


def _releases(raw: Any, problems: list[str]) -> tuple[ReleaseRecord, ...]:
    """Entries as read; a wrong-typed field becomes None (reported), unknown fields (a newer record version)
    are ignored, so a hand-edited or newer history is shown, never a crash."""
    out = []
    for n, item in enumerate(raw if isinstance(raw, list) else ()):
        if not isinstance(item, dict) or not isinstance(item.get("release"), str) \
                or not isinstance(item.get("cluster_id"), str):
            problems.append(f"releases: entry {str(item)[:80]!r} skipped")
            continue
        values: dict[str, Any] = {}
        for k in _RECORD_TEXT:
            value = item.get(k)
            if value is not None and not isinstance(value, str):
                problems.append(f"releases[{n}].{k}: {str(value)[:40]!r} is not text, ignored")
                value = None
            values[k] = value
        for k in ("started_at", "ended_at"):
            values[k] = _time(item.get(k))
        par = item.get("parallelism")
        values["parallelism"] = par if isinstance(par, int) and not isinstance(par, bool) else None
        version = item.get("record_version")
        values["record_version"] = version if isinstance(version, int) else RELEASE_RECORD_VERSION
        out.append(ReleaseRecord(**values))
    return tuple(out[-RELEASES_KEPT:])


def _holder(raw: Any, problems: list[str]) -> Holder | None:
    if not isinstance(raw, dict):
        return None
    since, expires = _time(raw.get("since")), _time(raw.get("expires_at"))
    try:
        action: Action | None = Action(str(raw.get("action")))
    except ValueError:
        action = None
    if not isinstance(raw.get("run_id"), str) or since is None or expires is None or action is None:
        problems.append("holder: unreadable, ignored")
        return None
    return Holder(raw["run_id"], action, since, expires)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
