"""Which configuration key (and value) each catalogue setting becomes in each Flink minor version.

Every row was checked against Flink itself: 1.15.2 and 2.3.0 by reflecting over the ConfigOption
fields in their flink-dist jars (key + deprecated fallback keys), the versions in between from the
apache/flink sources, pull requests and release notes named in the comments (see docs/catalogue.md).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from flink_k8s.core.errors import UnsupportedFlinkVersionError

SUPPORTED_VERSIONS: tuple[str, ...] = ("1.15", "1.16", "1.17", "1.18", "1.19", "1.20", "2.0", "2.1", "2.2", "2.3")
DEFAULT_VERSION = "2.3"


_PARSED = {text: (int(text.split(".")[0]), int(text.split(".")[1])) for text in SUPPORTED_VERSIONS}


def parse_version(version: object) -> tuple[int, int]:
    """'1.20' -> (1, 20); unsupported or malformed -> UnsupportedFlinkVersionError listing the supported."""
    if not isinstance(version, str) or version not in _PARSED:
        raise UnsupportedFlinkVersionError(version, SUPPORTED_VERSIONS)
    return _PARSED[version]


def _v(text: str) -> tuple[int, int]:
    major, minor = text.split(".")
    return int(major), int(minor)


@dataclass(frozen=True)
class KeyHistory:
    """A setting's key over time: [(first version, key), …] in ascending order, plus other aliases."""

    setting: str
    keys: tuple[tuple[str, str], ...]
    aliases: tuple[str, ...] = ()

    def key_for(self, version: str) -> str:
        wanted = parse_version(version)
        chosen = self.keys[0][1]
        for since, key in self.keys:
            if _v(since) <= wanted:
                chosen = key
        return chosen

    def all_keys(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys([k for _, k in self.keys] + list(self.aliases)))


def _same(setting: str, key: str, *aliases: str) -> KeyHistory:
    return KeyHistory(setting, (("1.15", key),), aliases)


REPORTER = "metrics.reporter.promgateway"

# setting id -> key history. Settings whose key never changed in 1.15..2.3 use _same().
KEYS: dict[str, KeyHistory] = {
    h.setting: h
    for h in (
        _same("cluster_id", "kubernetes.cluster-id"),
        _same("namespace", "kubernetes.namespace"),
        _same("service_account", "kubernetes.service-account"),
        # FLINK-29372 (PR #20867, merged 2022-09 → 1.17): keys that were prefixes of other keys got a
        # suffix; the old keys stay as deprecated fallbacks (seen in 2.3.0's ConfigOptions).
        KeyHistory("image", (("1.15", "kubernetes.container.image"), ("1.17", "kubernetes.container.image.ref"))),
        _same("image_pull_policy", "kubernetes.container.image.pull-policy"),
        KeyHistory("jobmanager.cpu", (("1.15", "kubernetes.jobmanager.cpu"), ("1.17", "kubernetes.jobmanager.cpu.amount"))),
        KeyHistory("taskmanager.cpu", (("1.15", "kubernetes.taskmanager.cpu"), ("1.17", "kubernetes.taskmanager.cpu.amount"))),
        _same("taskmanager.slots", "taskmanager.numberOfTaskSlots"),
        _same("taskmanager.process_memory", "taskmanager.memory.process.size"),
        _same("taskmanager.managed_fraction", "taskmanager.memory.managed.fraction"),
        _same("taskmanager.network_fraction", "taskmanager.memory.network.fraction", "taskmanager.network.memory.fraction"),
        _same("taskmanager.jvm_overhead_fraction", "taskmanager.memory.jvm-overhead.fraction"),
        _same("jobmanager.process_memory", "jobmanager.memory.process.size"),
        _same("jobmanager.jvm_direct_memory_limit", "jobmanager.memory.enable-jvm-direct-memory-limit"),
        _same("jobmanager.node_selector", "kubernetes.jobmanager.node-selector"),
        _same("taskmanager.node_selector", "kubernetes.taskmanager.node-selector"),
        _same("fs_default_scheme", "fs.default-scheme"),
        _same("hadoop_conf_dir", "env.hadoop.conf.dir"),
        KeyHistory("high_availability.enabled", (("1.15", "high-availability"), ("1.17", "high-availability.type")), ("recovery.mode",)),
        _same(
            "high_availability.storage_dir",
            "high-availability.storageDir",
            "high-availability.zookeeper.storageDir",
            "recovery.zookeeper.storageDir",
        ),
        KeyHistory("restart_strategy.type", (("1.15", "restart-strategy"), ("1.17", "restart-strategy.type"))),
        _same("restart_strategy.attempts", "restart-strategy.fixed-delay.attempts"),
        _same("restart_strategy.delay", "restart-strategy.fixed-delay.delay"),
        _same("restart_strategy.max_failures_per_interval", "restart-strategy.failure-rate.max-failures-per-interval"),
        _same("restart_strategy.failure_rate_interval", "restart-strategy.failure-rate.failure-rate-interval"),
        _same("restart_strategy.failure_rate_delay", "restart-strategy.failure-rate.delay"),
        _same("restart_strategy.initial_backoff", "restart-strategy.exponential-delay.initial-backoff"),
        _same("restart_strategy.max_backoff", "restart-strategy.exponential-delay.max-backoff"),
        KeyHistory("state_backend", (("1.15", "state.backend"), ("1.17", "state.backend.type"))),
        # FLINK-34255 (1.20): state/checkpointing options reorganized under execution.checkpointing.*
        KeyHistory(
            "checkpointing.dir",
            (("1.15", "state.checkpoints.dir"), ("1.20", "execution.checkpointing.dir")),
            ("state.backend.fs.checkpointdir",),
        ),
        KeyHistory(
            "savepoint_dir",
            (("1.15", "state.savepoints.dir"), ("1.20", "execution.checkpointing.savepoint-dir")),
            ("savepoints.state.backend.fs.dir",),
        ),
        _same("checkpointing.interval", "execution.checkpointing.interval"),
        _same("checkpointing.timeout", "execution.checkpointing.timeout"),
        _same("checkpointing.tolerable_failures", "execution.checkpointing.tolerable-failed-checkpoints"),
        # FLINK-27206 deprecated reporter `class` in 1.16, FLINK-24235 removed it in 1.17 (release notes
        # 1.17 "Only support reporter factories"). 1.15 keeps the seed's `class` form.
        KeyHistory("pushgateway.enabled", ((("1.15", f"{REPORTER}.class"), ("1.16", f"{REPORTER}.factory.class"))), (f"{REPORTER}.factory.class", f"{REPORTER}.class")),
        _same("pushgateway.url", f"{REPORTER}.hostUrl", f"{REPORTER}.host", f"{REPORTER}.port"),
        _same("pushgateway.job_name", f"{REPORTER}.jobName"),
        _same("pushgateway.delete_on_shutdown", f"{REPORTER}.deleteOnShutdown"),
        _same("pushgateway.random_job_name_suffix", f"{REPORTER}.randomJobNameSuffix"),
        _same("pushgateway.interval", f"{REPORTER}.interval"),
        _same("rest_service.exposed_type", "kubernetes.rest-service.exposed.type"),
        _same("rest_service.node_port_address_type", "kubernetes.rest-service.exposed.node-port-address-type"),
        _same("parallelism", "parallelism.default"),
        _same("jar_uri", "pipeline.jars"),
        _same("entry_class", "$internal.application.main"),
        _same("program_args", "$internal.application.program-args"),
    )
}

