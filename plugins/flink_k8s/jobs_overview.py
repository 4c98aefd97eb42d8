"""One observation per catalogue job for the Flink page: gathered concurrently, each cluster bounded in time.

Per namespace, three list calls (Flink's pods, ConfigMaps and Services, plus this project's redeploy ConfigMaps)
replace three reads per cluster; then per cluster the Deployment (get: the least-privilege Role has no list on
Deployments) and, when the cluster exists, the JobManager's REST API (job, restarts, checkpoints) — the same
facts, parsed by the same `core.observations` parsers, that `FlinkControlPlane.observe()` gives the monitor DAG.

Time bound: every task (a namespace's lists, a cluster's reads) has `timeout` seconds from the moment it
starts; a task still running then is left behind and its job reported as an error row ("no answer within …"),
so one slow or unreachable cluster never holds up the others nor fails the page. HTTP calls carry the same
timeout and are not retried (a page refreshes anyway), so abandoned threads end soon after.
No Airflow imports: the page's glue passes a `kube_for(conn_id, namespace)` factory.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flink_k8s.clients.flink_rest import FlinkRestClient, FlinkRestError
from flink_k8s.clients.http_retry import RetryPolicy
from flink_k8s.clients.kube import KubeError, KubeView, rest_port
from flink_k8s.control_plane import FlinkControlPlane, RestAccess
from flink_k8s.core import observations as parse
from flink_k8s.core.catalogue import JobSpec
from flink_k8s.core.jobs_view import Observed, flink_ui_url, parse_savepoint_history
from flink_k8s.core.ledger import CONFIGMAP_PREFIX
from flink_k8s.core.lifecycle import current_job
from flink_k8s.core.observations import ClusterObservation

MANAGED_LABEL = "app.kubernetes.io/managed-by=flink-k8s-airflow"
NO_RETRY = RetryPolicy(attempts=1)
CONNECT_TIMEOUT = 30.0  # building a Kubernetes client for a connection (not the cluster's answer time)

KubeFactory = Callable[[str, str], KubeView]


@dataclass(frozen=True)
class NamespaceSnapshot:
    """The namespace's Flink objects, grouped by cluster id (Flink's `app` label)."""

    pods: Mapping[str, list[dict]] = field(default_factory=dict)
    configmaps: Mapping[str, list[dict]] = field(default_factory=dict)
    services: Mapping[str, dict] = field(default_factory=dict)  # name -> Service
    progress: Mapping[str, dict] = field(default_factory=dict)  # cluster id -> redeploy ConfigMap data
    http: Any = None  # one requests.Session for every proxied REST call of the namespace (same API server)


def _by_app(items: Iterable[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for item in items:
        app = ((item.get("metadata") or {}).get("labels") or {}).get("app")
        if app:
            out.setdefault(app, []).append(item)
    return out


def _name(obj: dict) -> str:
    return (obj.get("metadata") or {}).get("name", "")


def proxy_session(kube: KubeView, pool_size: int) -> Any:
    """A keep-alive session to the API server for the service-proxy REST calls of all clusters of a namespace.

    Why: one `requests.Session` per cluster costs a new connection (a TLS handshake on a real API server) and,
    per request, a scan of the environment for proxy settings; 200 clusters x 5 calls made that the page's
    largest cost. The session carries the same credentials `KubeView.rest_proxy_target` hands each client.
    """
    import requests
    from requests.adapters import HTTPAdapter

    target = kube.rest_proxy_target("-", port=0)
    session = requests.Session()
    session.trust_env = False  # the API server is reached as the kubeconfig says, not through $HTTPS_PROXY
    session.headers.update({"Accept": "application/json", **target.headers})
    session.verify = target.verify
    if target.cert:
        session.cert = target.cert
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def snapshot(kube: KubeView, pool_size: int = 32, access: RestAccess | None = None) -> NamespaceSnapshot:
    ours = kube.list_namespace("configmap", MANAGED_LABEL)
    return NamespaceSnapshot(
        http=proxy_session(kube, pool_size) if (access or RestAccess()).mode == "proxy" else None,
        pods=_by_app(kube.list_namespace("pod")),
        configmaps=_by_app(kube.list_namespace("configmap")),
        services={_name(s): s for s in kube.list_namespace("service")},
        progress={_name(c)[len(CONFIGMAP_PREFIX):]: (c.get("data") or {}) for c in ours
                  if _name(c).startswith(CONFIGMAP_PREFIX)},
    )


def _rest_client(kube: KubeView, cluster_id: str, snap: NamespaceSnapshot, access: RestAccess,
                 timeout: float) -> FlinkRestClient:
    if access.mode == "proxy":
        svc = snap.services.get(f"{cluster_id}-rest")
        if svc is None:
            raise KubeError(f"service {cluster_id}-rest not found in namespace {kube.namespace!r}")
        target = kube.rest_proxy_target(cluster_id, port=rest_port(svc))
        # the namespace's shared session (see proxy_session), never closed by the client
        return FlinkRestClient(target.base_url, headers=target.headers, verify=target.verify, cert=target.cert,
                               timeout=timeout, retry=NO_RETRY, session=snap.http)
    client = FlinkControlPlane(kube, rest_access=access, rest_timeout=timeout).rest(cluster_id)
    client.retry = NO_RETRY
    return client


def observe_cluster(kube: KubeView, snap: NamespaceSnapshot, job: JobSpec, access: RestAccess, timeout: float,
                    clock: Callable[[], datetime]) -> Observed:
    """What `FlinkControlPlane.observe()` sees, from the namespace snapshot plus this cluster's own reads."""
    cluster_id = job.cluster_id or job.name
    deployment = parse.parse_deployment(kube.deployment(cluster_id))
    pods = parse.parse_pods(snap.pods.get(cluster_id, []))
    ha = parse.parse_ha_config_maps(cluster_id, snap.configmaps.get(cluster_id, []))
    flink_job = checkpoints = rest_error = None
    if deployment is not None or pods:
        try:
            rest = _rest_client(kube, cluster_id, snap, access, timeout)
            flink_job = current_job(rest.jobs())
            if flink_job is not None:
                flink_job, checkpoints = rest.job(flink_job.job_id), rest.checkpoints(flink_job.job_id)
            rest.close()  # a shared session stays open
        except (FlinkRestError, KubeError) as exc:
            rest_error = _short(exc)
    obs = ClusterObservation(cluster_id=cluster_id, observed_at=clock(), deployment=deployment, pods=pods, ha=ha,
                             job=flink_job, checkpoints=checkpoints, rest_error=rest_error)
    svc = snap.services.get(f"{cluster_id}-rest")
    ui = (flink_ui_url(kube.api_client.configuration.host, kube.namespace, cluster_id, rest_port(svc))
          if svc is not None and access.mode == "proxy" else None)
    return Observed(observation=obs, savepoint_history=parse_savepoint_history(snap.progress.get(cluster_id)),
                    flink_ui_url=ui)


