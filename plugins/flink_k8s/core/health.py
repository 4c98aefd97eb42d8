"""Health verdict of one streaming cluster from observations (pure; the clock is the `now` argument).

Like the Flink Kubernetes Operator's ClusterHealthEvaluator: restarts counted within a window and a
checkpoint-progress window of max(interval, timeout) x (tolerable failures + 2). Counting within a window
needs history, so the caller passes earlier observations of the same cluster (oldest first or any order);
nothing is stored here. Every check that fails adds a Reason; the verdict is the worst of them. Every figure a
check measured (checkpoint age, restarts in the window, leader lease age, ...) is in the report with the limit it
was held against, whether it passed or not: a HEALTHY verdict shows the numbers it was decided on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum
from typing import Any, Literal

from flink_k8s.core.observations import ClusterObservation

TRANSITIONAL_JOB_STATES = frozenset({"CREATED", "INITIALIZING", "RESTARTING", "RECONCILING", "SUSPENDED"})
BAD_WAITING_REASONS = frozenset({"CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError",
                                 "CreateContainerError", "InvalidImageName"})


class Verdict(IntEnum):
    """Ordered so that max() is the worst; MISSING (no cluster at all) ranks above UNHEALTHY."""

    HEALTHY = 0
    DEGRADED = 1
    UNHEALTHY = 2
    MISSING = 3


@dataclass(frozen=True)
class HealthThresholds:
    max_restarts: int = 64  # job restarts allowed within restarts_window (Operator default)
    restarts_window: timedelta = timedelta(minutes=2)
    checkpoint_max_age: timedelta | None = None  # None: derived from the job's checkpoint config
    leader_lease_max_age: timedelta = timedelta(seconds=60)
    tm_max_failed_pods: int = 2  # TaskManager pods Failed at once (native TMs never restart in place)
    pod_max_restarts: int = 3  # container restarts of one pod within restarts_window

    @classmethod
    def from_seconds(cls, **values: float | int | None) -> HealthThresholds:
        """Build from plain numbers (durations in seconds), e.g. a catalogue `health:` block parsed to seconds."""
        durations = {"restarts_window", "checkpoint_max_age", "leader_lease_max_age"}
        kwargs: dict[str, Any] = {
            k: (timedelta(seconds=v) if k in durations and v is not None else v) for k, v in values.items()
        }
        return cls(**kwargs)

    @classmethod
    def from_spec(cls, health: object) -> HealthThresholds:
        """From the catalogue's `health:` block (durations as Flink-style strings such as '2min', '60s')."""
        from flink_k8s.core.validation import duration_seconds

        def secs(name: str) -> float | None:
            value = getattr(health, name, None)
            return None if value is None else duration_seconds(value)

        return cls.from_seconds(max_restarts=getattr(health, "max_restarts", cls.max_restarts),
                                restarts_window=secs("restarts_window") or cls.restarts_window.total_seconds(),
                                checkpoint_max_age=secs("checkpoint_max_age"),
                                leader_lease_max_age=secs("leader_lease_max_age")
                                or cls.leader_lease_max_age.total_seconds())


@dataclass(frozen=True)
class Figure:
    """One measurement a verdict was decided on and the limit it was held against, in the same unit.

    `unit` "s": value and limits are seconds; "": counts. `text` reads like "checkpoint age 12 s (limit 20 min)",
    "restarts 0 in 2 min (limit 64)", "leader lease renewed 2 s ago (limit 60 s, lease 15 s)".
    """

    key: str  # checkpoint_age | restarts | leader_lease_age | pod_restarts | tm_failed_pods
    label: str
    value: float
    limit: float | None
    unit: Literal["s", ""] = ""
    context: str = ""  # after the value: "ago", "in 2 min"
    also: tuple[tuple[str, float], ...] = ()  # further named bounds shown beside the limit, e.g. ("lease", 15.0)

    def amount(self, value: float) -> str:
        return format_seconds(value) if self.unit == "s" else f"{value:g}"

    @property
    def text(self) -> str:
        head = f"{self.label} {self.amount(self.value)}" + (f" {self.context}" if self.context else "")
        bounds = ([f"limit {self.amount(self.limit)}"] if self.limit is not None else []) + [
            f"{name} {self.amount(v)}" for name, v in self.also]
        return head + (f" ({', '.join(bounds)})" if bounds else "")


