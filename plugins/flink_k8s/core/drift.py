"""Drift: what the catalogue renders for a job vs what its cluster runs (pure, no I/O).

Why: a hand-edited Deployment (`kubectl set image`), a ConfigMap patched in place or a redeploy with a
form override leave a cluster that no longer matches its catalogue entry, and nothing says so until the
next redeploy silently "reverts" it. `diff(desired_state(...), running_state(...))` names every key that
differs, with both values.

What is compared (and only this — a key the catalogue does not set comes from the Flink client's own
`conf/config.yaml`, which the catalogue does not own):
- every Flink configuration key the catalogue renders (`flink_config.render_config`) plus the keys the CLI
  flags become (`parallelism.default`, `pipeline.jars`, `$internal.application.main|program-args`), against
  the `config.yaml` / `flink-conf.yaml` Flink wrote into ConfigMap `flink-config-<cluster id>`;
- the JobManager Deployment: `deployment.image`, `.replicas`, and — where the catalogue sets their source
  key — `.image-pull-policy`, `.service-account`, `.node-selector`, `.cpu-requests|limits`,
  `.memory-requests|limits`.

Keys Flink legitimately rewrites at deploy time are never reported: `IGNORED_KEYS` / `IGNORED_PREFIXES`
(addresses, bind hosts, ports it assigns, per-submission result-store paths, restore paths, `$internal.*`
other than the two application keys). Values are compared by meaning where Flink accepts several
spellings: numbers (`1` = `1.0`), memory sizes (`1g` = `1024m`), durations (`60s` = `1min`), Kubernetes
quantities (`500m` = `0.5`, `1Gi` = `1024Mi`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any

from flink_k8s.core import flink_versions as fv
from flink_k8s.core.catalogue_schema import JobSpec
from flink_k8s.core.flink_config import render_config
from flink_k8s.core.jobs_view import release_of
from flink_k8s.core.memory_size import parse_memory_size
from flink_k8s.core.references import RELEASE_PLACEHOLDER

CONF_FILES = ("config.yaml", "flink-conf.yaml")  # Flink 2.x (nested YAML) / 1.x (flat `key: value`)
MAIN_CONTAINER = "flink-main-container"
MISSING = "(absent)"

# Keys Flink (or the runner) sets or rewrites on every deployment: comparing them would report drift for
# every healthy cluster. Exact keys, then prefixes. `$internal.application.*` is compared (see _COMPARED).
IGNORED_KEYS = frozenset({
    "kubernetes.config.file",  # the submitter's kubeconfig; Flink removes it from the ConfigMap
    "execution.target", "execution.attached", "execution.shutdown-on-attached-exit",
    "jobmanager.rpc.address", "jobmanager.rpc.port", "jobmanager.bind-host",
    "rest.address", "rest.bind-address", "rest.port", "rest.bind-port",
    "blob.server.port", "taskmanager.rpc.port", "taskmanager.host", "taskmanager.bind-host",
    "high-availability.cluster-id", "high-availability.jobmanager.port",
    "job-result-store.storage-path", "application-result-store.storage-path",  # one per submission
})
IGNORED_PREFIXES = (
    "$internal.", "internal.", "kubernetes.internal.",
    "execution.savepoint.", "execution.state-recovery.", "execution.savepoint-restore-mode",
)
_COMPARED_INTERNAL = frozenset({"$internal.application.main", "$internal.application.program-args"})
LIST_KEYS = frozenset({"pipeline.jars", "pipeline.classpaths", "$internal.application.program-args"})


# Values of keys that hold credentials are compared but never shown (Flink's own sensitive-key words + a few).
SECRET_KEY = re.compile(r"(?i)password|passwd|secret|token|api-?_?key|access-?_?key|credential|auth-params|"
                        r"basic-auth|jaas\.config|http-headers|private-key|account\.key|service-key")
MASK = "***"


def shown(key: str, value: str) -> str:
    """The value as logs, the CLI and the approval prompt may show it."""
    return MASK if value != MISSING and SECRET_KEY.search(key) else value


def ignored(key: str) -> bool:
    """Whether `key` is one Flink rewrites at deploy time (never reported as drift)."""
    if key in _COMPARED_INTERNAL:
        return False
    return key in IGNORED_KEYS or key.startswith(IGNORED_PREFIXES)


class DriftStatus(Enum):
    IN_SYNC = "IN_SYNC"
    DRIFTED = "DRIFTED"
    NOT_DEPLOYED = "NOT_DEPLOYED"


@dataclass(frozen=True)
class Difference:
    key: str
    expected: str  # what the catalogue renders (MISSING: it sets nothing there)
    running: str  # what the cluster runs (MISSING: absent there)


@dataclass(frozen=True)
class DesiredState:
    """What the catalogue renders for one job at one release (+ optional parallelism override)."""

    cluster_id: str
    release: str | None
    config: Mapping[str, str]
    deployment: Mapping[str, str]
    release_source: str = "given"  # "given" | "configmap" | "deployment" | "none" (see infer_release)


@dataclass(frozen=True)
class RunningState:
    """One snapshot of what the cluster runs, from its Deployment and `flink-config-<id>` ConfigMap."""

    cluster_id: str
    deployment: Mapping[str, str] | None  # None: no Deployment
    config: Mapping[str, str] | None  # None: no flink-config ConfigMap (or no config file in it)

    @property
    def deployed(self) -> bool:
        return self.deployment is not None or self.config is not None


@dataclass(frozen=True)
class DriftReport:
    cluster_id: str
    status: DriftStatus
    release: str | None  # the release the catalogue side was rendered for
    release_source: str  # "given" | "configmap" | "deployment" | "none"
    differences: tuple[Difference, ...] = ()
    compared: int = 0  # keys compared

    @property
    def drifted(self) -> bool:
        return self.status is DriftStatus.DRIFTED

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(d.key for d in self.differences)

    def to_dict(self) -> dict[str, Any]:
        return {"cluster_id": self.cluster_id, "status": self.status.value, "release": self.release,
                "release_source": self.release_source, "compared": self.compared,
                "differences": [{"key": d.key, "catalogue": d.expected, "running": d.running}
                                for d in self.differences]}


# -- the catalogue side -----------------------------------------------------------------------------------------

def desired_state(job: JobSpec, release: str | None, parallelism: int | None = None,
                  release_source: str = "given") -> DesiredState:
    """Flink keys + Deployment facts the catalogue means. With no release for a `{release}` template the
    image keys hold the template itself (so they differ from any running image, visibly)."""
    version = job.flink_version
    image_key = fv.key_for("image", version)
    unknown_release = release is None and job.image is not None and RELEASE_PLACEHOLDER in job.image
    config = dict(render_config(job, version, "0" if unknown_release else release))
    if unknown_release and job.image is not None:
        config[image_key] = job.image
    effective_parallelism = parallelism if parallelism is not None else job.parallelism
    if effective_parallelism is not None:
        config["parallelism.default"] = str(effective_parallelism)
    if job.jar_uri:
        config["pipeline.jars"] = job.jar_uri
    if job.entry_class:
        config["$internal.application.main"] = job.entry_class
    config["$internal.application.program-args"] = ";".join(job.program_args)
    return DesiredState(cluster_id=job.cluster_id or job.name, release=release, config=config,
                        deployment=_desired_deployment(config, version), release_source=release_source)


def _desired_deployment(config: Mapping[str, str], version: str) -> dict[str, str]:
    """What Flink's KubernetesJobManagerFactory makes of the config, for the keys the catalogue sets."""
    out = {"deployment.image": config[fv.key_for("image", version)],
           "deployment.replicas": config.get("kubernetes.jobmanager.replicas", "1")}
    if policy := config.get(fv.key_for("image_pull_policy", version)):
        out["deployment.image-pull-policy"] = policy
    if account := config.get(fv.key_for("service_account", version)):
        out["deployment.service-account"] = account
    if selector := config.get(fv.key_for("jobmanager.node_selector", version)):
        out["deployment.node-selector"] = _sorted_selector(selector)
    if cpu := config.get(fv.key_for("jobmanager.cpu", version)):
        factor = _decimal(config.get("kubernetes.jobmanager.cpu.limit-factor", "1")) or Decimal(1)
        amount = _decimal(cpu)
        out["deployment.cpu-requests"] = cpu
        out["deployment.cpu-limits"] = cpu if amount is None else _plain(amount * factor)
    if memory := config.get(fv.key_for("jobmanager.process_memory", version)):
        try:
            mebibytes = parse_memory_size(memory) >> 20  # Flink: MemorySize.getMebiBytes() + "Mi"
        except ValueError:
            out["deployment.memory-requests"] = memory
        else:
            factor = _decimal(config.get("kubernetes.jobmanager.memory.limit-factor", "1")) or Decimal(1)
            out["deployment.memory-requests"] = f"{mebibytes}Mi"
            out["deployment.memory-limits"] = f"{int(Decimal(mebibytes) * factor)}Mi"
    return out


