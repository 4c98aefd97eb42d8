"""`plan` and `validate`: the catalogue on the command line (no Airflow, no cluster needed).

Exit codes: 0 ok, 2 invalid input (catalogue, job name, version, release) with every problem listed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shlex
import sys
from collections.abc import Mapping

from flink_k8s.core.catalogue import Catalogue, check_catalogue, read_catalogue_bytes
from flink_k8s.core.errors import FlinkK8sError, Problem, ValidationError
from flink_k8s.core.flink_config import build_argv, render_config
from flink_k8s.core.flink_versions import SUPPORTED_VERSIONS
from flink_k8s.core.references import SAMPLE_RELEASE
from flink_k8s.core.safe_yaml import load_yaml_bytes

EXIT_INVALID = 2


def flink_executable() -> str:
    """`$FLINK_HOME/bin/flink` when FLINK_HOME is set, else `flink` from PATH."""
    home = os.environ.get("FLINK_HOME")
    return os.path.join(home, "bin", "flink") if home else "flink"


def _load(path: str) -> tuple[Catalogue, list[Problem]]:
    return check_catalogue(load_yaml_bytes(read_catalogue_bytes(path)))


def _report(problems: list[Problem], as_json: bool) -> int:
    if as_json:
        print(json.dumps({"ok": False, "problems": [_problem_dict(p) for p in problems]}, indent=2))
    else:
        print(f"invalid: {len(problems)} problem{'s' if len(problems) != 1 else ''}", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
    return EXIT_INVALID


def _problem_dict(problem: Problem) -> dict[str, object]:
    value = problem.value
    if not isinstance(value, str | int | float | bool | type(None)):
        value = repr(value)
    return {"job": problem.job, "field": problem.field, "value": value, "rule": problem.rule}


MEMORY_ROLES = (
    ("taskmanager", "taskmanager.memory.process.size", "derive_taskmanager"),
    ("jobmanager", "jobmanager.memory.process.size", "derive_jobmanager"),
)


def memory_findings(config: Mapping[str, str], flink_version: str) -> tuple[list[tuple[str, str, str]], list[str]]:
    """(errors as (field, value, rule), warnings) of Flink's memory derivation for a rendered config.

    Uses `flink_k8s.core.memory.derive_taskmanager/derive_jobmanager(conf, version)` (results carry
    `.warnings`; `ValueError` = Flink would refuse to start) when that module is present. A role is
    only derived when the catalogue sets its process size; otherwise the image's own Flink
    configuration decides, which validate cannot see.
    """
    try:
        memory = importlib.import_module("flink_k8s.core.memory")
    except ModuleNotFoundError as exc:
        if exc.name == "flink_k8s.core.memory":
            return [], []
        raise
    errors: list[tuple[str, str, str]] = []
    warnings: list[str] = []
    for role, size_key, function in MEMORY_ROLES:
        derive = getattr(memory, function, None)
        if derive is None or size_key not in config:
            continue
        try:
            result = derive(dict(config), flink_version)
        except ValueError as exc:
            errors.append((f"{role}.process_memory", config[size_key], f"Flink's memory model refuses it: {exc}"))
            continue
        warnings.extend(f"{role}: {w}" for w in getattr(result, "warnings", ()))
    return errors, warnings


def cmd_plan(args: argparse.Namespace) -> int:
    try:
        catalogue, problems = _load(args.catalogue)
    except ValidationError as exc:
        return _report(exc.problems, args.json)
    if args.job not in catalogue.jobs:
        own = [p for p in problems if p.job == args.job]
        if own:
            return _report(own, args.json)
        try:
            catalogue.job(args.job)
        except FlinkK8sError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_INVALID
    catalogue_level = [p for p in problems if p.job is None or p.job == args.job]
    if catalogue_level:
        return _report(catalogue_level, args.json)
    job = catalogue.job(args.job)
    try:
        argv = build_argv(
            job,
            flink_executable(),
            args.flink_version,
            args.release,
            savepoint=args.savepoint,
            allow_non_restored_state=args.allow_non_restored_state,
            kubeconfig=args.kubeconfig,
        )
    except ValidationError as exc:
        return _report(exc.problems, args.json)
    except FlinkK8sError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    print(json.dumps(argv) if args.json else shlex.join(argv))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    try:
        catalogue, problems = _load(args.catalogue)
    except ValidationError as exc:
        return _report(exc.problems, args.json)
    warnings: list[str] = []
    for job in catalogue.jobs.values():
        try:  # everything that rendering checks, with a sample release
            build_argv(job, "flink", job.flink_version, SAMPLE_RELEASE)
            config = render_config(job, job.flink_version, SAMPLE_RELEASE)
        except ValidationError as exc:
            problems.extend(exc.problems)
            continue
        errors, job_warnings = memory_findings(config, job.flink_version)
        problems.extend(Problem(job.name, field, value, rule) for field, value, rule in errors)
        warnings.extend(f"job {job.name!r}: {w}" for w in job_warnings)
    if problems:
        return _report(problems, args.json)
    summary = _summary(catalogue)
    if args.json:
        print(json.dumps({"ok": True, "jobs": summary, "warnings": warnings}, indent=2))
    else:
        for warning in warnings:
            print(f"warning: {warning}", file=sys.stderr)
        kinds = [j["kind"] for j in summary]
        print(
            f"ok: {len(summary)} jobs ({kinds.count('streaming')} streaming, {kinds.count('batch')} batch)"
            f" in {args.catalogue}"
        )
        for row in summary:
            extra = row.get("schedule") or row.get("upgrade_mode") or ""
            print(f"  {row['name']:<30} {row['kind']:<9} flink {row['flink_version']:<5} cluster-id {row['cluster_id']}  {extra}")
    return 0


def _summary(catalogue: Catalogue) -> list[dict[str, object]]:
    return [
        {
            "name": job.name,
            "kind": job.kind,
            "flink_version": job.flink_version,
            "cluster_id": job.cluster_id,
            "namespace": job.namespace,
            "schedule": job.schedule,
            "upgrade_mode": job.upgrade_mode,
        }
        for job in catalogue.jobs.values()
    ]


def register(subparsers) -> None:
    plan = subparsers.add_parser("plan", help="print the exact flink argv for one catalogue job")
    plan.add_argument("catalogue", help="path to the job catalogue (e.g. include/flink_jobs.yaml)")
    plan.add_argument("job", help="job name in the catalogue")
    plan.add_argument("--flink-version", choices=SUPPORTED_VERSIONS, default=None, help="default: the job's flink_version")
    plan.add_argument("--release", default=None, help="value for {release} in the image")
    plan.add_argument("--savepoint", default=None, help="restore from this savepoint/checkpoint path (-s)")
    plan.add_argument("--allow-non-restored-state", action="store_true", help="with --savepoint: --allowNonRestoredState")
    plan.add_argument("--kubeconfig", default=None, help="absolute path: adds -Dkubernetes.config.file")
    plan.add_argument("--json", action="store_true", help="print a JSON list of strings")
    plan.set_defaults(func=cmd_plan)

    validate = subparsers.add_parser("validate", help="check every job of a catalogue; exit 2 listing all problems")
    validate.add_argument("catalogue", help="path to the job catalogue")
    validate.add_argument("--json", action="store_true", help="machine-readable result")
    validate.set_defaults(func=cmd_validate)