@dataclass(frozen=True)
class Reason:
    severity: Verdict
    code: str
    message: str  # states the figure's value and limit when `figure` is set
    figure: Figure | None = None


@dataclass(frozen=True)
class HealthReport:
    cluster_id: str
    verdict: Verdict
    reasons: tuple[Reason, ...]
    checked_at: datetime
    figures: tuple[Figure, ...] = ()  # every measurement made, passed or not, in check order

    @property
    def figures_text(self) -> str:
        return "; ".join(f.text for f in self.figures)

    @property
    def summary(self) -> str:
        """Every finding (each with its figure), then the figures no finding cites; or "all checks passed: <figures>"."""
        cited = {r.figure for r in self.reasons if r.figure is not None}
        rest = "; ".join(f.text for f in self.figures if f not in cited)
        if not self.reasons:
            return "all checks passed" + (f": {rest}" if rest else "")
        return "; ".join(r.message for r in self.reasons) + (f"; {rest}" if rest else "")


def figure_to_plain(figure: Figure) -> dict[str, Any]:
    """JSON shape of a figure (CLI --json, XCom, the Flink page's API)."""
    return {"key": figure.key, "value": round(figure.value, 3), "limit": figure.limit, "unit": figure.unit,
            **{name: v for name, v in figure.also}, "text": figure.text}


def checkpoint_window(interval: timedelta, timeout: timedelta | None, tolerable_failures: int) -> timedelta:
    """The Operator's minimal checkpoint-progress window: max(interval, timeout) x (tolerable + 2)."""
    return max(interval, timeout or timedelta(0)) * (tolerable_failures + 2)


def count_in_window(samples: Iterable[tuple[datetime, str, int]], now: datetime, window: timedelta) -> int:
    """Increments of a cumulative counter within (now - window, now].

    Samples are (time, series key, cumulative count); a new key or a lower count starts a new series
    (pod replaced, job recovered by a new JobManager), whose count then counts in full. The first sample
    of a series only counts when the series itself started inside the window (count since 0).
    """
    total, prev = 0, None
    for at, key, count in sorted(samples, key=lambda s: s[0]):
        if prev is not None and prev[1] == key and count >= prev[2]:
            if at > now - window:
                total += count - prev[2]
        elif prev is not None and at > now - window:
            total += count  # restarted series: everything since its start is recent
        prev = (at, key, count)
    return total


def evaluate(obs: ClusterObservation, thresholds: HealthThresholds, now: datetime,
             history: Sequence[ClusterObservation] = ()) -> HealthReport:
    """HEALTHY | DEGRADED | UNHEALTHY | MISSING with every reason found."""
    for old in history:
        if old.cluster_id != obs.cluster_id or old.observed_at > obs.observed_at:
            raise ValueError(f"history: observation of {old.cluster_id!r} at {old.observed_at.isoformat()} must be an "
                             f"earlier observation of {obs.cluster_id!r} (before {obs.observed_at.isoformat()})")
    found: list[Reason | Figure] = list(_missing(obs))
    if not found:
        found = [*_jobmanager(obs), *_checkpoints(obs, thresholds, now), *_job(obs, thresholds, now, history),
                 *_leader(obs, thresholds, now), *_pods(obs, thresholds, now, history)]
    reasons = tuple(r for r in found if isinstance(r, Reason))
    figures = tuple(f for f in found if isinstance(f, Figure))
    verdict = max((r.severity for r in reasons), default=Verdict.HEALTHY)
    return HealthReport(obs.cluster_id, verdict, reasons, now, figures)


