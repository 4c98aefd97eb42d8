"""Plain facts observed from one native Flink cluster, and pure parsers from the raw JSON that yields them.

The Kubernetes view and the REST client fetch JSON (Deployment/Pod/ConfigMap objects exactly as the API
server serves them, Flink REST bodies as the JobManager serves them) and call these parsers; health and
redeploy decisions only ever see the frozen facts. All times are timezone-aware UTC datetimes.
A fact that could not be observed must make the caller fail or set `rest_error` — never look "absent".
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

LEADER_ANNOTATION = "control-plane.alpha.kubernetes.io/leader"
LEADER_KEY_PREFIX = "org.apache.flink.k8s.leader."
JOB_GRAPH_PREFIXES = ("jobGraph-", "executionPlan-")  # 1.x / 2.x
CHECKPOINT_KEY_PREFIX = "checkpointID-"
COUNTER_KEY = "counter"
JOB_STATES_TERMINAL = frozenset({"FINISHED", "FAILED", "CANCELED"})
_NO_CHECKPOINTING = 2**63 - 1  # Flink reports interval Long.MAX_VALUE when checkpointing is off


@dataclass(frozen=True)
class DeploymentFacts:
    name: str
    replicas: int
    available_replicas: int
    ready_replicas: int
    image: str | None
    deleting: bool = False

    @property
    def available(self) -> bool:
        return self.available_replicas >= 1 and not self.deleting


@dataclass(frozen=True)
class PodFacts:
    name: str
    component: str | None  # "jobmanager" | "taskmanager" (Flink's `component` label)
    phase: str
    ready: bool
    restarts: int
    last_termination_reason: str | None = None  # e.g. OOMKilled, Error
    last_exit_code: int | None = None
    waiting_reason: str | None = None  # e.g. CrashLoopBackOff, ImagePullBackOff
    deleting: bool = False


@dataclass(frozen=True)
class HaFacts:
    """What Flink's Kubernetes HA services left in the cluster's HA ConfigMaps."""

    config_maps: tuple[str, ...] = ()
    leader_holder: str | None = None
    leader_renew_time: datetime | None = None
    lease_duration: timedelta | None = None
    leader_addresses: Mapping[str, str] = field(default_factory=dict)  # dispatcher, restserver, job-<id>…
    job_graph_keys: tuple[str, ...] = ()
    checkpoint_counter: int | None = None
    latest_checkpoint_id: int | None = None  # newest checkpointID-* not marked for deletion
    latest_checkpoint_pointer: str | None = None  # completedCheckpoint file the HA store points to

    @property
    def has_job_graph(self) -> bool:
        return bool(self.job_graph_keys)

    @property
    def has_checkpoint(self) -> bool:
        return self.latest_checkpoint_id is not None


@dataclass(frozen=True)
class JobFacts:
    job_id: str
    name: str
    state: str
    start_time: datetime | None = None
    restarts: int | None = None  # numRestarts metric (None: not fetched)
    last_restart_time: datetime | None = None  # timestamps.RESTARTING of /jobs/<id>

    @property
    def terminal(self) -> bool:
        return self.state in JOB_STATES_TERMINAL


@dataclass(frozen=True)
class CheckpointFacts:
    interval: timedelta | None  # None: checkpointing disabled
    timeout: timedelta | None = None
    tolerable_failures: int = 0
    retained_on_cancel: bool = False  # externalized checkpoints kept after cancel
    externalized: bool = False
    completed_count: int = 0
    failed_count: int = 0
    latest_completed_id: int | None = None
    latest_completed_time: datetime | None = None
    latest_completed_path: str | None = None
    latest_failed_time: datetime | None = None
    latest_failed_message: str | None = None
    latest_savepoint_path: str | None = None


@dataclass(frozen=True)
class ClusterObservation:
    cluster_id: str
    observed_at: datetime
    deployment: DeploymentFacts | None = None
    pods: tuple[PodFacts, ...] = ()
    ha: HaFacts | None = None  # None: HA not observed/configured
    job: JobFacts | None = None
    checkpoints: CheckpointFacts | None = None
    rest_error: str | None = None  # why the JobManager REST API could not be read

    @property
    def jobmanager_pods(self) -> tuple[PodFacts, ...]:
        return tuple(p for p in self.pods if p.component == "jobmanager")

    @property
    def taskmanager_pods(self) -> tuple[PodFacts, ...]:
        return tuple(p for p in self.pods if p.component == "taskmanager")

    @property
    def cluster_present(self) -> bool:
        return self.deployment is not None or bool(self.jobmanager_pods)


# -- time helpers ---------------------------------------------------------------------------------------------

_ISO_DURATION = re.compile(r"^PT(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?$")


def from_epoch_ms(value: object) -> datetime | None:
    """Flink REST timestamps are epoch milliseconds; 0 and -1 mean "never"."""
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        return None
    return datetime.fromtimestamp(value / 1000, tz=UTC)


def parse_k8s_time(value: object) -> datetime | None:
    """RFC 3339 (`2026-11-29T16:45:02Z`, any fraction digits) or Jackson epoch seconds (`1795970702.5`)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), tz=UTC)
    if not isinstance(value, str) or not value:
        return None
    text = re.sub(r"\.(\d{6})\d+", r".\1", value.strip())  # nanoseconds -> microseconds
    parsed = datetime.fromisoformat(text.replace("z", "Z"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_lease_duration(value: object) -> timedelta | None:
    """fabric8 writes `"PT15S"` (Flink 2.x) or `15.000000000` seconds (Flink 1.15's Jackson)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=float(value))
    if isinstance(value, str):
        match = _ISO_DURATION.match(value.strip().upper())
        if match and any(match.groups()):
            h, m, s = (float(g or 0) for g in match.groups())
            return timedelta(hours=h, minutes=m, seconds=s)
        try:
            return timedelta(seconds=float(value))
        except ValueError:
            return None
    return None


# -- Kubernetes objects ---------------------------------------------------------------------------------------

def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def parse_deployment(obj: Mapping[str, Any] | None) -> DeploymentFacts | None:
    """apps/v1 Deployment of the JobManager (`<cluster-id>`); None stays None (not found)."""
    if not obj:
        return None
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    main = next((c for c in containers if c.get("name") == "flink-main-container"), containers[0] if containers else {})
    return DeploymentFacts(
        name=_meta(obj).get("name", ""),
        replicas=int(spec.get("replicas", 1) or 0),
        available_replicas=int(status.get("availableReplicas") or 0),
        ready_replicas=int(status.get("readyReplicas") or 0),
        image=main.get("image"),
        deleting=bool(_meta(obj).get("deletionTimestamp")),
    )


def parse_pod(obj: Mapping[str, Any]) -> PodFacts:
    """v1 Pod: phase, Ready condition, restarts and the last termination of its containers."""
    status = obj.get("status") or {}
    conditions = status.get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    statuses = status.get("containerStatuses") or []
    reason = exit_code = waiting = None
    for cs in sorted(statuses, key=lambda c: c.get("name") != "flink-main-container"):
        state, last = cs.get("state") or {}, cs.get("lastState") or {}
        term = state.get("terminated") or last.get("terminated")
        if term and reason is None:
            reason, exit_code = term.get("reason"), term.get("exitCode")
        if (state.get("waiting") or {}).get("reason") and waiting is None:
            waiting = state["waiting"]["reason"]
    return PodFacts(
        name=_meta(obj).get("name", ""),
        component=(_meta(obj).get("labels") or {}).get("component"),
        phase=status.get("phase", "Unknown"),
        ready=ready,
        restarts=sum(int(cs.get("restartCount") or 0) for cs in statuses),
        last_termination_reason=reason,
        last_exit_code=exit_code,
        waiting_reason=waiting,
        deleting=bool(_meta(obj).get("deletionTimestamp")),
    )


def parse_pods(objs: Iterable[Mapping[str, Any]]) -> tuple[PodFacts, ...]:
    return tuple(sorted((parse_pod(o) for o in objs), key=lambda p: p.name))


def is_ha_config_map(cluster_id: str, name: str) -> bool:
    """`<id>-cluster-config-map`, `<id>-<jobid>-config-map` (1.15+) or `<id>-…-leader` (≤ 1.14)."""
    cid = re.escape(cluster_id)
    return bool(
        name == f"{cluster_id}-cluster-config-map"
        or re.fullmatch(cid + r"-[0-9a-f]{32}-config-map", name)
        or re.fullmatch(cid + r"-(?:dispatcher|resourcemanager|restserver|[0-9a-f]{32}-jobmanager)-leader", name)
    )


def decode_state_handle(value: str) -> tuple[str | None, bool]:
    """(completedCheckpoint path, marked for deletion) from a base64 Java-serialized HA state handle.

    Flink stores `StateHandleWithDeleteMarker(RetrievableStreamStateHandle(FileStateHandle(Path)))`; the
    path is a length-prefixed Java string (TC_STRING 0x74). Best effort: (None, False) if unreadable.
    """
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None, False
    marked = False
    at = raw.find(b"StateHandleWithDeleteMarker")
    if at >= 0:
        end = raw.find(b"xp", at)  # end of the class descriptor; the boolean field value follows
        marked = end >= 0 and raw[end + 2 : end + 3] == b"\x01"
    for pos in (m.start() for m in re.finditer(rb"t", raw)):
        length = int.from_bytes(raw[pos + 1 : pos + 3], "big")
        chunk = raw[pos + 3 : pos + 3 + length]
        if len(chunk) == length and b"completedCheckpoint" in chunk and b"/" in chunk:
            try:
                return chunk.decode("utf-8"), marked
            except UnicodeDecodeError:
                continue
    return None, marked


def _leader_record(annotations: Mapping[str, Any]) -> dict[str, Any]:
    text = annotations.get(LEADER_ANNOTATION)
    if not text:
        return {}
    try:
        record = json.loads(text)
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}


def parse_ha_config_maps(cluster_id: str, objs: Iterable[Mapping[str, Any]]) -> HaFacts:
    """Fold every HA ConfigMap of `cluster_id` into one HaFacts; other ConfigMaps are ignored."""
    names: list[str] = []
    record: dict[str, Any] = {}
    addresses: dict[str, str] = {}
    graphs: list[str] = []
    counters: list[int] = []
    checkpoints: list[tuple[int, str | None]] = []
    for obj in objs:
        name = _meta(obj).get("name", "")
        if not is_ha_config_map(cluster_id, name):
            continue
        names.append(name)
        data = obj.get("data") or {}
        leader = _leader_record(_meta(obj).get("annotations") or {})
        if leader and (name.endswith("-cluster-config-map") or name.endswith("-dispatcher-leader") or not record):
            record = leader
        for key, value in data.items():
            if key.startswith(LEADER_KEY_PREFIX) and value:
                addresses[key[len(LEADER_KEY_PREFIX) :]] = value.split(",", 1)[-1]
            elif key == "address" and name.endswith("-leader") and value:  # ≤ 1.14 per-component maps
                addresses[name[len(cluster_id) + 1 : -len("-leader")]] = value
            elif key.startswith(JOB_GRAPH_PREFIXES):
                graphs.append(key)
            elif key == COUNTER_KEY and str(value).strip().lstrip("-").isdigit():
                counters.append(int(value))
            elif key.startswith(CHECKPOINT_KEY_PREFIX) and key[len(CHECKPOINT_KEY_PREFIX) :].isdigit():
                pointer, marked = decode_state_handle(value or "")
                if not marked:
                    checkpoints.append((int(key[len(CHECKPOINT_KEY_PREFIX) :]), pointer))
    latest = max(checkpoints, default=None, key=lambda c: c[0])
    return HaFacts(
        config_maps=tuple(sorted(names)),
        leader_holder=record.get("holderIdentity") or None,
        leader_renew_time=parse_k8s_time(record.get("renewTime")),
        lease_duration=parse_lease_duration(record.get("leaseDuration")),
        leader_addresses=dict(sorted(addresses.items())),
        job_graph_keys=tuple(sorted(graphs)),
        checkpoint_counter=max(counters, default=None),
        latest_checkpoint_id=latest[0] if latest else None,
        latest_checkpoint_pointer=latest[1] if latest else None,
    )


# -- Flink REST bodies ----------------------------------------------------------------------------------------

def parse_metrics(body: Sequence[Mapping[str, Any]] | None) -> dict[str, Any]:
    """`/jobs/<id>/metrics?get=…` -> {id: value}."""
    return {m["id"]: m.get("value") for m in body or () if "id" in m}


def _int_or_none(value: Any) -> int | None:
    try:
        return int(float(value))  # metric values are strings such as "3"
    except (TypeError, ValueError):
        return None


def parse_jobs_overview(body: Mapping[str, Any]) -> tuple[JobFacts, ...]:
    """`/jobs/overview` -> one JobFacts per job (no restart counts there)."""
    return tuple(
        JobFacts(job_id=j["jid"], name=j.get("name", ""), state=j.get("state", "UNKNOWN"),
                 start_time=from_epoch_ms(j.get("start-time")))
        for j in body.get("jobs") or ()
    )


def parse_job_details(body: Mapping[str, Any], metrics: Sequence[Mapping[str, Any]] | None = None) -> JobFacts:
    """`/jobs/<id>` (+ optional `numRestarts`/`fullRestarts` metrics body) -> JobFacts."""
    values = parse_metrics(metrics)
    restarts = _int_or_none(values.get("numRestarts", values.get("fullRestarts")))
    return JobFacts(
        job_id=body["jid"], name=body.get("name", ""), state=body.get("state", "UNKNOWN"),
        start_time=from_epoch_ms(body.get("start-time")), restarts=restarts,
        last_restart_time=from_epoch_ms((body.get("timestamps") or {}).get("RESTARTING")),
    )


def parse_checkpoints(stats: Mapping[str, Any] | None, config: Mapping[str, Any] | None) -> CheckpointFacts:
    """`/jobs/<id>/checkpoints` + `/jobs/<id>/checkpoints/config` (None when the handler answered 404)."""
    config, stats = config or {}, stats or {}
    interval_ms: Any = config.get("interval")  # JSON: int when checkpointing is on
    enabled = isinstance(interval_ms, int) and 0 < interval_ms < _NO_CHECKPOINTING
    ext = config.get("externalization") or {}
    latest = stats.get("latest") or {}
    completed, failed, savepoint = (latest.get(k) or {} for k in ("completed", "failed", "savepoint"))
    counts = stats.get("counts") or {}
    timeout_ms = config.get("timeout")
    return CheckpointFacts(
        interval=timedelta(milliseconds=interval_ms) if enabled else None,
        timeout=timedelta(milliseconds=timeout_ms) if isinstance(timeout_ms, int) and timeout_ms > 0 else None,
        tolerable_failures=int(config.get("tolerable_failed_checkpoints") or 0),
        externalized=bool(ext.get("enabled")),
        retained_on_cancel=bool(ext.get("enabled")) and not ext.get("delete_on_cancellation", True),
        completed_count=int(counts.get("completed") or 0),
        failed_count=int(counts.get("failed") or 0),
        latest_completed_id=completed.get("id"),
        latest_completed_time=from_epoch_ms(completed.get("latest_ack_timestamp"))
        or from_epoch_ms(completed.get("trigger_timestamp")),
        latest_completed_path=completed.get("external_path"),
        latest_failed_time=from_epoch_ms(failed.get("failure_timestamp")),
        latest_failed_message=failed.get("failure_message"),
        latest_savepoint_path=savepoint.get("external_path"),
    )
