"""The Flink page's rows: one per catalogue job, from plain observed data (pure; the clock is `now`).

The page (`flink_k8s_plugin.py`) and `GET /flink/api/jobs` show what an on-call engineer asks first: what runs,
which release, is it healthy, when did it last checkpoint, which savepoints exist, when was it last redeployed.
The glue gathers one `Observed` per job (Kubernetes objects, Flink REST, the redeploy ConfigMap, the last DAG
run); everything shown is decided here. The health verdict is `core.health.evaluate` — the function the
monitor DAG runs — with the same thresholds, and a cluster that could not be observed is UNHEALTHY with reason
`observation_failed`, as the monitor reports it. Nothing secret enters a row: no connection extras, tokens,
kubeconfig contents or environment values, only names, states, images and storage paths.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flink_k8s.core.catalogue import JobSpec
from flink_k8s.core.health import Figure, HealthReport, HealthThresholds, Verdict, evaluate, figure_to_plain
from flink_k8s.core.observations import ClusterObservation

RELEASE_PLACEHOLDER = "{release}"
SAVEPOINTS_SHOWN = 10
_RELEASE = r"([A-Za-z0-9][A-Za-z0-9._-]{0,127})"


@dataclass(frozen=True)
class RunInfo:
    """One run of the redeploy DAG (as the metadata DB has it); `url` is the Airflow UI page of the run."""

    run_id: str
    state: str
    release: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    url: str | None = None


@dataclass(frozen=True)
class Observed:
    """Everything gathered about one job's cluster; `error` set means it could not be observed at all."""

    observation: ClusterObservation | None = None
    error: str | None = None
    savepoint_history: tuple[tuple[str, datetime | None], ...] = ()  # (path, recorded at) as redeploys recorded
    last_redeploy: RunInfo | None = None
    flink_ui_url: str | None = None


@dataclass(frozen=True)
class ReasonRow:
    severity: str
    code: str
    message: str


@dataclass(frozen=True)
class SavepointRow:
    path: str
    recorded_at: datetime | None
    source: str  # "redeploy" (recorded by flink_streaming_redeploy) | "flink" (Flink's latest savepoint)


@dataclass(frozen=True)
class JobRow:
    name: str
    kind: str
    description: str | None
    cluster_id: str
    namespace: str
    flink_version: str
    kubernetes_conn_id: str
    state: str  # Flink job state, or NO CLUSTER / NO JOB / REST UNREACHABLE / UNKNOWN / PER RUN (batch)
    job_id: str | None
    jobmanager: str  # Deployment readiness in words
    pods: str  # JobManager / TaskManager pod readiness in words
    image_catalogue: str | None  # the catalogue's image template (with {release})
    image_running: str | None  # the JobManager Deployment's image
    release_running: str | None  # {release} as read back from the running image
    image_matches_catalogue: bool | None  # None: nothing running (or no template)
    verdict: str | None  # HEALTHY | DEGRADED | UNHEALTHY | MISSING; None for batch jobs (per-run clusters)
    reasons: tuple[ReasonRow, ...]
    last_checkpoint_id: int | None
    last_checkpoint_at: datetime | None
    last_checkpoint_age_s: float | None
    savepoints: tuple[SavepointRow, ...]
    upgrade_mode: str | None
    schedule: str | None
    error: str | None
    last_redeploy: RunInfo | None
    flink_ui_url: str | None
    observed_at: datetime | None
    extra: Mapping[str, str] = field(default_factory=dict)
    figures: tuple[Figure, ...] = ()  # what the verdict was decided on (checkpoint age, restarts, lease age)

    @property
    def redeployable(self) -> bool:
        return self.kind == "streaming"


# -- small pure helpers ----------------------------------------------------------------------------------------

def release_of(template: str | None, image: str | None) -> str | None:
    """The release a running image was made from: `repo/flink:{release}` + `repo/flink:42` -> `42`.

    None when either is missing, the template has no `{release}`, or the image does not fit the template (a
    release is what the redeploy form accepts: a letter or digit, then up to 127 of `A-Za-z0-9._-`).
    """
    if not template or not image or RELEASE_PLACEHOLDER not in template:
        return None
    first, *rest = (re.escape(part) for part in template.split(RELEASE_PLACEHOLDER))
    match = re.fullmatch(first + _RELEASE + r"\1".join(rest), image)
    return match.group(1) if match else None