class _Bounded:
    """A thread pool whose tasks each get `timeout` seconds from the moment they start running."""

    def __init__(self, pool: ThreadPoolExecutor, timeout: float) -> None:
        self.pool, self.timeout = pool, timeout
        self._starts: dict[Future, dict[str, float]] = {}

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        box: dict[str, float] = {}  # filled by the worker thread when the task starts

        def run() -> Any:
            box["at"] = time.monotonic()
            return fn(*args)

        future = self.pool.submit(run)
        self._starts[future] = box
        return future

    def _started(self, future: Future) -> float | None:
        return self._starts[future].get("at")

    def collect(self, futures: Mapping[Any, Future], backstop: float) -> dict[Any, tuple[bool, Any]]:
        """key -> (True, result) | (False, why). Waits at most `backstop` seconds in all."""
        pending = {f: k for k, f in futures.items()}
        out: dict[Any, tuple[bool, Any]] = {}
        end = time.monotonic() + backstop
        while pending:
            now = time.monotonic()
            for future in [f for f in pending if (self._started(f) or now) + self.timeout < now]:
                if not future.done():
                    out[pending.pop(future)] = (False, f"no answer within {self.timeout:g}s")
            if now > end:
                for key in pending.values():
                    out[key] = (False, f"not observed within {backstop:g}s (too many slow clusters)")
                break
            if not pending:
                break
            deadlines = [at + self.timeout for at in map(self._started, pending) if at is not None]
            step = max(0.005, min([*deadlines, end]) - now)
            done, _ = wait(list(pending), timeout=step, return_when=FIRST_COMPLETED)
            for future in done:
                key = pending.pop(future)
                exc = future.exception()
                out[key] = (True, future.result()) if exc is None else (False, _short(exc))
        return out


def gather(jobs: Iterable[JobSpec], kube_for: KubeFactory, *, rest_access: RestAccess | None = None,
           timeout: float = 3.0, parallelism: int = 8,
           clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> dict[str, Observed]:
    """job name -> Observed for every streaming job (batch jobs run on per-run clusters: nothing to observe)."""
    rest_access = rest_access or RestAccess()
    streaming = [j for j in jobs if j.kind == "streaming"]
    groups: dict[tuple[str, str], list[JobSpec]] = {}
    for job in streaming:
        groups.setdefault((job.kubernetes_conn_id, job.namespace), []).append(job)
    out: dict[str, Observed] = {}
    if not groups:
        return out
    pool = ThreadPoolExecutor(max_workers=max(1, parallelism), thread_name_prefix="flink-page")
    bounded = _Bounded(pool, timeout)
    backstop = timeout * 4 + 2
    try:
        # Building a client (the connection lookup, the first `kubernetes` import of the process) is not the
        # cluster answering: it gets its own, generous bound; the namespace's list calls then get `timeout`.
        connect = _Bounded(pool, CONNECT_TIMEOUT)
        kubes = connect.collect({target: connect.submit(kube_for, *target) for target in groups},
                                CONNECT_TIMEOUT + 1)
        snaps = {target: bounded.submit(snapshot, kube, parallelism, rest_access)
                 for target, (ok, kube) in kubes.items() if ok}
        listed = bounded.collect(snaps, backstop)
        namespaces: dict[tuple[str, str], tuple[bool, Any]] = {}
        for target in groups:
            ok, kube = kubes[target]
            if not ok:
                namespaces[target] = (False, kube)
                continue
            ok, snap = listed[target]
            namespaces[target] = (True, (kube, snap)) if ok else (False, snap)
        clusters: dict[str, Future] = {}
        for (conn_id, namespace), members in groups.items():
            ok, value = namespaces[(conn_id, namespace)]
            if not ok:
                why = f"Kubernetes objects of namespace {namespace!r} (connection {conn_id!r}) could not be read: {value}"
                out.update({job.name: Observed(error=why) for job in members})
                continue
            kube, snap = value
            for job in members:
                clusters[job.name] = bounded.submit(observe_cluster, kube, snap, job, rest_access, timeout, clock)
        for name, (ok, value) in bounded.collect(clusters, backstop).items():
            out[name] = value if ok else Observed(error=f"cluster could not be observed: {value}")
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # threads left behind end with their HTTP timeouts
    return out


def _short(exc: BaseException | str) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]
