"""Savepoint retention (pure): keep the newest N savepoints per job, return the rest for disposal.

The caller lists savepoints (from its own records or the savepoint directory) and disposes what this
returns through Flink (`DELETE`-style dispose via REST or `flink savepoint -d`). Protected paths — the
savepoint a running job was restored from, one a redeploy is about to use — are never returned.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Savepoint:
    job: str  # catalogue job name (retention is per job)
    path: str
    created_at: datetime


def select_for_disposal(savepoints: Iterable[Savepoint], keep: int,
                        protected: Collection[str] = ()) -> tuple[Savepoint, ...]:
    """Savepoints beyond the newest `keep` of each job, oldest first; protected paths are kept extra."""
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
        raise ValueError(f"keep={keep!r}: must be an integer >= 1 (never dispose every savepoint of a job)")
    by_job: dict[str, dict[str, Savepoint]] = {}
    for sp in savepoints:
        known = by_job.setdefault(sp.job, {})
        if sp.path not in known or sp.created_at > known[sp.path].created_at:
            known[sp.path] = sp  # the same path listed twice counts once
    doomed: list[Savepoint] = []
    for known in by_job.values():
        newest_first = sorted(known.values(), key=lambda s: (s.created_at, s.path), reverse=True)
        doomed += [s for s in newest_first[keep:] if s.path not in protected]
    return tuple(sorted(doomed, key=lambda s: (s.created_at, s.job, s.path)))
