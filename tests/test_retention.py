"""Savepoint retention: keep the newest N per job, never a protected one (pure, fixed dates)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from flink_k8s.core.retention import Savepoint, select_for_disposal

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def sp(job: str, day: int, name: str | None = None) -> Savepoint:
    return Savepoint(job=job, path=f"hdfs://dc/flink/savepoints/{job}/{name or f'savepoint-{day:02d}'}",
                     created_at=T0 + timedelta(days=day))


def paths(savepoints) -> list[str]:
    return [s.path.rsplit("/", 1)[-1] for s in savepoints]


@pytest.mark.parametrize("count, keep, disposed", [
    (0, 1, []),
    (1, 1, []),
    (3, 3, []),
    (3, 5, []),
    (4, 3, ["savepoint-00"]),
    (5, 1, ["savepoint-00", "savepoint-01", "savepoint-02", "savepoint-03"]),
])
def test_keep_newest_n(count, keep, disposed):
    assert paths(select_for_disposal([sp("a", d) for d in range(count)], keep)) == disposed


def test_order_of_input_does_not_matter_and_result_is_oldest_first():
    items = [sp("a", d) for d in (4, 0, 3, 1, 2)]
    assert paths(select_for_disposal(items, 2)) == ["savepoint-00", "savepoint-01", "savepoint-02"]


def test_per_job():
    items = [sp("a", d) for d in range(3)] + [sp("b", d) for d in range(2)]
    got = select_for_disposal(items, 2)
    assert [(s.job, s.path.rsplit("/", 1)[-1]) for s in got] == [("a", "savepoint-00")]


def test_protected_savepoints_are_never_disposed():
    items = [sp("a", d) for d in range(4)]
    protected = {items[0].path, items[1].path}
    assert paths(select_for_disposal(items, 1, protected)) == ["savepoint-02"]


def test_duplicates_count_once_and_ties_break_by_path():
    items = [sp("a", 1), sp("a", 1), sp("a", 2, "savepoint-x"), sp("a", 2, "savepoint-y")]
    assert paths(select_for_disposal(items, 2)) == ["savepoint-01"]
    assert paths(select_for_disposal(items, 1)) == ["savepoint-01", "savepoint-x"]


@pytest.mark.parametrize("keep", [0, -1, True, 1.5, "2", None])
def test_keep_must_be_a_positive_integer(keep):
    with pytest.raises(ValueError, match=f"keep={keep!r}: must be an integer >= 1"):
        select_for_disposal([sp("a", 0)], keep)
