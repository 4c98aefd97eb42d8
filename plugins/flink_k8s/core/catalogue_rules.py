"""Catalogue rules that need context: problem collection per job, `flink_conf` ownership and
collisions, and the cross-field rules. Used by `catalogue`; pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flink_k8s.core import validation as v
from flink_k8s.core.catalogue_schema import RESTART_FIELDS, JobSpec, schema_of
from flink_k8s.core.errors import Problem
from flink_k8s.core.flink_versions import ALIAS_TO_SETTING, RESERVED_KEYS, remote_jar_schemes_supported
from flink_k8s.core.validation import Invalid


class Collector:
    """Collects problems for one job. Field problems about values the job inherited from `defaults`
    are dropped here because the defaults block is checked (and reported) once on its own."""

    def __init__(self, job: str | None, own: Mapping[str, Any] | None = None, prefix: str = ""):
        self.job = job
        self.own = own  # the job's own keys; None = report everything (the defaults block)
        self.prefix = prefix
        self.failed: set[str] = set()
        self.problems: list[Problem] = []

    def add(self, field: str, value: object, rule: str) -> None:
        """A cross-field problem: always reported."""
        self.problems.append(Problem(self.job, self.prefix + field, value, rule))

    def field(self, field: str, value: object, rule: str) -> None:
        """A problem with one field's value."""
        self.failed.add(field)
        if self.own is None or present(self.own, field):
            self.add(field, value, rule)


def present(raw: Mapping[str, Any], path: str) -> bool:
    """Is dotted `path` set in `raw`? Keys may contain dots themselves (flink_conf keys)."""
    if path in raw:
        return True
    head, dot, rest = path.partition(".")
    while dot:
        if head in raw and isinstance(raw[head], dict) and present(raw[head], rest):
            return True
        more, dot, rest = rest.partition(".")
        head = f"{head}.{more}"
    return False


def check_conf(job: JobSpec, raw: Mapping[str, Any], collector: Collector) -> tuple[dict[str, str], dict[str, str]]:
    """flink_conf / flink_conf_overrides: key syntax, argv-safe values, ownership and collisions."""
    results: dict[str, dict[str, str]] = {}
    for section in ("flink_conf", "flink_conf_overrides"):
        checked: dict[str, str] = {}
        mapping = raw.get(section)
        if not isinstance(mapping, dict) or len(mapping) > 512:  # shape problems come from the field check
            results[section] = checked
            continue
        for key, value in mapping.items():
            where = f"{section}.{key}"
            try:
                key = v.flink_key(key)
                checked[key] = v.flink_value(value)
            except Invalid as exc:
                collector.field(where, value if isinstance(key, str) else key, str(exc))
                continue
            owner = ALIAS_TO_SETTING.get(key)
            if key in RESERVED_KEYS or key.startswith("$internal.") and owner is None:
                collector.field(where, value, "set by the runner (CLI flags or typed fields), not by the catalogue")
                checked.pop(key, None)
            elif section == "flink_conf" and owner is not None:
                collector.field(
                    where,
                    value,
                    f"collides with typed field {owner!r}; set that field, or put the key under"
                    " flink_conf_overrides to replace it deliberately",
                )
                checked.pop(key, None)
            elif section == "flink_conf_overrides" and owner is None:
                collector.field(where, value, "not the key of any typed field; plain keys belong under flink_conf")
                checked.pop(key, None)
            elif owner in ("cluster_id", "namespace", "jar_uri", "entry_class", "program_args", "parallelism"):
                collector.field(where, value, f"identity/CLI setting; set typed field {owner!r} instead")
                checked.pop(key, None)
        results[section] = checked
    both = set(results["flink_conf"]) & set(results["flink_conf_overrides"])
    for key in sorted(both):
        collector.field(f"flink_conf_overrides.{key}", results["flink_conf_overrides"][key], "also set in flink_conf; keep one")
    return results["flink_conf"], results["flink_conf_overrides"]


def cross_checks(job: JobSpec, job_raw: Mapping[str, Any], merged: Mapping[str, Any], collector: Collector) -> None:
    """Rules spanning several fields. Kind-only fields are checked on the job's own keys only, so
    defaults may carry streaming settings that batch jobs simply ignore."""
    if job.kind is None and "kind" not in merged:
        collector.add("kind", None, "required: batch or streaming")
    for name, info in schema_of(JobSpec).items():
        if info.only and job.kind and job.kind != info.only and name in job_raw:
            collector.add(name, job_raw[name], f"only for {info.only} jobs (this job is {job.kind})")
    if job.image is None and "image" not in merged:
        collector.add("image", None, "required (e.g. flink-java11:{release})")
    failed = collector.failed
    if job.jar_uri is None:
        if "jar_uri" not in merged:
            collector.add("jar_uri", None, "required (e.g. local:///opt/flink/usrlib/Job.jar)")
    elif (
        "flink_version" not in failed
        and not job.jar_uri.startswith("local:")
        and not remote_jar_schemes_supported(job.flink_version)
    ):
        collector.add(
            "jar_uri",
            job.jar_uri,
            f"Flink {job.flink_version} application mode only accepts local:// jars (remote jars need Flink >= 1.19)",
        )
    if job.kind == "streaming":
        if job.upgrade_mode is None:
            if "upgrade_mode" not in failed:
                collector.add("upgrade_mode", None, "streaming jobs must choose stateless, savepoint or last-state")
        elif job.upgrade_mode == "savepoint" and job.savepoint_dir is None and "savepoint_dir" not in failed:
            collector.add("savepoint_dir", None, "required when upgrade_mode is savepoint")
        elif job.upgrade_mode == "last-state":
            if not job.high_availability.enabled:
                collector.add("high_availability.enabled", False, "last-state upgrades need Kubernetes HA enabled")
            if job.checkpointing.dir is None and "checkpointing.dir" not in failed:
                collector.add("checkpointing.dir", None, "last-state upgrades need a checkpoint directory")
        if job.upgrade_mode == "stateless" and job.rollback.enabled and not job.rollback.allow_state_loss:
            collector.add("rollback.enabled", True, "a stateless job takes no savepoint to roll back to: set "
                          "rollback.allow_state_loss: true to roll back with empty state, or disable rollback")
    ha = job.high_availability
    if ha.enabled and ha.storage_dir is None and "high_availability.storage_dir" not in failed:
        collector.add("high_availability.storage_dir", None, "required when high_availability is enabled")
    if job.pushgateway is not None and job.pushgateway.enabled and "pushgateway.url" not in failed and job.pushgateway.url is None:
        collector.add("pushgateway.url", None, "required when the Pushgateway reporter is enabled")
    restart = job.restart_strategy
    allowed = RESTART_FIELDS.get(restart.type or "", set())
    restart_cls: type = type(restart)
    for name in (n for n in schema_of(restart_cls) if n != "type"):
        value = getattr(restart, name)
        if value is not None and name not in allowed:
            rule = "set restart_strategy.type first" if restart.type is None else f"not used by restart strategy {restart.type!r}"
            collector.add(f"restart_strategy.{name}", value, rule)
