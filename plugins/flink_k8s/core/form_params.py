"""What the trigger forms show: title, description, section and labels of every DAG Param (pure, no Airflow).

Airflow 3 renders a DAG's Params as the trigger form: `title` labels a field, `description` explains it,
`section` groups fields, `values_display` labels the options of an `enum` (key "null" labels the empty choice).
The DAG files wrap these specs in `Param(...)`; the Flink page's redeploy form renders the same specs, so both
forms say the same thing. The form is a convenience: the `validate` task (`core.run_inputs.validate_redeploy`)
re-checks every value server-side, because a conf sent through the REST API skips the form.

Optional values show the catalogue's default in words ("catalogue default (savepoint)") instead of `null`;
with several streaming jobs whose defaults differ, each job's default is named.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flink_k8s.core.catalogue import Catalogue, JobSpec
from flink_k8s.core.run_inputs import MAX_PARALLELISM

RELEASE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
WHAT = "What to deploy"
STATE = "How to carry state"
SAFETY = "Safety switches"
SECTIONS = (WHAT, STATE, SAFETY)
MODE_WORDS = {
    "savepoint": "savepoint: stop with a savepoint, start the new release from it",
    "last-state": "last-state: stop the JobManager, start from the latest HA checkpoint",
    "stateless": "stateless: start empty (needs 'Allow state loss')",
}


def _per_job(jobs: Iterable[JobSpec], value: Callable[[JobSpec], str]) -> str:
    """`x` when every job has the same value, else `a: x, b: y` (at most 6 named, then "…")."""
    values = {job.name: value(job) for job in jobs}
    distinct = set(values.values())
    if len(distinct) <= 1:
        return str(next(iter(distinct), "-"))
    named = [f"{name}: {v}" for name, v in sorted(values.items())]
    return ", ".join(named[:6]) + (", …" if len(named) > 6 else "")


def _mode(job: JobSpec) -> str:
    return job.upgrade_mode or "savepoint"


def _parallelism(job: JobSpec) -> str:
    return str(job.parallelism) if job.parallelism else "the jar's own"


def _image(job: JobSpec) -> str:
    return job.image or "(no image)"


def redeploy_param_specs(catalogue: Catalogue) -> dict[str, dict[str, Any]]:
    """name -> keyword arguments of `airflow.sdk.Param` for `flink_streaming_redeploy`, in form order."""
    jobs = sorted(catalogue.streaming_jobs(), key=lambda j: j.name)
    names = [j.name for j in jobs]
    job_labels = {j.name: f"{j.name} — cluster {j.cluster_id or j.name} in {j.namespace}, Flink {j.flink_version}"
                  for j in jobs}
    mode_default = _per_job(jobs, _mode)
    return {
        "job": {
            "default": names[0] if names else "", "type": "string", "enum": names or [""],
            "title": "Streaming job",
            "description": "Which job of the catalogue to redeploy. The Flink page (Flink in the navigation) shows "
                           "what each one runs now.",
            "values_display": job_labels, "section": WHAT,
        },
        "release": {
            "default": "", "type": "string", "pattern": RELEASE_PATTERN,
            "title": "New release",
            "description": "Image tag to deploy: replaces {release} in the job's image "
                           f"({_per_job(jobs, _image)}). Letters, digits, '.', '_' and '-'.",
            "section": WHAT,
        },
        "parallelism": {
            "default": None, "type": ["null", "integer"], "minimum": 1, "maximum": MAX_PARALLELISM,
            "title": "Parallelism (optional)",
            "description": f"Leave empty for the catalogue default ({_per_job(jobs, _parallelism)}).",
            "section": WHAT,
        },
        "upgrade_mode": {
            "default": None, "type": ["null", "string"], "enum": [None, "savepoint", "last-state", "stateless"],
            "title": "Upgrade mode",
            "description": "How the running job's state reaches the new release. Empty = the job's upgrade_mode in "
                           f"the catalogue ({mode_default}).",
            "values_display": {"null": f"catalogue default ({mode_default})", **MODE_WORDS},
            "section": STATE,
        },
        "restore_from": {
            "default": None, "type": ["null", "string"],
            "title": "Restore from savepoint (optional)",
            "description": "A savepoint path to start from instead of the one the upgrade takes — e.g. the one a "
                           "failed redeploy named. Empty = the upgrade mode decides.",
            "section": STATE,
        },
        "allow_fallback_to_last_state": {
            "default": False, "type": "boolean",
            "title": "Fall back to the latest checkpoint",
            "description": "savepoint mode only: when the job is not RUNNING (no savepoint can be taken), restore "
                           "the latest HA checkpoint instead of refusing.",
            "section": STATE,
        },
        "allow_state_loss": {
            "default": False, "type": "boolean",
            "title": "Allow state loss (dangerous)",
            "description": "Required for a stateless redeploy: the new release starts with EMPTY state — every "
                           "counter, window and buffered record of the running job is discarded for good.",
            "section": SAFETY,
        },
        "dry_run": {
            "default": False, "type": "boolean",
            "title": "Dry run",
            "description": "Only observe the cluster and log the plan; nothing is stopped or submitted.",
            "section": SAFETY,
        },
        "require_approval": {
            "default": False, "type": "boolean",
            "title": "Require approval",
            "description": "Pause after the plan until a person approves it (Airflow: Required Actions); Reject "
                           "touches nothing. Always on for jobs with require_approval in the catalogue "
                           f"({_per_job(jobs, _approval)}).",
            "section": SAFETY,
        },
    }


def _approval(job: JobSpec) -> str:
    return "always" if job.require_approval else "when ticked"


def batch_param_specs(job: JobSpec) -> dict[str, dict[str, Any]]:
    """`flink_batch__<job>`: the release of this run."""
    return {
        "release": {
            "default": "latest", "type": "string", "pattern": RELEASE_PATTERN,
            "title": "Release",
            "description": f"Image tag for this run: replaces {{release}} in {_image(job)}.",
            "section": WHAT,
        },
    }


def as_param_kwargs(spec: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    """(default, keyword arguments) for `Param(default, **kwargs)`."""
    kwargs = dict(spec)
    return kwargs.pop("default"), kwargs


def make_params(specs: Mapping[str, Mapping[str, Any]], param_class: type) -> dict[str, Any]:
    """`{name: param_class(default, **kwargs)}` — the DAG files pass `airflow.sdk.Param` (no Airflow import here)."""
    made = {}
    for name, spec in specs.items():
        default, kwargs = as_param_kwargs(spec)
        made[name] = param_class(default, **kwargs)
    return made
