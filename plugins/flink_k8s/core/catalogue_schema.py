"""The catalogue's typed model: one frozen dataclass per block; each field carries its checker and doc.

The field list *is* the schema: unknown-key detection, "did you mean" suggestions, validation and
docs/catalogue.md all read it, so there is one place to add a setting.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from typing import Any

from flink_k8s.core import references as r
from flink_k8s.core import schedules
from flink_k8s.core import validation as v
from flink_k8s.core.flink_versions import DEFAULT_VERSION, SUPPORTED_VERSIONS
from flink_k8s.core.validation import Invalid


def _enum(*choices: str) -> Callable[[object], str]:
    def check(value: object) -> str:
        if value not in choices:
            raise Invalid(f"must be one of {', '.join(choices)}")
        return v.argv_safe(value)

    check.choices = choices  # type: ignore[attr-defined]
    return check


def _flink_version(value: object) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise Invalid(f"quote the version (YAML reads {value!r} as a number); supported: {', '.join(SUPPORTED_VERSIONS)}")
    if value not in SUPPORTED_VERSIONS:
        raise Invalid(f"unsupported Flink version; supported: {', '.join(SUPPORTED_VERSIONS)}")
    return str(value)


def _program_args(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise Invalid("must be a list of strings")
    if len(value) > 256:
        raise Invalid("at most 256 program arguments")
    out = []
    for index, item in enumerate(value):
        if isinstance(item, int | float) and not isinstance(item, bool):
            item = str(item)
        try:
            # after the jar Flink's parser stops reading options, so '--input x' style args are safe
            out.append(v.argv_safe(item, allow_leading_dash=True))
        except Invalid as exc:
            raise Invalid(f"argument {index}: {exc}") from None
    return tuple(out)


def _conf_mapping(value: object) -> dict[str, str]:
    """Shape only; key rules and collisions are checked by the catalogue (they need context)."""
    if not isinstance(value, dict):
        raise Invalid("must be a mapping of Flink configuration key to value")
    if len(value) > 512:
        raise Invalid("at most 512 keys")
    return value


def spec(check: Callable[[object], Any] | None, doc: str, default: Any = None, only: str | None = None) -> Any:
    """A schema field: `check` converts/validates, `only` restricts it to one job kind."""
    return field(default=default, metadata={"check": check, "doc": doc, "only": only})


def block(cls: type, doc: str, only: str | None = None) -> Any:
    return field(default_factory=cls, metadata={"check": None, "doc": doc, "only": only})


@dataclass(frozen=True)
class JobManagerSpec:
    cpu: float | None = spec(v.cpu, "CPU cores for the JobManager pod (Flink default 1.0).")
    process_memory: str | None = spec(v.memory_size, "jobmanager.memory.process.size, e.g. 1600m.")
    jvm_direct_memory_limit: bool | None = spec(v.boolean, "jobmanager.memory.enable-jvm-direct-memory-limit.")
    node_selector: dict[str, str] | None = spec(v.node_selector, "Labels the JobManager pod must be scheduled on.")


@dataclass(frozen=True)
class TaskManagerSpec:
    cpu: float | None = spec(v.cpu, "CPU cores per TaskManager pod (Flink default: number of slots).")
    slots: int | None = spec(lambda x: v.positive_int(x, 1024), "taskmanager.numberOfTaskSlots.")
    process_memory: str | None = spec(v.memory_size, "taskmanager.memory.process.size, e.g. 4096m.")
    managed_fraction: float | None = spec(v.fraction, "taskmanager.memory.managed.fraction, in [0, 1).")
    network_fraction: float | None = spec(v.fraction, "taskmanager.memory.network.fraction, in [0, 1).")
    jvm_overhead_fraction: float | None = spec(v.fraction, "taskmanager.memory.jvm-overhead.fraction, in [0, 1).")
    node_selector: dict[str, str] | None = spec(v.node_selector, "Labels the TaskManager pods must be scheduled on.")


@dataclass(frozen=True)
class HighAvailabilitySpec:
    enabled: bool = spec(v.boolean, "Kubernetes HA services (leader election + job graph/checkpoint pointers in ConfigMaps).", False)
    storage_dir: str | None = spec(r.storage_uri, "high-availability.storageDir, e.g. hdfs://datacluster/flink/recovery.")


RESTART_TYPES = ("none", "fixed-delay", "failure-rate", "exponential-delay")


@dataclass(frozen=True)
class RestartStrategySpec:
    type: str | None = spec(_enum(*RESTART_TYPES), "Restart strategy.")
    attempts: int | None = spec(lambda x: v.positive_int(x, 1_000_000), "fixed-delay: attempts before the job fails.")
    delay: str | None = spec(v.duration, "fixed-delay: delay between attempts, e.g. 10s.")
    max_failures_per_interval: int | None = spec(v.positive_int, "failure-rate: failures allowed per interval.")
    failure_rate_interval: str | None = spec(v.duration, "failure-rate: measuring interval, e.g. 5min.")
    failure_rate_delay: str | None = spec(v.duration, "failure-rate: delay between attempts.")
    initial_backoff: str | None = spec(v.duration, "exponential-delay: first backoff.")
    max_backoff: str | None = spec(v.duration, "exponential-delay: largest backoff.")


RESTART_FIELDS = {
    "fixed-delay": {"attempts", "delay"},
    "failure-rate": {"max_failures_per_interval", "failure_rate_interval", "failure_rate_delay"},
    "exponential-delay": {"initial_backoff", "max_backoff"},
    "none": set(),
}


@dataclass(frozen=True)
class PushgatewaySpec:
    enabled: bool = spec(v.boolean, "Push JobManager/TaskManager metrics to a Prometheus Pushgateway.", True)
    url: str | None = spec(r.http_url, "Pushgateway base URL (hostUrl), e.g. http://192.168.0.1:9091.")
    job_name: str | None = spec(v.pushgateway_job_name, "jobName (grouping key `job`).")
    delete_on_shutdown: bool | None = spec(v.boolean, "deleteOnShutdown.")
    random_job_name_suffix: bool | None = spec(v.boolean, "randomJobNameSuffix (one group per process).")
    interval: str | None = spec(v.duration, "Push interval with a unit, e.g. 60s (a bare number is milliseconds to Flink).")


@dataclass(frozen=True)
class RestServiceSpec:
    exposed_type: str | None = spec(_enum("ClusterIP", "NodePort", "LoadBalancer", "Headless_ClusterIP"), "kubernetes.rest-service.exposed.type.")
    node_port_address_type: str | None = spec(_enum("InternalIP", "ExternalIP"), "kubernetes.rest-service.exposed.node-port-address-type.")


@dataclass(frozen=True)
class CheckpointingSpec:
    dir: str | None = spec(r.storage_uri, "Checkpoint directory (state.checkpoints.dir / execution.checkpointing.dir).")
    interval: str | None = spec(v.duration, "execution.checkpointing.interval; unset = no periodic checkpoints.")
    timeout: str | None = spec(v.duration, "execution.checkpointing.timeout (Flink default 10min).")
    tolerable_failures: int | None = spec(v.non_negative_int, "execution.checkpointing.tolerable-failed-checkpoints (Flink default 0).")


@dataclass(frozen=True)
class HealthSpec:
    max_restarts: int = spec(v.non_negative_int, "Unhealthy when the job restarted more than this within restarts_window (Flink K8s Operator default 64).", 64)
    restarts_window: str = spec(v.duration, "Window for max_restarts (Operator default 2min).", "2min")
    checkpoint_max_age: str | None = spec(
        v.duration,
        "Unhealthy when the last completed checkpoint is older; default max(interval, timeout) x (tolerable_failures + 2) like the Operator; none without checkpointing.",
    )
    leader_lease_max_age: str = spec(v.duration, "Unhealthy when the HA leader annotation's renewTime is older (4 x Flink's 15s lease duration).", "60s")


@dataclass(frozen=True)
class RollbackSpec:
    enabled: bool = spec(v.boolean, "Roll back automatically when a redeployed release is not HEALTHY within healthy_within: the previous release is restored from the savepoint taken before the upgrade (the new release's state is discarded). Off by default, like the Flink Kubernetes Operator.", False)
    healthy_within: str = spec(lambda x: _rollback_window(x), "How long a new release has to become HEALTHY (bounds the redeploy's waits after its submit, then the healthy task); 10s to 24h.", "5min")
    allow_state_loss: bool = spec(v.boolean, "Allow a rollback without a pre-upgrade savepoint (stateless or last-state redeploys): the previous release then starts with EMPTY state. Required for rollback on upgrade_mode stateless.", False)


def _rollback_window(value: object) -> str:
    text = v.duration(value)
    if not 10 <= v.duration_seconds(text) <= 24 * 3600:
        raise Invalid("must be between 10s and 24h")
    return text


@dataclass(frozen=True)
class JobSpec:
    name: str = spec(None, "The job's key under `jobs:` (set by the loader).", "")
    kind: str | None = spec(_enum("batch", "streaming"), "batch (scheduled DAG) or streaming (long-running, redeployed on demand).")
    description: str | None = spec(lambda x: _description(x), "Free text for humans; never reaches the command line.")
    flink_version: str = spec(_flink_version, f"Flink minor version the image runs: {', '.join(SUPPORTED_VERSIONS)}.", DEFAULT_VERSION)
    kubernetes_conn_id: str = spec(v.conn_id, "Airflow connection of type kubernetes used to reach the cluster.", "kubernetes_default")
    cluster_id: str | None = spec(v.cluster_id, "kubernetes.cluster-id (DNS-1035, <= 45 chars); defaults to the job name.")
    namespace: str = spec(v.dns1123_label, "kubernetes.namespace.", "default")
    service_account: str | None = spec(v.dns1123_subdomain, "kubernetes.service-account.")
    image: str | None = spec(r.image_template, "Container image; '{release}' is replaced by the release at submit time.")
    image_pull_policy: str | None = spec(_enum("IfNotPresent", "Always", "Never"), "kubernetes.container.image.pull-policy.")
    parallelism: int | None = spec(lambda x: v.positive_int(x, 32768), "Default parallelism (--parallelism).")
    jobmanager: JobManagerSpec = block(JobManagerSpec, "JobManager resources and placement.")
    taskmanager: TaskManagerSpec = block(TaskManagerSpec, "TaskManager resources and placement.")
    fs_default_scheme: str | None = spec(r.fs_scheme, "fs.default-scheme, e.g. hdfs://datacluster.")
    hadoop_conf_dir: str | None = spec(r.absolute_path, "env.hadoop.conf.dir inside the image.")
    high_availability: HighAvailabilitySpec = block(HighAvailabilitySpec, "Kubernetes HA.")
    restart_strategy: RestartStrategySpec = block(RestartStrategySpec, "How Flink restarts failed jobs.")
    state_backend: str | None = spec(_enum("hashmap", "rocksdb"), "state.backend(.type).")
    checkpointing: CheckpointingSpec = block(CheckpointingSpec, "Checkpoint directory and cadence.")
    savepoint_dir: str | None = spec(r.storage_uri, "Where savepoints go (state.savepoints.dir / execution.checkpointing.savepoint-dir).")
    pushgateway: PushgatewaySpec | None = spec(None, "Prometheus Pushgateway reporter; leave out to disable.")
    rest_service: RestServiceSpec = block(RestServiceSpec, "How the JobManager REST service is exposed.")
    jar_uri: str | None = spec(r.jar_uri, "The job jar: local:///opt/flink/usrlib/Job.jar (in the image) or a remote URI (Flink >= 1.19).")
    entry_class: str | None = spec(v.java_class, "Main class (-c); omit when the jar manifest names it.")
    program_args: tuple[str, ...] = spec(_program_args, "Arguments for the job's main(), placed after the jar.", ())
    schedule: str | None = spec(schedules.schedule, "batch: cron expression or Airflow preset (@daily); unset = manual only.", only="batch")
    upgrade_mode: str | None = spec(
        _enum("stateless", "savepoint", "last-state"), "streaming: how a redeploy carries state.", only="streaming"
    )
    savepoints_to_keep: int = spec(lambda x: v.positive_int(x, 1000), "streaming: savepoints kept per job by cleanup.", 5, only="streaming")
    require_approval: bool = spec(v.boolean, "streaming: every redeploy waits after its plan until a person approves it in Airflow.", False, only="streaming")
    health: HealthSpec = block(HealthSpec, "streaming: thresholds of the health monitor.", only="streaming")
    rollback: RollbackSpec = block(RollbackSpec, "streaming: automatic rollback of a redeploy that is not healthy in time.", only="streaming")
    flink_conf: dict[str, str] = spec(_conf_mapping, "Any other Flink key; a key owned by a typed field is an error here.", None)
    flink_conf_overrides: dict[str, str] = spec(
        _conf_mapping, "Keys that deliberately replace what a typed field renders (must be a typed field's key).", None
    )


def _description(value: object) -> str:
    if not isinstance(value, str) or len(value) > 2000:
        raise Invalid("must be a string of at most 2000 characters")
    return value


@dataclass(frozen=True)
class FieldInfo:
    """What validation needs to know about one field, computed once per class."""

    check: Callable[[object], Any] | None
    block: type | None
    only: str | None
    doc: str


@functools.cache
def schema_of(cls: type) -> dict[str, FieldInfo]:
    """name -> FieldInfo for a schema dataclass (cached: validation runs it per job and block)."""
    table = {}
    for f in fields(cls):
        sub: type | None = None
        if cls is JobSpec and f.name == "pushgateway":
            sub = PushgatewaySpec
        elif f.default_factory is not MISSING:
            made = f.default_factory()
            sub = type(made) if is_dataclass(made) else None
        table[f.name] = FieldInfo(f.metadata.get("check"), sub, f.metadata.get("only"), f.metadata.get("doc", ""))
    return table


def field_names(cls: type) -> list[str]:
    return list(schema_of(cls))


def block_type(cls: type, name: str) -> type | None:
    """The dataclass behind a block field (None for leaf fields)."""
    info = schema_of(cls).get(name)
    return info.block if info else None


def schema_rows(cls: type = JobSpec, prefix: str = "") -> list[tuple[str, str, str]]:
    """(dotted field, default, doc) for every leaf — used by docs and tests."""
    rows = []
    for f in fields(cls):
        sub = block_type(cls, f.name)
        if sub is not None:
            rows.extend(schema_rows(sub, f"{prefix}{f.name}."))
            continue
        default = f.default if f.default is not MISSING else None
        rows.append((prefix + f.name, "" if default in (None, ()) else str(default), f.metadata.get("doc", "")))
    return rows


MERGED_MAPPINGS = frozenset({"flink_conf", "flink_conf_overrides"})
