"""Observe the running side of a drift check (two Kubernetes reads) and hand it to `core.drift`.

Why its own module: `diff`, the health monitor's drift task and the redeploy plan all need the same
snapshot — the JobManager Deployment and `flink-config-<id>` — and nothing else (no Flink REST: a drift
check works while the JobManager is down). No Airflow imports; the `kubernetes` package stays lazy.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from flink_k8s.core import drift
from flink_k8s.core.catalogue_schema import JobSpec

if TYPE_CHECKING:  # pragma: no cover
    from flink_k8s.clients.kube import KubeView


class DriftCheckError(RuntimeError):
    """The running side could not be read or parsed; the message names the object."""


def observe_running(kube: KubeView, cluster_id: str) -> drift.RunningState:
    """One snapshot: the Deployment `<id>` and the ConfigMap `flink-config-<id>` (KubeError if unreadable)."""
    deployment = kube.deployment(cluster_id)
    config_map = kube.configmap(f"flink-config-{cluster_id}")
    try:
        return drift.running_state(cluster_id, deployment, config_map)
    except ValueError as exc:
        raise DriftCheckError(f"ConfigMap flink-config-{cluster_id} in namespace {kube.namespace!r}: {exc}") from None


def check(kube: KubeView, job: JobSpec, release: str | None = None,
          parallelism: int | None = None) -> drift.DriftReport:
    """Catalogue (at `release`, else the release the cluster was deployed with) vs the running cluster."""
    running = observe_running(kube, job.cluster_id or job.name)
    found, source = drift.infer_release(job, running, release)
    return drift.diff(drift.desired_state(job, found, parallelism, source), running)


def check_many(kube: KubeView, jobs: Iterable[JobSpec], parallelism: int = 8
               ) -> dict[str, drift.DriftReport | str]:
    """{job name: report, or why it could not be checked}, concurrently (one namespace)."""
    from flink_k8s.clients.kube import KubeError

    def one(job: JobSpec) -> drift.DriftReport | str:
        try:
            return check(kube, job)
        except (KubeError, DriftCheckError) as exc:
            return str(exc).splitlines()[0][:300] if str(exc) else exc.__class__.__name__

    jobs = list(jobs)
    with ThreadPoolExecutor(max_workers=max(1, min(parallelism, len(jobs) or 1))) as pool:
        return dict(zip([j.name for j in jobs], pool.map(one, jobs), strict=True))