# Keys only the runner may set (through CLI flags or extra_conf); never from the catalogue.
RESERVED_KEYS: frozenset[str] = frozenset(
    {
        "execution.target",
        "execution.attached",
        "kubernetes.config.file",
        "kubernetes.cluster-id",
        "kubernetes.namespace",
        "execution.savepoint.path",
        "execution.state-recovery.path",
        "execution.savepoint.ignore-unclaimed-state",
        "execution.state-recovery.ignore-unclaimed-state",
        "execution.savepoint-restore-mode",
        "execution.state-recovery.claim-mode",
    }
)

# alias (any version) -> setting id
ALIAS_TO_SETTING: dict[str, str] = {key: h.setting for h in KEYS.values() for key in h.all_keys()}


@functools.cache
def _key_for(setting: str, version: str) -> str:
    return KEYS[setting].key_for(version)


def key_for(setting: str, version: str) -> str:
    parse_version(version)
    return _key_for(setting, version)


def ha_value(version: str) -> str:
    """`kubernetes` is accepted as HA mode from 1.16 (FLINK-27808); 1.15 needs the factory class."""
    if parse_version(version) >= (1, 16):
        return "kubernetes"
    return "org.apache.flink.kubernetes.highavailability.KubernetesHaServicesFactory"


def pushgateway_reporter_value(version: str) -> str:
    if parse_version(version) >= (1, 16):
        return "org.apache.flink.metrics.prometheus.PrometheusPushGatewayReporterFactory"
    return "org.apache.flink.metrics.prometheus.PrometheusPushGatewayReporter"


def cli_action(version: str) -> list[str]:
    """The CLI words that start an application cluster.

    1.15–1.20: `run-application --target kubernetes-application`. FLINK-35625 (PR #24948, June 2024)
    merged application mode into `run` and deprecated `run-application`; we keep `run-application`
    for 1.20 because it exists there either way. FLINK-36310 removed it in 2.0, so 2.x uses
    `run --target kubernetes-application` (checked with the 2.3.0 CLI).
    """
    if parse_version(version) >= (2, 0):
        return ["run", "--target", "kubernetes-application"]
    return ["run-application", "--target", "kubernetes-application"]


def remote_jar_schemes_supported(version: str) -> bool:
    """1.15–1.18 application mode accepts only local:// jars (KubernetesClusterDescriptor: 'Only "local"
    is supported as schema for application mode', seen in 1.15.2); 1.19 added artifact fetching
    (FLINK-28915) for DFS/HTTP jars; 2.3.0 has no such check."""
    return parse_version(version) >= (1, 19)