def _sorted_selector(text: str) -> str:
    pairs = [p.strip() for p in text.split(",") if p.strip()]
    return ",".join(sorted(pairs))


# -- the running side -----------------------------------------------------------------------------------------

MAX_CONF_KEYS = 5000
MAX_CONF_DEPTH = 20


def running_state(cluster_id: str, deployment: Mapping[str, Any] | None,
                  config_map: Mapping[str, Any] | None) -> RunningState:
    """Parse the raw Deployment and ConfigMap JSON (as the API server serves them)."""
    return RunningState(cluster_id=cluster_id,
                        deployment=None if deployment is None else _deployment_facts(deployment),
                        config=None if config_map is None else parse_config_map(config_map))


def _deployment_facts(dep: Mapping[str, Any]) -> dict[str, str]:
    spec = dep.get("spec") or {}
    pod = (spec.get("template") or {}).get("spec") or {}
    containers = pod.get("containers") or [{}]
    main = next((c for c in containers if c.get("name") == MAIN_CONTAINER), containers[0])
    resources = main.get("resources") or {}
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    facts = {
        "deployment.image": main.get("image"),
        "deployment.replicas": spec.get("replicas", 1),
        "deployment.image-pull-policy": main.get("imagePullPolicy"),
        "deployment.service-account": pod.get("serviceAccountName") or "default",
        "deployment.node-selector": ",".join(f"{k}:{v}" for k, v in sorted((pod.get("nodeSelector") or {}).items())),
        "deployment.cpu-requests": requests.get("cpu"),
        "deployment.cpu-limits": limits.get("cpu"),
        "deployment.memory-requests": requests.get("memory"),
        "deployment.memory-limits": limits.get("memory"),
    }
    return {k: str(v) for k, v in facts.items() if v is not None and v != ""}


