"""Kubernetes view of one Flink native cluster id: read what exists, clean up HA state, wait until gone.

Objects are returned as the raw JSON the API server sends (camelCase, as `kubectl get -o json` shows), so
the pure parsers in `flink_k8s.core.observations` work on exactly what a real cluster serves. The
`kubernetes` package is imported lazily: DAG files import this package's glue, never this module at parse time.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from flink_k8s.core.observations import is_ha_config_map

if TYPE_CHECKING:  # pragma: no cover
    from kubernetes.client import ApiClient

log = logging.getLogger(__name__)
T = TypeVar("T")

FLINK_TYPE_LABEL = "type=flink-native-kubernetes"
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")
# Keys that hold a job graph in the HA cluster ConfigMap: 1.x `jobGraph-<id>`, 2.x `executionPlan-<id>`.
JOB_GRAPH_KEY = re.compile(r"^(jobGraph|executionPlan)-[0-9a-f]{32}$")


class KubeError(RuntimeError):
    """A Kubernetes API call failed for a reason retrying will not fix."""


class KubeUnavailable(KubeError):
    """The API server kept failing (5xx, timeouts, refused connections) past the retry budget."""


class KubeApiError(KubeError):
    """The API server refused a call (4xx other than the ones a method handles itself); `status` is the code.

    Replaces the client's ApiException, whose text carries the response body verbatim (a proxy or server may
    echo the request's bearer token there): the message keeps the status, reason and the API's own message,
    with the credentials this client sends masked.
    """

    def __init__(self, message: str, status: int | None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff for transient API errors (5xx, 429, connection errors)."""

    attempts: int = 4
    first_delay: float = 0.2
    max_delay: float = 2.0

    def delays(self):
        delay = self.first_delay
        for _ in range(self.attempts - 1):
            yield delay
            delay = min(delay * 2, self.max_delay)


def _is_transient(exc: BaseException) -> bool:
    status = getattr(exc, "status", None)
    if isinstance(status, int) and status:
        return status >= 500 or status == 429
    # urllib3 errors (refused, timeouts) and ApiException(status=0) from the client.
    return exc.__class__.__module__.startswith(("urllib3", "socket")) or isinstance(exc, OSError | TimeoutError)


def _status(exc: BaseException) -> int | None:
    status = getattr(exc, "status", None)
    return status if isinstance(status, int) else None


@dataclass(frozen=True)
class ProxyTarget:
    """How to reach a Service through the API server's service proxy (works from anywhere with API access)."""

    base_url: str
    headers: dict[str, str]
    verify: bool | str
    cert: tuple[str, str] | None = None

    def __repr__(self) -> str:  # never print the bearer token
        return f"ProxyTarget(base_url={self.base_url!r}, headers=<{len(self.headers)} hidden>)"