def image_matches(template: str | None, image: str | None) -> bool | None:
    """Whether the running image is one the catalogue's template makes (None: nothing to compare)."""
    if not template or not image:
        return None
    if RELEASE_PLACEHOLDER in template:
        return release_of(template, image) is not None
    return image == template


def parse_savepoint_history(data: Mapping[str, str] | None) -> tuple[tuple[str, datetime | None], ...]:
    """The savepoint history of a job's ledger ConfigMap (`flink-k8s-airflow-<cluster id>`), newest first.

    The ledger owns the format (`core.ledger.parse_ledger`, schema 1 and 2); anything unreadable is skipped
    (the page shows what it can, never fails on a hand-edited ConfigMap).
    """
    from flink_k8s.core.ledger import parse_ledger

    return tuple((r.path, r.created_at) for r in parse_ledger(data).newest_first())


def flink_ui_url(api_server: str | None, namespace: str, cluster_id: str, port: str | int = "rest") -> str | None:
    """The JobManager's web UI through the API server's service proxy (needs Kubernetes credentials to open)."""
    if not api_server:
        return None
    return f"{api_server.rstrip('/')}/api/v1/namespaces/{namespace}/services/{cluster_id}-rest:{port}/proxy/"


def _ready(what: str, ready: int, total: int) -> str:
    return f"{what} {ready}/{total} ready"


def _state(obs: ClusterObservation) -> str:
    if not obs.cluster_present:
        return "NO CLUSTER"
    if obs.rest_error:
        return "REST UNREACHABLE"
    if obs.job is None:
        return "NO JOB"
    return obs.job.state


def _jobmanager(obs: ClusterObservation) -> str:
    dep = obs.deployment
    if dep is None:
        return "no Deployment"
    text = f"{dep.available_replicas}/{dep.replicas} available"
    return text + (", being deleted" if dep.deleting else "")


def _pods(obs: ClusterObservation) -> str:
    if not obs.pods:
        return "no pods"
    parts = []
    for label, pods in (("JobManager", obs.jobmanager_pods), ("TaskManager", obs.taskmanager_pods)):
        if pods:
            parts.append(_ready(label, sum(p.ready for p in pods), len(pods)))
    return ", ".join(parts) or f"{len(obs.pods)} pods"


def _savepoints(history: Iterable[tuple[str, datetime | None]], obs: ClusterObservation | None
                ) -> tuple[SavepointRow, ...]:
    rows = [SavepointRow(path, when, "redeploy") for path, when in history]
    latest = obs.checkpoints.latest_savepoint_path if obs and obs.checkpoints else None
    if latest and latest not in {r.path for r in rows}:
        rows.insert(0, SavepointRow(latest, None, "flink"))
    return tuple(rows[:SAVEPOINTS_SHOWN])


def _reasons(report: HealthReport) -> tuple[ReasonRow, ...]:
    return tuple(ReasonRow(r.severity.name, r.code, r.message) for r in report.reasons)


# -- rows ------------------------------------------------------------------------------------------------------

def _base(job: JobSpec) -> dict[str, Any]:
    return {"name": job.name, "kind": job.kind or "", "description": job.description,
            "cluster_id": job.cluster_id or job.name, "namespace": job.namespace, "flink_version": job.flink_version,
            "kubernetes_conn_id": job.kubernetes_conn_id, "image_catalogue": job.image,
            "upgrade_mode": job.upgrade_mode if job.kind == "streaming" else None,
            "schedule": job.schedule if job.kind == "batch" else None}


def batch_row(job: JobSpec) -> JobRow:
    """A batch job runs on a fresh cluster id per DAG run (`flink_batch__<job>`): nothing long-lived to observe."""
    return JobRow(**_base(job), state="PER RUN", job_id=None, jobmanager="-", pods="-", image_running=None,
                  release_running=None, image_matches_catalogue=None, verdict=None, reasons=(),
                  last_checkpoint_id=None, last_checkpoint_at=None, last_checkpoint_age_s=None, savepoints=(),
                  error=None, last_redeploy=None, flink_ui_url=None, observed_at=None,
                  extra={"dag_id": f"flink_batch__{job.name}"})