def parse_config_map(config_map: Mapping[str, Any]) -> dict[str, str] | None:
    """Flat Flink keys of `flink-config-<id>` (`config.yaml` nested YAML, or 1.x `flink-conf.yaml`).

    None when the ConfigMap holds neither file. Raises ValueError on a file that is not a configuration.
    """
    data = config_map.get("data") or {}
    if "config.yaml" in data:
        import yaml

        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        try:
            tree = yaml.load(data["config.yaml"], Loader=loader)  # noqa: S506 - a safe loader
        except yaml.YAMLError as exc:
            raise ValueError(f"config.yaml of the ConfigMap is not YAML: {str(exc).splitlines()[0]}") from None
        if tree is None:
            return {}
        if not isinstance(tree, dict):
            raise ValueError("config.yaml of the ConfigMap is not a mapping of keys")
        flat: dict[str, str] = {}
        _flatten(tree, "", flat, 0)
        return flat
    if "flink-conf.yaml" in data:
        flat = {}
        for line in str(data["flink-conf.yaml"]).splitlines():
            line = line.strip()
            if line and not line.startswith("#") and ":" in line:
                key, value = line.split(":", 1)
                flat[key.strip()] = value.strip()
        return flat
    return None


def _flatten(tree: Mapping[Any, Any], prefix: str, out: dict[str, str], depth: int) -> None:
    """Nested YAML -> `a.b.c` keys with Flink's string forms (lists joined by ';'); bounded in size."""
    if depth > MAX_CONF_DEPTH:
        raise ValueError(f"config.yaml nests deeper than {MAX_CONF_DEPTH} levels")
    for key, value in tree.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict):
            _flatten(value, f"{full}.", out, depth + 1)
            continue
        if len(out) >= MAX_CONF_KEYS:
            raise ValueError(f"config.yaml has more than {MAX_CONF_KEYS} keys")
        if isinstance(value, list):
            out[full] = ";".join(_scalar(v) for v in value)
        else:
            out[full] = _scalar(value)


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def infer_release(job: JobSpec, running: RunningState, given: str | None = None) -> tuple[str | None, str]:
    """The release to render the catalogue side for, and where it came from.

    An explicit release wins; else the image Flink was submitted with (the ConfigMap's image key: what the
    product deployed, unchanged by a hand-edit of the Deployment), else the Deployment's image.
    """
    if given is not None:
        return given, "given"
    key = fv.key_for("image", job.flink_version)
    for source, image in (("configmap", (running.config or {}).get(key)),
                          ("deployment", (running.deployment or {}).get("deployment.image"))):
        found = release_of(job.image, image)
        if found is not None:
            return found, source
    return None, "none"