def _missing(obs: ClusterObservation) -> Iterable[Reason]:
    if obs.cluster_present:
        return
    msg = f"no Deployment or JobManager pod for cluster {obs.cluster_id!r}"
    if obs.ha and obs.ha.has_job_graph:
        msg += "; stale HA ConfigMaps still hold a job graph (a plain resubmit would resurrect the OLD job)"
    elif obs.ha and obs.ha.has_checkpoint:
        msg += f"; HA ConfigMaps still point to checkpoint {obs.ha.latest_checkpoint_id}"
    yield Reason(Verdict.MISSING, "cluster_missing", msg)


def _jobmanager(obs: ClusterObservation) -> Iterable[Reason]:
    dep = obs.deployment
    if dep is not None and dep.deleting:
        yield Reason(Verdict.UNHEALTHY, "jm_deleting", f"JobManager Deployment {dep.name!r} is being deleted")
    elif dep is not None and not dep.available:
        yield Reason(Verdict.UNHEALTHY, "jm_unavailable",
                     f"JobManager Deployment {dep.name!r} has {dep.available_replicas}/{dep.replicas} available replicas")
    elif dep is None:
        yield Reason(Verdict.UNHEALTHY, "jm_deployment_missing", "JobManager pod exists but its Deployment is gone")
    if obs.rest_error:
        yield Reason(Verdict.UNHEALTHY, "rest_unreachable", f"JobManager REST API unreachable: {obs.rest_error}")


def _leader(obs: ClusterObservation, t: HealthThresholds, now: datetime) -> Iterable[Reason | Figure]:
    ha = obs.ha
    if ha is None or not ha.config_maps:
        return
    if not ha.leader_holder or ha.leader_renew_time is None:
        yield Reason(Verdict.UNHEALTHY, "no_leader", "HA ConfigMaps exist but no JobManager holds the leader lease")
        return
    age = now - ha.leader_renew_time
    lease = () if ha.lease_duration is None else (("lease", ha.lease_duration.total_seconds()),)
    fig = Figure("leader_lease_age", "leader lease renewed", age.total_seconds(),
                 t.leader_lease_max_age.total_seconds(), "s", "ago", lease)
    yield fig
    if age > t.leader_lease_max_age:
        yield Reason(Verdict.UNHEALTHY, "leader_lease_stale", f"{fig.text}: JobManager {ha.leader_holder} is no "
                     f"longer renewing it", fig)
    elif ha.lease_duration is not None and age > ha.lease_duration:
        yield Reason(Verdict.DEGRADED, "leader_lease_expired", f"{fig.text}: past the lease's duration", fig)


def _job(obs: ClusterObservation, t: HealthThresholds, now: datetime,
         history: Sequence[ClusterObservation]) -> Iterable[Reason | Figure]:
    job = obs.job
    if job is None:
        if not obs.rest_error:
            yield Reason(Verdict.UNHEALTHY, "no_job", "the JobManager runs no job")
        return
    if job.state in TRANSITIONAL_JOB_STATES:
        yield Reason(Verdict.DEGRADED, "job_transitional", f"job {job.job_id} is {job.state}")
    elif job.state != "RUNNING":
        yield Reason(Verdict.UNHEALTHY, "job_not_running", f"job {job.job_id} is {job.state}")
    if job.restarts is None:
        return
    samples = [(o.observed_at, o.job.job_id, o.job.restarts) for o in (*history, obs)
               if o.job is not None and o.job.restarts is not None]
    if job.start_time is not None and job.start_time > now - t.restarts_window:
        recent = job.restarts  # the job (re)started inside the window: all its restarts are recent
    else:
        recent = count_in_window(samples, now, t.restarts_window)
        if recent == 0 and job.last_restart_time and job.last_restart_time > now - t.restarts_window:
            recent = 1  # no history, but Flink says it restarted recently
    window = format_seconds(t.restarts_window.total_seconds())
    fig = Figure("restarts", "restarts", recent, t.max_restarts, "", f"in {window}")
    yield fig
    if recent > t.max_restarts:
        yield Reason(Verdict.UNHEALTHY, "restarts", f"job restarted {recent} times in {window} (limit "
                     f"{t.max_restarts})", fig)
    elif recent > 0:
        yield Reason(Verdict.DEGRADED, "restarts_recent", f"job restarted {recent} times in {window} (limit "
                     f"{t.max_restarts})", fig)