def streaming_row(job: JobSpec, observed: Observed, thresholds: HealthThresholds, now: datetime) -> JobRow:
    """The row of one streaming job; the verdict is the monitor's (`core.health.evaluate`)."""
    obs = observed.observation
    base = _base(job)
    if obs is None:
        message = observed.error or "no observation was made"
        return JobRow(**base, state="UNKNOWN", job_id=None, jobmanager="unknown", pods="unknown", image_running=None,
                      release_running=None, image_matches_catalogue=None, verdict=Verdict.UNHEALTHY.name,
                      reasons=(ReasonRow(Verdict.UNHEALTHY.name, "observation_failed", message),),
                      last_checkpoint_id=None, last_checkpoint_at=None, last_checkpoint_age_s=None,
                      savepoints=_savepoints(observed.savepoint_history, None), error=message,
                      last_redeploy=observed.last_redeploy, flink_ui_url=None, observed_at=None)
    report = evaluate(obs, thresholds, now)
    cp = obs.checkpoints
    cp_id = cp.latest_completed_id if cp and cp.latest_completed_id is not None else (
        obs.ha.latest_checkpoint_id if obs.ha else None)
    cp_at = cp.latest_completed_time if cp else None
    image = obs.deployment.image if obs.deployment else None
    return JobRow(
        **base, state=_state(obs), job_id=obs.job.job_id if obs.job else None, jobmanager=_jobmanager(obs),
        pods=_pods(obs), image_running=image, release_running=release_of(job.image, image),
        image_matches_catalogue=image_matches(job.image, image), verdict=report.verdict.name,
        reasons=_reasons(report), figures=report.figures, last_checkpoint_id=cp_id, last_checkpoint_at=cp_at,
        last_checkpoint_age_s=round((now - cp_at).total_seconds(), 1) if cp_at else None,
        savepoints=_savepoints(observed.savepoint_history, obs), error=observed.error,
        last_redeploy=observed.last_redeploy,
        flink_ui_url=observed.flink_ui_url if obs.cluster_present else None, observed_at=obs.observed_at)


def build_rows(jobs: Iterable[JobSpec], observed: Mapping[str, Observed],
               thresholds_for: Callable[[JobSpec], HealthThresholds], now: datetime) -> list[JobRow]:
    """Rows for every job: streaming jobs first, then batch, each by name. `thresholds_for(job)` gives the
    monitor's thresholds; a streaming job missing from `observed` is reported as not observed."""
    rows = []
    for job in sorted(jobs, key=lambda j: (j.kind != "streaming", j.name)):
        if job.kind == "streaming":
            rows.append(streaming_row(job, observed.get(job.name, Observed(error="not observed")),
                                      thresholds_for(job), now))
        else:
            rows.append(batch_row(job))
    return rows


def counts(rows: Iterable[JobRow]) -> dict[str, int]:
    """How many streaming jobs per verdict (for the page's summary line), worst first."""
    out = {v.name: 0 for v in sorted(Verdict, reverse=True)}
    for row in rows:
        if row.verdict:
            out[row.verdict] += 1
    return out


# -- JSON ------------------------------------------------------------------------------------------------------

def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def run_to_json(run: RunInfo | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {"run_id": run.run_id, "state": run.state, "release": run.release, "started_at": _iso(run.started_at),
            "ended_at": _iso(run.ended_at), "url": run.url}


def row_to_json(row: JobRow) -> dict[str, Any]:
    """The `/flink/api/jobs` shape of one row (stable keys; times ISO 8601, ages in seconds)."""
    return {
        "name": row.name, "kind": row.kind, "description": row.description, "cluster_id": row.cluster_id,
        "namespace": row.namespace, "flink_version": row.flink_version,
        "kubernetes_conn_id": row.kubernetes_conn_id,
        "live": {"state": row.state, "job_id": row.job_id, "jobmanager": row.jobmanager, "pods": row.pods},
        "image": {"catalogue": row.image_catalogue, "running": row.image_running, "release": row.release_running,
                  "matches_catalogue": row.image_matches_catalogue},
        "health": {"verdict": row.verdict,
                   "reasons": [{"severity": r.severity, "code": r.code, "message": r.message} for r in row.reasons],
                   "figures": [figure_to_plain(f) for f in row.figures]},
        "checkpoint": {"id": row.last_checkpoint_id, "completed_at": _iso(row.last_checkpoint_at),
                       "age_s": row.last_checkpoint_age_s},
        "savepoints": [{"path": s.path, "recorded_at": _iso(s.recorded_at), "source": s.source}
                       for s in row.savepoints],
        "upgrade_mode": row.upgrade_mode, "schedule": row.schedule,
        "last_redeploy": run_to_json(row.last_redeploy), "flink_ui_url": row.flink_ui_url,
        "observed_at": _iso(row.observed_at), "error": row.error, **({"extra": dict(row.extra)} if row.extra else {}),
    }