# -- the comparison -------------------------------------------------------------------------------------------

def diff(desired: DesiredState, running: RunningState) -> DriftReport:
    """Every compared key whose values differ by meaning, sorted by key (pure)."""
    release_source = desired.release_source
    if not running.deployed:
        return DriftReport(desired.cluster_id, DriftStatus.NOT_DEPLOYED, desired.release, release_source)
    differences: list[Difference] = []
    compared = 0
    if running.config is None:
        differences.append(Difference(f"configmap flink-config-{desired.cluster_id}", "present", MISSING))
    else:
        for key, expected in desired.config.items():
            if ignored(key):
                continue
            compared += 1
            actual = running.config.get(key)
            if actual is None and key in LIST_KEYS and expected == "":
                continue  # no program arguments: Flink writes no key
            if actual is None or not same_value(key, expected, actual):
                differences.append(Difference(key, shown(key, expected), MISSING if actual is None else shown(key, actual)))
    if running.deployment is None:
        differences.append(Difference(f"deployment {desired.cluster_id}", "present", MISSING))
    else:
        for key, expected in desired.deployment.items():
            compared += 1
            actual = running.deployment.get(key)
            if actual is None or not same_value(key, expected, actual):
                differences.append(Difference(key, expected, MISSING if actual is None else actual))
    status = DriftStatus.DRIFTED if differences else DriftStatus.IN_SYNC
    return DriftReport(desired.cluster_id, status, desired.release, release_source,
                       tuple(sorted(differences, key=lambda d: d.key)), compared)


def same_value(key: str, expected: str, actual: str) -> bool:
    """Equal by meaning for the kinds of value Flink and Kubernetes spell several ways."""
    if expected == actual:
        return True
    if key.startswith("deployment.") and ("cpu" in key or "memory" in key):
        a, b = quantity(expected), quantity(actual)
        return a is not None and a == b
    if key in LIST_KEYS:
        return [p.strip() for p in expected.split(";")] == [p.strip() for p in actual.split(";")]
    if key.endswith(".size") or (".memory." in key and key.endswith((".min", ".max"))):
        try:
            return parse_memory_size(expected) == parse_memory_size(actual)
        except ValueError:
            return False
    a_dur, b_dur = duration_ms(expected), duration_ms(actual)
    if a_dur is not None and b_dur is not None and not (_is_number(expected) and _is_number(actual)):
        return a_dur == b_dur
    a_num, b_num = _decimal(expected), _decimal(actual)
    return a_num is not None and a_num == b_num


