"""Validation of what arrives at run time (UI form, DAG conf, operator arguments), before any side effect.

The Params form checks types where Airflow enforces it; a conf sent through the REST API skips the form, so
the operators call these again. Rules are the catalogue's own (same argv safety), all problems at once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flink_k8s.core import references as r
from flink_k8s.core import validation as v
from flink_k8s.core.catalogue import Catalogue, JobSpec
from flink_k8s.core.errors import Problem, ValidationError
from flink_k8s.core.validation import Invalid

UPGRADE_MODES = ("stateless", "savepoint", "last-state")
MAX_PARALLELISM = 32768
MAX_PROGRAM_ARGS = 256  # the catalogue's own bound for program_args
MAX_UNKNOWN_REPORTED = 10  # a conf with a million keys still gives a short, readable refusal
_DECIMAL = re.compile(r"[0-9]{1,9}")  # ASCII digits only: str.isdigit() also accepts '²' and '٣'


@dataclass(frozen=True)
class RedeployInput:
    job: JobSpec
    release: str
    upgrade_mode: str
    allow_state_loss: bool
    allow_fallback_to_last_state: bool
    parallelism: int | None
    restore_from: str | None
    dry_run: bool
    require_approval: bool = False  # the catalogue's require_approval or the form's: a person approves the plan


def _shown(value: object) -> object:
    """The value as a Problem may echo it: repr() of an int beyond 4300 digits (also inside a list) raises."""
    try:
        repr(value)
    except ValueError:
        return f"<{type(value).__name__} too large to show>"
    return value


def _strict_bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise Invalid("must be true or false (a JSON boolean, not a string)")
    return value


def _optional_parallelism(value: object) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):  # templated operator arguments arrive as text
        if not _DECIMAL.fullmatch(value.strip()):
            raise Invalid(f"must be an integer between 1 and {MAX_PARALLELISM} (plain ASCII digits)")
        value = int(value.strip())
    return v.positive_int(value, MAX_PARALLELISM)


def validate_redeploy(conf: Mapping[str, object], catalogue: Catalogue) -> RedeployInput:
    """Form/conf of `flink_streaming_redeploy` -> RedeployInput, or ValidationError naming every bad field."""
    problems: list[Problem] = []
    if not isinstance(conf, Mapping):
        raise ValidationError([Problem(None, "conf", type(conf).__name__,
                                       "must be a mapping of parameter name to value (a JSON object)")])
    known = {"job", "release", "upgrade_mode", "allow_state_loss", "allow_fallback_to_last_state",
             "parallelism", "restore_from", "dry_run", "require_approval"}
    unknown = [key for key in conf if key not in known]
    for key in unknown[:MAX_UNKNOWN_REPORTED]:
        problems.append(Problem(None, f"conf.{key!s:.60}", _shown(conf[key]), f"unknown parameter; expected one of "
                                f"{', '.join(sorted(known))}"))
    if len(unknown) > MAX_UNKNOWN_REPORTED:
        problems.append(Problem(None, "conf", len(unknown), f"{len(unknown) - MAX_UNKNOWN_REPORTED} more unknown "
                                "parameters not listed"))
    name = conf.get("job")
    job = None
    streaming = {j.name: j for j in catalogue.streaming_jobs()}
    if not isinstance(name, str) or name not in streaming:
        problems.append(Problem(None, "job", _shown(name), f"must be one of the catalogue's streaming jobs: "
                                f"{', '.join(sorted(streaming)) or '(none)'}"))
    else:
        job = streaming[name]
    out: dict[str, Any] = {}  # each value as its check returned it
    checks = {
        "release": (r.release, True),
        "upgrade_mode": (lambda x: _enum(x, UPGRADE_MODES), False),
        "allow_state_loss": (_strict_bool, False),
        "allow_fallback_to_last_state": (_strict_bool, False),
        "parallelism": (_optional_parallelism, False),
        "restore_from": (lambda x: None if x in (None, "") else r.savepoint_path(x), False),
        "dry_run": (_strict_bool, False),
        "require_approval": (_strict_bool, False),
    }
    for key, (check, required) in checks.items():
        if key not in conf or conf[key] is None:
            if required:
                problems.append(Problem(job.name if job else None, key, None, "is required"))
            continue
        try:
            out[key] = check(conf[key])
        except Invalid as exc:
            problems.append(Problem(job.name if job else None, key, _shown(conf[key]), str(exc)))
    if problems or job is None:
        raise ValidationError(problems)
    return RedeployInput(
        job=job,
        release=out["release"],
        upgrade_mode=out.get("upgrade_mode") or job.upgrade_mode or "savepoint",
        allow_state_loss=bool(out.get("allow_state_loss", False)),
        allow_fallback_to_last_state=bool(out.get("allow_fallback_to_last_state", False)),
        parallelism=out.get("parallelism"),
        restore_from=out.get("restore_from"),
        dry_run=bool(out.get("dry_run", False)),
        require_approval=bool(out.get("require_approval", False)) or job.require_approval,
    )


def _enum(value: object, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise Invalid(f"must be one of {', '.join(choices)}")
    return value


def validate_submit_overrides(job: JobSpec, release: object, parallelism: object,
                              program_args: object) -> tuple[str | None, int | None, tuple[str, ...] | None]:
    """Operator arguments of FlinkSubmitOperator (after templating) -> checked values."""
    problems: list[Problem] = []
    out: list[object] = [None, None, None]
    if release not in (None, ""):
        try:
            out[0] = r.release(release)
        except Invalid as exc:
            problems.append(Problem(job.name, "release", _shown(release), str(exc)))
    try:
        out[1] = _optional_parallelism(parallelism)
    except Invalid as exc:
        problems.append(Problem(job.name, "parallelism", _shown(parallelism), str(exc)))
    if program_args is not None:
        if not isinstance(program_args, list | tuple):
            problems.append(Problem(job.name, "program_args", _shown(program_args), "must be a list of strings"))
        elif len(program_args) > MAX_PROGRAM_ARGS:
            problems.append(Problem(job.name, "program_args", len(program_args),
                                    f"at most {MAX_PROGRAM_ARGS} program arguments"))
        else:
            args = []
            for i, arg in enumerate(program_args):
                try:
                    args.append(v.argv_safe(arg, allow_leading_dash=True))
                except Invalid as exc:
                    problems.append(Problem(job.name, f"program_args[{i}]", _shown(arg), str(exc)))
            out[2] = tuple(args)
    if problems:
        raise ValidationError(problems)
    return out[0], out[1], out[2]  # type: ignore[return-value]
