"""The job catalogue: `defaults:` + `jobs:` -> validated, frozen JobSpecs.

Pure except `load_catalogue(path)`, which reads one bounded file. Validation never stops at the
first problem: every job is checked and every Problem names job, field, value and rule.

Merge rule: a job's value replaces the default; blocks (jobmanager, taskmanager, high_availability,
restart_strategy, checkpointing, pushgateway, rest_service, health) and the two flink_conf mappings
merge key by key; node_selector and program_args are values and are replaced whole. A job-level
`null` removes the inherited value (the field falls back to its schema default).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flink_k8s.core import validation as v
from flink_k8s.core.catalogue_rules import Collector, check_conf, cross_checks
from flink_k8s.core.catalogue_schema import MERGED_MAPPINGS, block_type, field_names, schema_of
from flink_k8s.core.catalogue_schema import JobSpec as JobSpec  # re-exported: the catalogue's public type
from flink_k8s.core.errors import Problem, UnknownJobError, ValidationError
from flink_k8s.core.safe_yaml import MAX_BYTES, load_yaml_bytes
from flink_k8s.core.validation import Invalid

TOP_LEVEL = ("defaults", "jobs")
MAX_JOBS = 5000
MAX_FIELDS = 100  # no block has more than ~35 fields; more keys than this is not a catalogue
MAX_PROBLEMS = 1000  # all problems at once, but a hostile file cannot make the report unbounded
_JOB_NAME_RULE = "job names are 1-63 characters of lowercase letters, digits, '-' and '_', alphanumeric at both ends"


@dataclass(frozen=True)
class Catalogue:
    """Validated jobs by name, in file order."""

    jobs: Mapping[str, JobSpec]

    def job(self, name: str) -> JobSpec:
        try:
            return self.jobs[name]
        except KeyError:
            close = difflib.get_close_matches(str(name), list(self.jobs), n=3)
            raise UnknownJobError(str(name), self.jobs, close) from None

    def batch_jobs(self) -> list[JobSpec]:
        return [j for j in self.jobs.values() if j.kind == "batch"]

    def streaming_jobs(self) -> list[JobSpec]:
        return [j for j in self.jobs.values() if j.kind == "streaming"]


# --- merging -------------------------------------------------------------------------------------
def _is_block(cls: type, name: str) -> bool:
    return block_type(cls, name) is not None or (cls is JobSpec and name in MERGED_MAPPINGS)


def merge(defaults: Mapping[str, Any], job: Mapping[str, Any], cls: type = JobSpec) -> dict[str, Any]:
    """Job values over defaults; blocks key by key (see module docstring)."""
    merged = dict(defaults)
    for key, value in job.items():
        base = merged.get(key)
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(base, dict) and _is_block(cls, key):
            sub = block_type(cls, key)
            if sub is None:  # flink_conf mappings: None removes a default key
                combined = {**base, **value}
                merged[key] = {k: val for k, val in combined.items() if val is not None}
            else:
                merged[key] = merge(base, value, sub)
        else:
            merged[key] = value
    return merged


# --- building one job ----------------------------------------------------------------------------
def _unknown(collector: Collector, cls: type, key: object, prefix: str, section: str = "") -> None:
    allowed = field_names(cls)
    if cls is JobSpec:
        allowed = [n for n in allowed if n != "name"]
    close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6) if len(str(key)) <= 64 else []
    hint = f"; did you mean {close[0]!r}?" if close else f"; allowed here: {', '.join(allowed)}"
    where = section or prefix.rstrip(".") or ("defaults" if collector.own is None else "job")
    collector.field(f"{prefix}{key}", key, f"unknown field in {where}{hint}")


_SCALARS = (str, int, float, bool)
# (check, type, value) -> (passed, checked value or the error message)
_Memo = dict[tuple[Any, type, object], tuple[bool, Any]]


def _checked(check: Any, value: object, memo: _Memo | None) -> Any:
    """check(value), remembered per catalogue for scalar values (defaults repeat in every job)."""
    if memo is None or not isinstance(value, _SCALARS):
        return check(value)
    key = (check, type(value), value)
    hit = memo.get(key)
    if hit is None:
        try:
            hit = (True, check(value))
        except Invalid as exc:
            hit = (False, str(exc))
        memo[key] = hit
    if hit[0]:
        return hit[1]
    raise Invalid(hit[1])


def _build(cls: type, raw: Mapping[str, Any], collector: Collector, prefix: str = "", memo: _Memo | None = None) -> Any:
    """Check every field of one block; returns the dataclass (fields that failed get their default)."""
    values: dict[str, Any] = {}
    schema = schema_of(cls)
    if len(raw) > MAX_FIELDS:
        collector.field(prefix.rstrip(".") or "job", len(raw), f"{len(raw)} fields; a block has at most {MAX_FIELDS}")
        return cls()
    for key, value in raw.items():
        info = schema.get(key)
        if info is None or (cls is JobSpec and key == "name"):
            _unknown(collector, cls, key, prefix)
            continue
        sub = info.block
        if sub is not None:
            if not isinstance(value, dict):
                collector.field(prefix + key, value, "must be a mapping (a block of settings)")
                continue
            values[key] = _build(sub, value, collector, f"{prefix}{key}.", memo)
            continue
        check = info.check
        if check is None:
            continue
        try:
            values[key] = _checked(check, value, memo)
        except Invalid as exc:
            collector.field(prefix + key, value, str(exc))
    return cls(**values)


def _check_fields(merged: Mapping[str, Any], collector: Collector, memo: _Memo | None = None) -> dict[str, Any]:
    """Field-by-field checks of a (merged) job mapping; returns JobSpec constructor values."""
    spec: JobSpec = _build(JobSpec, merged, collector, "", memo)
    conf, overrides = check_conf(spec, merged, collector)
    values = {name: getattr(spec, name) for name in schema_of(JobSpec)}
    values.update(flink_conf=conf, flink_conf_overrides=overrides)
    return values


def check_defaults(defaults: Mapping[str, Any]) -> list[Problem]:
    """The defaults block on its own: every value and unknown key, reported once (not per job)."""
    collector = Collector(None, None, "defaults.")
    _check_fields(defaults, collector)
    return collector.problems


def build_job(
    name: object, raw: object, defaults: Mapping[str, Any], memo: _Memo | None = None
) -> tuple[JobSpec | None, list[Problem]]:
    """One job: merge with defaults, check every field, then the cross-field rules."""
    collector = Collector(str(name), raw if isinstance(raw, dict) else {})
    if not isinstance(name, str) or not _valid_job_name(name):
        collector.add("name", name, _JOB_NAME_RULE)
        return None, collector.problems
    if not isinstance(raw, dict):
        collector.add("job", raw, "a job must be a mapping of settings")
        return None, collector.problems
    merged = merge(defaults, raw)
    values = _check_fields(merged, collector, memo)
    values["name"] = name
    if values["cluster_id"] is None and "cluster_id" not in merged:
        try:
            values["cluster_id"] = v.cluster_id(name)
        except Invalid as exc:
            collector.add("cluster_id", name, f"defaults to the job name, which is not a valid cluster id: {exc}")
    job = JobSpec(**values)
    cross_checks(job, raw, merged, collector)
    return (job if not collector.problems and not collector.failed else None), collector.problems


def _valid_job_name(name: str) -> bool:
    import re

    return len(name) <= 63 and re.fullmatch(r"[a-z0-9]([a-z0-9_-]*[a-z0-9])?", name) is not None


# --- whole catalogue -----------------------------------------------------------------------------
def check_catalogue(data: object) -> tuple[Catalogue, list[Problem]]:
    """Every job checked; returns the valid jobs and all problems (empty list = catalogue valid)."""
    problems: list[Problem] = []
    if not isinstance(data, dict):
        return Catalogue({}), [Problem(None, "catalogue", type(data).__name__, "must be a mapping with 'defaults' and 'jobs'")]
    for key in [k for k in data if k not in TOP_LEVEL][:20]:
        close = difflib.get_close_matches(str(key), TOP_LEVEL, n=1) if len(str(key)) <= 64 else []
        hint = f"; did you mean {close[0]!r}?" if close else "; allowed: defaults, jobs"
        problems.append(Problem(None, str(key), key, f"unknown top-level key{hint}"))
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        problems.append(Problem(None, "defaults", defaults, "must be a mapping of settings"))
        defaults = {}
    problems.extend(check_defaults(defaults))
    jobs_raw = data.get("jobs")
    if not isinstance(jobs_raw, dict) or not jobs_raw:
        problems.append(Problem(None, "jobs", jobs_raw, "required: a non-empty mapping of job name to settings"))
        jobs_raw = {}
    if len(jobs_raw) > MAX_JOBS:
        problems.append(Problem(None, "jobs", len(jobs_raw), f"at most {MAX_JOBS} jobs"))
        jobs_raw = {}
    jobs: dict[str, JobSpec] = {}
    memo: _Memo = {}
    for index, (name, raw) in enumerate(jobs_raw.items()):
        if len(problems) >= MAX_PROBLEMS:
            left = len(jobs_raw) - index
            problems.append(Problem(None, "jobs", left, f"stopped after {MAX_PROBLEMS} problems; {left} jobs not checked"))
            break
        job, job_problems = build_job(name, raw, defaults, memo)
        problems.extend(job_problems)
        if job is not None:
            jobs[name] = job
    problems.extend(_duplicate_cluster_ids(jobs_raw, defaults))
    return Catalogue(jobs), problems


def _duplicate_cluster_ids(jobs_raw: Mapping[str, Any], defaults: Mapping[str, Any]) -> Iterator[Problem]:
    """Checked on the raw merged values, so a duplicate shows up even next to other problems."""
    seen: dict[str, str] = {}
    for name, raw in jobs_raw.items():
        if not isinstance(raw, dict):
            continue
        cluster = raw.get("cluster_id", defaults.get("cluster_id", name))
        if not isinstance(cluster, str):
            continue
        if cluster in seen:
            yield Problem(
                str(name), "cluster_id", cluster, f"already used by job {seen[cluster]!r}; cluster ids must be unique"
            )
        else:
            seen[cluster] = str(name)


def parse_catalogue(data: bytes) -> Catalogue:
    """Bytes -> Catalogue, or ValidationError listing every problem."""
    catalogue, problems = check_catalogue(load_yaml_bytes(data))
    if problems:
        raise ValidationError(problems)
    return catalogue


def read_catalogue_bytes(path: str | Path) -> bytes:
    """The only I/O here: one regular file, at most MAX_BYTES (+1 to detect oversize)."""
    file = Path(path)
    try:
        if not file.is_file():
            raise OSError("not a regular file")
        with file.open("rb") as handle:
            return handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ValidationError([Problem(None, "file", str(path), f"not a readable regular file ({exc.strerror or exc})")]) from None


def load_catalogue(path: str | Path) -> Catalogue:
    return parse_catalogue(read_catalogue_bytes(path))


def checkpoint_max_age_seconds(job: JobSpec) -> float | None:
    """Health threshold for checkpoint age: explicit, else the Flink K8s Operator's derivation
    max(interval, timeout) x (tolerable_failures + 2); None when the job does not checkpoint."""
    if job.health.checkpoint_max_age is not None:
        return v.duration_seconds(job.health.checkpoint_max_age)
    cp = job.checkpointing
    if cp.interval is None:
        return None
    interval = v.duration_seconds(cp.interval)
    timeout = v.duration_seconds(cp.timeout) if cp.timeout else 600.0  # Flink default 10 min
    tolerable = cp.tolerable_failures or 0
    return max(interval, timeout) * (tolerable + 2)


def health_seconds(job: JobSpec) -> dict[str, float | int | None]:
    """The job's health thresholds as plain numbers (durations in seconds), the shape
    `flink_k8s.core.health.HealthThresholds.from_seconds(**…)` takes."""
    health = job.health
    return {
        "max_restarts": health.max_restarts,
        "restarts_window": v.duration_seconds(health.restarts_window),
        "checkpoint_max_age": checkpoint_max_age_seconds(job),
        "leader_lease_max_age": v.duration_seconds(health.leader_lease_max_age),
    }