_QUANTITY = re.compile(r"([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?")
_QUANTITY_FACTORS: dict[str | None, int | Decimal] = {None: 1, "m": Decimal("0.001"), "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
                     "P": 10**15, "E": 10**18, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
                     "Pi": 2**50, "Ei": 2**60}


def quantity(text: str) -> Decimal | None:
    """A Kubernetes quantity (`500m`, `0.5`, `1Gi`, `1024Mi`) as a number; None when it is not one."""
    match = _QUANTITY.fullmatch(text.strip())
    if not match:
        return None
    return Decimal(match.group(1)) * _QUANTITY_FACTORS[match.group(2)]


_DURATION = re.compile(r"([0-9]+)\s*([a-z]*)")
_DURATION_MS = {"": 1, "ms": 1, "milli": 1, "millis": 1, "millisecond": 1, "milliseconds": 1,
                "s": 1000, "sec": 1000, "secs": 1000, "second": 1000, "seconds": 1000,
                "min": 60_000, "m": 60_000, "minute": 60_000, "minutes": 60_000,
                "h": 3_600_000, "hour": 3_600_000, "hours": 3_600_000, "d": 86_400_000, "day": 86_400_000,
                "days": 86_400_000}


def duration_ms(text: str) -> int | None:
    """Flink's TimeUtils.parseDuration spellings (a bare number is milliseconds); None if not a duration."""
    match = _DURATION.fullmatch(text.strip().lower())
    if not match or match.group(2) not in _DURATION_MS:
        return None
    return int(match.group(1)) * _DURATION_MS[match.group(2)]


def _decimal(text: str) -> Decimal | None:
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, AttributeError):
        return None
    return value if value.is_finite() else None


def _is_number(text: str) -> bool:
    return _decimal(text) is not None


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f")


def render_report(job_name: str, report: DriftReport) -> str:
    """Human-readable: one line per differing key with both values."""
    where = f"{job_name} (cluster {report.cluster_id}"
    where += f", release {report.release} from {report.release_source})" if report.release else ")"
    if report.status is DriftStatus.NOT_DEPLOYED:
        return f"{where}: NOT DEPLOYED (no Deployment and no flink-config ConfigMap)"
    if report.status is DriftStatus.IN_SYNC:
        return f"{where}: IN SYNC ({report.compared} keys compared)"
    width = max(len(d.key) for d in report.differences)
    lines = [f"{where}: DRIFTED in {len(report.differences)} of {report.compared} keys"]
    lines += [f"  {d.key.ljust(width)}  catalogue: {d.expected}  running: {d.running}" for d in report.differences]
    return "\n".join(lines)


# -- the monitor's finding ---------------------------------------------------------------------------------------

CHECK_FAILED = "CHECK_FAILED"


def findings(checked: Mapping[str, DriftReport | str]) -> dict[str, dict[str, Any]]:
    """{job: {verdict, keys, differences[, error]}} — the health monitor's drift finding, JSON-ready.

    Verdicts: IN_SYNC | DRIFTED | NOT_DEPLOYED (the health verdict already says MISSING) | CHECK_FAILED
    (the cluster could not be read: `error` says why).
    """
    out: dict[str, dict[str, Any]] = {}
    for name, report in checked.items():
        if isinstance(report, str):
            out[name] = {"verdict": CHECK_FAILED, "keys": [], "differences": [], "error": report}
        else:
            out[name] = {"verdict": report.status.value, "keys": list(report.keys),
                         "differences": report.to_dict()["differences"], "release": report.release}
    return out


def render_findings(found: Mapping[str, Mapping[str, Any]]) -> str:
    """One line per job, then one indented line per differing key with both values (for task logs)."""
    lines = []
    for name, f in found.items():
        detail = f.get("error") or (", ".join(f["keys"]) if f["keys"] else "")
        lines.append(f"{name}: {f['verdict']}" + (f" ({detail})" if detail else ""))
        lines += [f"    {d['key']}: catalogue {d['catalogue']} | running {d['running']}" for d in f["differences"]]
    return "\n".join(lines) if lines else "(no streaming jobs)"