def _checkpoints(obs: ClusterObservation, t: HealthThresholds, now: datetime) -> Iterable[Reason | Figure]:
    cp, job = obs.checkpoints, obs.job
    if cp is None or job is None or job.state != "RUNNING":
        return
    if cp.interval is None and t.checkpoint_max_age is None:
        return  # checkpointing disabled and no explicit limit: nothing to expect
    derived = checkpoint_window(cp.interval, cp.timeout, cp.tolerable_failures) if cp.interval else timedelta(0)
    # An explicit limit (the catalogue's health.checkpoint_max_age) is the user's word; otherwise the Flink
    # Kubernetes Operator's window from the job's own checkpoint config, as Flink reports it.
    limit = t.checkpoint_max_age if t.checkpoint_max_age is not None else derived
    since = cp.latest_completed_time or job.start_time
    if since is not None:
        label = "checkpoint age" if cp.latest_completed_time else "no checkpoint since start, job age"
        fig = Figure("checkpoint_age", label, (now - since).total_seconds(), limit.total_seconds(), "s")
        yield fig
        if now - since > limit:
            what = (f"last completed checkpoint {cp.latest_completed_id}: " if cp.latest_completed_time else "")
            yield Reason(Verdict.UNHEALTHY, "checkpoint_stale", what + fig.text, fig)
    if cp.latest_failed_time and (cp.latest_completed_time is None or cp.latest_failed_time > cp.latest_completed_time):
        yield Reason(Verdict.DEGRADED, "checkpoint_failing",
                     f"latest checkpoint failed: {cp.latest_failed_message or 'no message'}")


def _pods(obs: ClusterObservation, t: HealthThresholds, now: datetime,
          history: Sequence[ClusterObservation]) -> Iterable[Reason | Figure]:
    for pod in obs.pods:
        if pod.waiting_reason in BAD_WAITING_REASONS:
            yield Reason(Verdict.UNHEALTHY, "pod_waiting", f"pod {pod.name} is waiting: {pod.waiting_reason}")
        if pod.last_termination_reason == "OOMKilled":
            yield Reason(Verdict.DEGRADED, "oom_killed", f"pod {pod.name} was OOMKilled (exit code {pod.last_exit_code})")
        samples = [(o.observed_at, p.name, p.restarts) for o in (*history, obs) for p in o.pods if p.name == pod.name]
        recent = count_in_window(samples, now, t.restarts_window)
        if recent == 0:
            continue  # one figure per pod that restarted in the window, not one per pod
        window = format_seconds(t.restarts_window.total_seconds())
        fig = Figure("pod_restarts", f"pod {pod.name} restarts", recent, t.pod_max_restarts, "", f"in {window}")
        yield fig
        if recent > t.pod_max_restarts:
            yield Reason(Verdict.UNHEALTHY, "pod_crashlooping",
                         f"pod {pod.name} restarted {recent} times in {window} (limit {t.pod_max_restarts})", fig)
    failed = [p.name for p in obs.taskmanager_pods if p.phase == "Failed"]
    if failed:
        fig = Figure("tm_failed_pods", "failed TaskManager pods", len(failed), t.tm_max_failed_pods)
        yield fig
        if len(failed) > t.tm_max_failed_pods:
            yield Reason(Verdict.UNHEALTHY, "tm_crashlooping",
                         f"{len(failed)} TaskManager pods failed (limit {t.tm_max_failed_pods}): {', '.join(failed)}",
                         fig)


def format_seconds(seconds: float) -> str:
    """12 s, 119 s, 2 min, 21.7 min, 2 h, 26.5 h: seconds below 2 min, minutes below 2 h, then hours."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    amount, unit = (seconds / 60, "min") if seconds < 7200 else (seconds / 3600, "h")
    return f"{amount:.0f} {unit}" if round(amount, 1) == round(amount) else f"{amount:.1f} {unit}"
