"""Which Pushgateway groups are stale and may be deleted (pure: plain data in, plain data out).

A group is identified by its full grouping key (every label of the push URL, `job` included). Flink's
`PrometheusPushGatewayReporter` with `randomJobNameSuffix=true` pushes each JobManager/TaskManager
process to its own group `job=<jobName><AbstractID>` (32 lowercase hex characters, same in 1.15 and
2.x); a process that dies without `deleteOnShutdown` running leaves that group behind forever.

Decision order for each group: keep-list -> job filter -> label matchers -> age. Then the guard: if
the stale groups exceed `max_share` of all groups scanned and `force` is off, nothing is deleted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

FLINK_RANDOM_SUFFIX = r"[0-9a-f]{32}"
DEFAULT_JOB_REGEX = rf".*{FLINK_RANDOM_SUFFIX}"  # any <jobName> + Flink's random suffix
DEFAULT_MAX_SHARE = 0.5


class SelectionError(ValueError):
    """Invalid cleanup criteria; the message names the field, the value and the rule."""


@dataclass(frozen=True)
class Group:
    """One Pushgateway group as listed by `GET /api/v1/metrics`."""

    labels: Mapping[str, str]
    push_time: float | None = None  # last successful push (unix seconds); 0/None = never
    failure_time: float | None = None  # last failed push (unix seconds); 0/None = never
    last_push_successful: bool = True

    @property
    def job(self) -> str:
        return self.labels.get("job", "")

    def last_seen(self) -> float | None:
        """Last successful push; a group that never succeeded counts from its last attempt."""
        if self.push_time:
            return self.push_time
        return self.failure_time or None

    def key(self) -> tuple[tuple[str, str], ...]:
        return tuple(sorted(self.labels.items()))


@dataclass(frozen=True)
class LabelMatcher:
    """Prometheus-style matcher on one grouping label: `=`, `!=`, `=~`, `!~` (regex is full-match)."""

    name: str
    op: str
    value: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        found = re.fullmatch(self.value, actual) is not None
        return found if self.op == "=~" else not found


_MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)(.*)$", re.DOTALL)


def parse_matcher(text: str, field_name: str = "match") -> LabelMatcher:
    """`label=value`, `label!=value`, `label=~regex`, `label!~regex`."""
    m = _MATCHER.match(text)
    if not m:
        raise SelectionError(f"{field_name}={text!r}: expected label=value, label!=value, label=~regex "
                             "or label!~regex with a label name of [A-Za-z_][A-Za-z0-9_]*")
    name, op, value = m.groups()
    if op in ("=~", "!~"):
        _compile(value, field_name)
    return LabelMatcher(name, op, value)


def parse_keep(text: str, field_name: str = "keep") -> dict[str, str]:
    """A keep-list entry `job=a[,instance=b…]`: keeps every group whose labels include all these pairs."""
    pairs: dict[str, str] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name.strip()):
            raise SelectionError(f"{field_name}={text!r}: expected label=value[,label=value…]")
        pairs[name.strip()] = value
    return pairs


def _compile(pattern: str, field_name: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise SelectionError(f"{field_name}={pattern!r}: not a valid regular expression ({exc})") from None


def job_pattern(job_regex: str | None = None, job_prefix: str | None = None) -> str:
    """The job filter: an explicit regex wins; a prefix is the reporter's `jobName` + random suffix."""
    if job_regex and job_prefix:
        raise SelectionError(f"job_regex={job_regex!r}, job_prefix={job_prefix!r}: give one, not both")
    if job_regex:
        return job_regex
    if job_prefix:
        return re.escape(job_prefix) + FLINK_RANDOM_SUFFIX
    return DEFAULT_JOB_REGEX


@dataclass(frozen=True)
class Criteria:
    """What a careful cleanup run may delete."""

    max_age: float  # seconds since the last successful push
    job_regex: str = DEFAULT_JOB_REGEX  # full-match on the `job` label
    matchers: tuple[LabelMatcher, ...] = ()
    keep: tuple[Mapping[str, str], ...] = ()
    max_share: float = DEFAULT_MAX_SHARE
    force: bool = False

    def __post_init__(self) -> None:
        if not self.max_age > 0:
            raise SelectionError(f"max_age={self.max_age!r}: must be a positive number of seconds")
        if not 0 <= self.max_share <= 1:
            raise SelectionError(f"max_share={self.max_share!r}: must be between 0 and 1")
        _compile(self.job_regex, "job_regex")


@dataclass
class Selection:
    """The decision for every scanned group; `stale` is what may be deleted (empty if refused)."""

    scanned: int
    stale: list[Group] = field(default_factory=list)
    kept_fresh: list[Group] = field(default_factory=list)
    kept_by_filter: list[Group] = field(default_factory=list)
    kept_by_keep_list: list[Group] = field(default_factory=list)
    kept_unknown_age: list[Group] = field(default_factory=list)
    kept_by_guard: list[Group] = field(default_factory=list)
    refused: str | None = None  # why the guard refused, if it did


def is_kept(labels: Mapping[str, str], keep: Iterable[Mapping[str, str]]) -> bool:
    return any(all(labels.get(k) == v for k, v in entry.items()) for entry in keep)


def select_stale(groups: Sequence[Group], now: float, criteria: Criteria) -> Selection:
    """Split `groups` into what may be deleted and why everything else is kept (pure)."""
    job_re = _compile(criteria.job_regex, "job_regex")
    sel = Selection(scanned=len(groups))
    candidates: list[Group] = []
    for group in groups:
        if is_kept(group.labels, criteria.keep):
            sel.kept_by_keep_list.append(group)
        elif not job_re.fullmatch(group.job) or not all(m.matches(group.labels) for m in criteria.matchers):
            sel.kept_by_filter.append(group)
        elif (seen := group.last_seen()) is None:
            sel.kept_unknown_age.append(group)
        elif now - seen > criteria.max_age:
            candidates.append(group)
        else:
            sel.kept_fresh.append(group)
    limit = criteria.max_share * len(groups)
    if candidates and len(candidates) > limit and not criteria.force:
        sel.kept_by_guard = candidates
        sel.refused = (f"{len(candidates)} of {len(groups)} groups are stale, more than max_share="
                       f"{criteria.max_share:g} ({int(limit)} groups); nothing deleted — rerun with force "
                       "to delete them, or raise max_share")
    else:
        sel.stale = candidates
    return sel


def _number(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _metric_value(entry: Mapping[str, Any], name: str) -> float | None:
    family = entry.get(name)
    if not isinstance(family, Mapping):
        return None
    metrics = family.get("metrics") or []
    return _number(metrics[0].get("value")) if metrics else None


def parse_groups(payload: Mapping[str, Any] | Sequence[Any]) -> list[Group]:
    """Groups from the JSON of `GET /api/v1/metrics` (the whole response or its `data` list)."""
    data = payload.get("data", []) if isinstance(payload, Mapping) else payload
    groups = []
    for entry in data or []:
        labels = {str(k): str(v) for k, v in (entry.get("labels") or {}).items()}
        groups.append(Group(
            labels=labels,
            push_time=_metric_value(entry, "push_time_seconds"),
            failure_time=_metric_value(entry, "push_failure_time_seconds"),
            last_push_successful=bool(entry.get("last_push_successful", True)),
        ))
    return groups