class KubeView:
    """Reads and cleans up the Kubernetes objects of Flink native clusters in one namespace."""

    def __init__(
        self,
        api_client: ApiClient,
        namespace: str,
        retry: RetryPolicy | None = None,
        request_timeout: float = 10.0,
    ) -> None:
        self.api_client = api_client
        self.namespace = namespace
        self.retry = retry or RetryPolicy()
        self.request_timeout = request_timeout
        _disable_silent_retries(api_client)

    # -- plumbing -----------------------------------------------------------------------------------------

    def _call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """`fn(*args, **kwargs)` with bounded retries of transient errors; `what` names the call in errors.

        A refusal (403 from RBAC, 409 from a stale resourceVersion, ...) becomes a KubeApiError naming the
        call and the namespace (the API's own message does not always say where, e.g. for a 409).
        `_cluster_scoped=True` for calls outside the namespace (nodes).
        """
        where = "" if kwargs.pop("_cluster_scoped", False) else f" in namespace {self.namespace!r}"
        kwargs.setdefault("_request_timeout", self.request_timeout)
        delays = self.retry.delays()
        while True:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - classified below
                if not _is_transient(exc):
                    if _status(exc) is None:
                        raise
                    raise KubeApiError(f"Kubernetes API refused {what}{where}: {self._describe(exc)}",
                                       _status(exc)) from None  # no chained ApiException: its body is verbatim
                delay = next(delays, None)
                if delay is None:
                    raise KubeUnavailable(f"Kubernetes API failed for {what} after {self.retry.attempts} "
                                          f"attempts: {self._mask(_short(exc))}") from None
                log.warning("Kubernetes API %s failed (%s); retrying in %.1fs", what, self._mask(_short(exc)), delay)
                time.sleep(delay)

    def _mask(self, text: str) -> str:
        """Remove the credentials this client sends (API key/bearer token) from text shown to people."""
        cfg = getattr(self.api_client, "configuration", None)
        for value in (getattr(cfg, "api_key", None) or {}).values():
            for secret in {value, str(value).split(" ", 1)[-1]}:
                if secret and len(secret) >= 4:
                    text = text.replace(secret, "***")
        return _BEARER.sub(r"\1***", text)

    def _describe(self, exc: BaseException) -> str:
        """`HTTP 403 Forbidden: <the API's Status message>` — never the raw body or headers."""
        status, reason = _status(exc), getattr(exc, "reason", None) or ""
        message = ""
        body = getattr(exc, "body", None)
        if body:
            try:
                data = json.loads(body)
                message = str(data.get("message") or "") if isinstance(data, dict) else ""
            except (ValueError, TypeError):
                message = ""
        text = f"HTTP {status} {reason}".strip() + (f": {message[:300]}" if message else "")
        return self._mask(text)

    def _raw(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> dict | None:
        """Call and return the response JSON; None when the object does not exist (404)."""
        try:
            resp = self._call(what, fn, *args, _preload_content=False, **kwargs)
        except Exception as exc:
            if _status(exc) == 404:
                return None
            raise
        return json.loads(resp.data or b"{}")

    @property
    def core(self):
        from kubernetes.client import CoreV1Api

        return CoreV1Api(self.api_client)

    @property
    def apps(self):
        from kubernetes.client import AppsV1Api

        return AppsV1Api(self.api_client)

    # -- reads ---------------------------------------------------------------------------------------------

    def deployment(self, cluster_id: str) -> dict | None:
        """The JobManager Deployment (named after the cluster id), or None."""
        return self._raw(f"get deployment {cluster_id}", self.apps.read_namespaced_deployment,
                         cluster_id, self.namespace)

    def pods(self, cluster_id: str) -> list[dict]:
        """JobManager and TaskManager pods of the cluster (Flink labels them app=<cluster id>)."""
        data = self._raw(f"list pods of {cluster_id}", self.core.list_namespaced_pod, self.namespace,
                         label_selector=f"app={cluster_id},{FLINK_TYPE_LABEL}")
        return (data or {}).get("items", [])

    def services(self, cluster_id: str) -> list[dict]:
        data = self._raw(f"list services of {cluster_id}", self.core.list_namespaced_service, self.namespace,
                         label_selector=f"app={cluster_id},{FLINK_TYPE_LABEL}")
        return (data or {}).get("items", [])

    def configmaps(self, cluster_id: str) -> list[dict]:
        data = self._raw(f"list configmaps of {cluster_id}", self.core.list_namespaced_config_map,
                         self.namespace, label_selector=f"app={cluster_id},{FLINK_TYPE_LABEL}")
        return (data or {}).get("items", [])

    def list_namespace(self, kind: str, label_selector: str = FLINK_TYPE_LABEL) -> list[dict]:
        """Every pod | configmap | service of the namespace matching `label_selector`, in one list call
        (the Flink page observes many clusters of one namespace with three lists instead of three per cluster)."""
        calls = {"pod": self.core.list_namespaced_pod, "configmap": self.core.list_namespaced_config_map,
                 "service": self.core.list_namespaced_service}
        if kind not in calls:
            raise ValueError(f"kind={kind!r}: expected one of {', '.join(calls)}")
        data = self._raw(f"list {kind}s ({label_selector})", calls[kind], self.namespace, label_selector=label_selector)
        return (data or {}).get("items", [])

    def ha_configmaps(self, cluster_id: str) -> list[dict]:
        """HA ConfigMaps: `<id>-cluster-config-map`, `<id>-<jobid>-config-map` (1.15+), `<id>-*-leader` (≤1.14).

        Selected by name as well as labels: Flink 2.3 does not set `configmap-type` on them, and the
        `flink-config-<id>` / `hadoop-config-<id>` maps carry the same app/type labels.
        """
        return [cm for cm in self.configmaps(cluster_id) if is_ha_config_map(cluster_id, _name(cm))]

    def configmap(self, name: str) -> dict | None:
        return self._raw(f"get configmap {name}", self.core.read_namespaced_config_map, name, self.namespace)

    def service(self, name: str) -> dict | None:
        return self._raw(f"get service {name}", self.core.read_namespaced_service, name, self.namespace)

    def node_address(self, address_type: str = "ExternalIP") -> str | None:
        """The first node address of the given type (NodePort access, as the Flink CLI does)."""
        data = self._raw("list nodes", self.core.list_node, _cluster_scoped=True) or {}
        for node in data.get("items", []):
            for addr in (node.get("status") or {}).get("addresses") or []:
                if addr.get("type") == address_type and addr.get("address"):
                    return addr["address"]
        return None

    def pod_log_tail(self, pod_name: str, lines: int = 100) -> str:
        try:
            resp = self._call(f"read log of {pod_name}", self.core.read_namespaced_pod_log, pod_name,
                              self.namespace, tail_lines=lines, _preload_content=False)
        except Exception as exc:
            if _status(exc) in (400, 404):
                return ""
            raise
        return resp.data.decode("utf-8", errors="replace")

    def cluster_exists(self, cluster_id: str) -> bool:
        """A cluster exists while its Deployment or any of its JobManager pods does."""
        if self.deployment(cluster_id) is not None:
            return True
        return bool(self.jobmanager_pods(cluster_id))

    # -- writes --------------------------------------------------------------------------------------------

    def scale_jobmanager_to_zero(self, cluster_id: str) -> bool:
        """Scale the JobManager Deployment to 0 replicas, so the JobManager stops before its TaskManagers.

        Why: deleting the Deployment lets the garbage collector remove JobManager and TaskManager pods at
        once. A TaskManager lost first can fail the job for good (no restart attempt left), and Flink
        cleans up the HA checkpoint pointers of a FAILED job: a last-state upgrade would then have nothing to
        restore. A JobManager stopped on its own only suspends the job and keeps HA data. The Flink
        Kubernetes Operator shuts the JobManager down first for the same reason. False if already gone.
        """
        try:
            self._call(f"scale deployment {cluster_id} to 0", self.apps.patch_namespaced_deployment, cluster_id,
                       self.namespace, {"spec": {"replicas": 0}})
        except Exception as exc:
            if _status(exc) == 404:
                return False
            raise
        return True

    def jobmanager_pods(self, cluster_id: str) -> list[dict]:
        return [p for p in self.pods(cluster_id) if _labels(p).get("component") == "jobmanager"]

    def wait_jobmanager_stopped(self, cluster_id: str, timeout: float, poll: float = 0.5) -> None:
        """Wait until no JobManager pod of the cluster exists (after `scale_jobmanager_to_zero`)."""
        if not _poll_until(lambda: not self.jobmanager_pods(cluster_id), timeout, poll):
            names = ", ".join(_name(p) for p in self.jobmanager_pods(cluster_id))
            raise KubeError(f"JobManager pod(s) {names} of cluster {cluster_id!r} still exist {timeout:.0f}s "
                            "after scaling its Deployment to 0; nothing was deleted. Check the pod "
                            "(stuck Terminating? node down?) and re-run.")

    def delete_deployment(self, cluster_id: str) -> bool:
        """Delete the JobManager Deployment (its dependents go with it). False if it was already gone."""
        from kubernetes.client import V1DeleteOptions

        try:
            self._call(f"delete deployment {cluster_id}", self.apps.delete_namespaced_deployment, cluster_id,
                       self.namespace, body=V1DeleteOptions(propagation_policy="Foreground"))
        except Exception as exc:
            if _status(exc) == 404:
                return False
            raise
        return True

    def delete_ha_configmaps(self, cluster_id: str) -> list[str]:
        """Delete every HA ConfigMap of the cluster (stateless/savepoint upgrades). Returns the names deleted."""
        deleted = []
        for cm in self.ha_configmaps(cluster_id):
            name = _name(cm)
            try:
                self._call(f"delete configmap {name}", self.core.delete_namespaced_config_map, name,
                           self.namespace)
            except Exception as exc:
                if _status(exc) != 404:
                    raise
            deleted.append(name)
        return deleted

    def upsert_configmap(self, name: str, data: dict[str, str], labels: dict[str, str] | None = None) -> None:
        """Create or replace a small ConfigMap of our own (not a Flink one), whatever it held before."""
        self.update_configmap(name, lambda _old: data, labels)

    def update_configmap(self, name: str, change: Callable[[dict[str, str]], dict[str, str] | None],
                         labels: dict[str, str] | None = None, attempts: int = 10) -> dict[str, str]:
        """Read-modify-write of a ConfigMap of our own, safe against concurrent writers.

        `change(data)` gets the current data (empty if the ConfigMap does not exist) and returns the new data
        (None: nothing to write). The write carries the resourceVersion that was read, so a concurrent writer
        makes the API server answer 409 Conflict instead of one update silently replacing the other; then this
        re-reads and re-applies `change` after a short random pause (writers that collided would otherwise
        collide again). Returns the data written (or left as it was).
        """
        for attempt in range(attempts):
            current = self.configmap(name)
            old = dict((current or {}).get("data") or {})
            new = change(dict(old))
            if new is None or (current is not None and new == old):
                return old
            metadata: dict[str, Any] = {"name": name, "namespace": self.namespace, "labels": labels or {}}
            body = {"apiVersion": "v1", "kind": "ConfigMap", "data": new, "metadata": metadata}
            try:
                if current is None:
                    self._call(f"create configmap {name}", self.core.create_namespaced_config_map,
                               self.namespace, body)
                else:
                    metadata["resourceVersion"] = current["metadata"]["resourceVersion"]
                    self._call(f"update configmap {name}", self.core.replace_namespaced_config_map, name,
                               self.namespace, body)
                return new
            except KubeApiError as exc:
                if exc.status != 409:  # 409: created or changed by someone else since our read: re-read
                    raise
                time.sleep(random.uniform(0, 0.02 * (attempt + 1)))  # backoff with jitter, not synchronisation
        raise KubeError(f"configmap {name} in namespace {self.namespace} kept changing under {attempts} "
                        "concurrent updates; retry the task")

    def write_configmap(self, name: str, data: dict[str, str], labels: dict[str, str],
                        resource_version: str | None) -> str:
        """Create (`resource_version` None) or replace a ConfigMap of our own at exactly that resourceVersion;
        returns the new resourceVersion. A concurrent writer makes this raise KubeApiError with status 409."""
        metadata: dict[str, Any] = {"name": name, "namespace": self.namespace, "labels": labels}
        body = {"apiVersion": "v1", "kind": "ConfigMap", "data": data, "metadata": metadata}
        if resource_version is None:
            written = self._call(f"create configmap {name}", self.core.create_namespaced_config_map,
                                 self.namespace, body)
        else:
            metadata["resourceVersion"] = resource_version
            written = self._call(f"update configmap {name}", self.core.replace_namespaced_config_map, name,
                                 self.namespace, body)
        return str(written.metadata.resource_version)

    def strip_job_graph(self, cluster_id: str) -> list[str]:
        """Remove only the job-graph keys, keep checkpoint pointers (last-state upgrade, as the Flink operator does).

        Uses replace with the observed resourceVersion, so a concurrent writer (a JobManager still running)
        makes this fail with a conflict instead of being overwritten. Returns the keys removed.
        """
        removed: list[str] = []
        for cm in self.ha_configmaps(cluster_id):
            data = cm.get("data") or {}
            keys = sorted(k for k in data if JOB_GRAPH_KEY.match(k))
            if not keys:
                continue
            body = dict(cm)
            body["data"] = {k: v for k, v in data.items() if k not in keys}
            self._call(f"replace configmap {_name(cm)}", self.core.replace_namespaced_config_map,
                       _name(cm), self.namespace, body)
            removed.extend(keys)
        return removed

    def wait_gone(self, cluster_id: str, timeout: float, poll: float = 0.5) -> None:
        """Wait until neither the Deployment nor a JobManager pod of the cluster exists."""
        if not _poll_until(lambda: not self.cluster_exists(cluster_id), timeout, poll):
            raise KubeError(f"cluster {cluster_id!r} still exists after {timeout:.0f}s "
                            f"(Deployment or JobManager pod in namespace {self.namespace!r})")

    # -- REST through the API server ---------------------------------------------------------------------------

    def rest_proxy_target(self, cluster_id: str, port: int | None = None) -> ProxyTarget:
        """Base URL of the `<id>-rest` Service through the API server's service proxy, with the API credentials."""
        if port is None:
            svc = self.service(f"{cluster_id}-rest")
            if svc is None:
                raise KubeError(f"service {cluster_id}-rest not found in namespace {self.namespace!r}: "
                                "is the cluster running?")
            port = rest_port(svc)
        cfg = self.api_client.configuration
        headers = {}
        auth = cfg.auth_settings().get("BearerToken") if hasattr(cfg, "auth_settings") else None
        if auth and auth.get("value"):
            headers[auth.get("key", "authorization")] = auth["value"]
        verify: bool | str = cfg.ssl_ca_cert or bool(cfg.verify_ssl)
        cert = (cfg.cert_file, cfg.key_file) if cfg.cert_file and cfg.key_file else None
        base = (f"{cfg.host.rstrip('/')}/api/v1/namespaces/{self.namespace}/services/"
                f"{cluster_id}-rest:{port}/proxy")
        return ProxyTarget(base_url=base, headers=headers, verify=verify, cert=cert)


def _disable_silent_retries(api_client: Any) -> None:
    """Turn off urllib3's default 3 silent retries per request on this client's connection pools.

    Why: KubeView retries itself (bounded, logged, 5xx too). Without this, each of its attempts hides up to
    four HTTP tries, so a hanging API server costs attempts x 4 x request_timeout (measured: 4 x the
    timeout per attempt) before KubeUnavailable. A client configured with explicit `retries` is left alone.
    """
    rest = getattr(api_client, "rest_client", None)
    pool_manager = getattr(rest, "pool_manager", None)
    configuration = getattr(api_client, "configuration", None)
    if pool_manager is None or getattr(configuration, "retries", None) is not None:
        return
    if pool_manager.connection_pool_kw.get("retries") is not False:
        pool_manager.connection_pool_kw["retries"] = False
        pool_manager.clear()  # pools created before keep their own retries: drop them (idle connections only)


def rest_port(service: dict) -> int:
    ports = (service.get("spec") or {}).get("ports") or []
    for p in ports:
        if p.get("name") == "rest":
            return int(p["port"])
    if ports:
        return int(ports[0]["port"])
    raise KubeError(f"service {_name(service)} has no ports")


def _poll_until(done: Callable[[], bool], timeout: float, poll: float) -> bool:
    """Call `done` every `poll` seconds until it is true (True) or `timeout` has passed (False)."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(poll)
    return True


def _name(obj: dict) -> str:
    return (obj.get("metadata") or {}).get("name", "")


def _labels(obj: dict) -> dict:
    return (obj.get("metadata") or {}).get("labels") or {}


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else exc.__class__.__name__)[:200]
