"""The control plane of one namespace: observe, submit, wait, and execute redeploy plans.

It composes the clients (Kubernetes API, Flink REST, Flink CLI) with the pure decisions in `core/`; it holds
no Airflow imports, so `python -m flink_k8s status|health|list` and the Airflow hook share it. Decisions
(health verdicts, redeploy plans) are never made here, only executed.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from flink_k8s.clients.flink_cli import CliResult, FlinkCli
from flink_k8s.clients.flink_rest import FlinkRestClient, FlinkRestError, JobNotFound, RestRefused
from flink_k8s.clients.kube import KubeError, KubeView
from flink_k8s.core import observations as obs_parse
from flink_k8s.core.catalogue import JobSpec
from flink_k8s.core.flink_config import build_argv
from flink_k8s.core.health import HealthReport, HealthThresholds, Reason, Verdict, evaluate
from flink_k8s.core.observations import ClusterObservation, JobFacts
from flink_k8s.core.redeploy import RedeployPlan, RedeployProgress, Restore, Step, StepKind

log = logging.getLogger(__name__)

TERMINAL_STATES = frozenset({"FINISHED", "FAILED", "CANCELED"})


class ControlPlaneError(RuntimeError):
    """A control-plane operation could not complete; the message says what was observed and what to do."""


class WaitTimeout(ControlPlaneError):
    pass


class JobFailed(ControlPlaneError):
    def __init__(self, message: str, job: JobFacts | None = None, root_cause: str | None = None):
        super().__init__(message)
        self.job, self.root_cause = job, root_cause


@dataclass(frozen=True)
class RestAccess:
    """How to reach a cluster's REST API.

    `proxy` (default): the API server's service proxy to `<id>-rest` — works wherever the Kubernetes API does.
    `nodeport`: http://<node ExternalIP or InternalIP>:<nodePort> of `<id>-rest` (the seed's setup).
    `url`: a template such as `http://{cluster_id}-rest.{namespace}:8081` (in-cluster DNS) or a fixed URL.
    """

    mode: str = "proxy"
    url_template: str | None = None
    node_address_type: str = "ExternalIP"

    def __post_init__(self) -> None:
        if self.mode not in ("proxy", "nodeport", "url"):
            raise ValueError(f"rest_access.mode={self.mode!r}: must be proxy, nodeport or url")
        if self.mode == "url" and not self.url_template:
            raise ValueError("rest_access.url_template is required with mode 'url'")


class FlinkControlPlane:
    def __init__(
        self,
        kube: KubeView,
        cli: FlinkCli | None = None,
        kubeconfig_path: str | None = None,
        rest_access: RestAccess = RestAccess(),
        rest_timeout: float = 10.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.kube = kube
        self.cli = cli
        self.kubeconfig_path = kubeconfig_path
        self.rest_access = rest_access
        self.rest_timeout = rest_timeout
        self.clock = clock

    @property
    def namespace(self) -> str:
        return self.kube.namespace

    # -- REST -------------------------------------------------------------------------------------------------

    def rest(self, cluster_id: str) -> FlinkRestClient:
        access = self.rest_access
        if access.mode == "url":
            url = access.url_template.format(cluster_id=cluster_id, namespace=self.namespace)
            return FlinkRestClient(url, timeout=self.rest_timeout)
        if access.mode == "nodeport":
            return FlinkRestClient(self._nodeport_url(cluster_id), timeout=self.rest_timeout)
        target = self.kube.rest_proxy_target(cluster_id)
        return FlinkRestClient(target.base_url, headers=target.headers, verify=target.verify, cert=target.cert,
                               timeout=self.rest_timeout)

    def _nodeport_url(self, cluster_id: str) -> str:
        svc = self.kube.service(f"{cluster_id}-rest")
        if svc is None:
            raise KubeError(f"service {cluster_id}-rest not found in namespace {self.namespace!r}")
        port = next((p.get("nodePort") for p in svc["spec"].get("ports", []) if p.get("nodePort")), None)
        address = self.kube.node_address(self.rest_access.node_address_type)
        if not port or not address:
            raise KubeError(f"service {cluster_id}-rest has no nodePort or no node has a "
                            f"{self.rest_access.node_address_type} address")
        return f"http://{address}:{port}"

    # -- observation -----------------------------------------------------------------------------------------

    def observe(self, cluster_id: str, with_rest: bool = True) -> ClusterObservation:
        """Everything the decisions need about one cluster id, from the Kubernetes API and (if up) Flink REST."""
        deployment = obs_parse.parse_deployment(self.kube.deployment(cluster_id))
        pods = obs_parse.parse_pods(self.kube.pods(cluster_id))
        ha = obs_parse.parse_ha_config_maps(cluster_id, self.kube.configmaps(cluster_id))
        job = checkpoints = rest_error = None
        if with_rest and (deployment is not None or pods):
            try:
                job, checkpoints = self._observe_rest(cluster_id)
            except (FlinkRestError, KubeError) as exc:
                rest_error = _short(exc)
        return ClusterObservation(cluster_id=cluster_id, observed_at=self.clock(), deployment=deployment,
                                  pods=pods, ha=ha, job=job, checkpoints=checkpoints, rest_error=rest_error)

    def _observe_rest(self, cluster_id: str):
        with self.rest(cluster_id) as rest:
            job = self._current_job(rest)
            if job is None:
                return None, None
            return rest.job(job.job_id), rest.checkpoints(job.job_id)

    @staticmethod
    def _current_job(rest: FlinkRestClient) -> JobFacts | None:
        """The application's job: an application cluster runs one; prefer a non-terminal one if several."""
        jobs = rest.jobs()
        if not jobs:
            return None
        live = [j for j in jobs if not j.terminal]
        return max(live or jobs, key=lambda j: j.start_time or datetime.min.replace(tzinfo=UTC))

    def observe_many(self, cluster_ids: Iterable[str], parallelism: int = 16) -> dict[str, ClusterObservation]:
        """Observe concurrently. A cluster whose Kubernetes objects could not be read is left out of the
        result (an empty observation would read as "cluster missing"); `observe_failures` says why."""
        ids = list(dict.fromkeys(cluster_ids))
        with ThreadPoolExecutor(max_workers=max(1, min(parallelism, len(ids) or 1))) as pool:
            results = dict(zip(ids, pool.map(self._observe_safely, ids), strict=True))
        return {cid: r for cid, r in results.items() if isinstance(r, ClusterObservation)}

    def observe_failures(self, cluster_ids: Iterable[str], parallelism: int = 16
                         ) -> tuple[dict[str, ClusterObservation], dict[str, str]]:
        """(observations, {cluster id: why it could not be observed}) — the honest form of observe_many."""
        ids = list(dict.fromkeys(cluster_ids))
        with ThreadPoolExecutor(max_workers=max(1, min(parallelism, len(ids) or 1))) as pool:
            results = dict(zip(ids, pool.map(self._observe_safely, ids), strict=True))
        return ({c: r for c, r in results.items() if isinstance(r, ClusterObservation)},
                {c: r for c, r in results.items() if isinstance(r, str)})

    def _observe_safely(self, cluster_id: str) -> ClusterObservation | str:
        try:
            return self.observe(cluster_id)
        except KubeError as exc:
            return f"Kubernetes objects of {cluster_id} could not be read: {_short(exc)}"

    def health(self, job: JobSpec, history: Iterable[ClusterObservation] = ()) -> HealthReport:
        cluster_id = job.cluster_id or job.name
        return evaluate(self.observe(cluster_id), thresholds_for(job), self.clock(), tuple(history))

    def health_many(self, jobs: Iterable[JobSpec], parallelism: int = 16) -> dict[str, HealthReport]:
        """Health of many jobs with concurrent observations. A cluster that could not be observed (API
        errors past the retries) is UNHEALTHY with reason `observation_failed` — never MISSING."""
        jobs = list(jobs)
        observed, failed = self.observe_failures([j.cluster_id or j.name for j in jobs], parallelism)
        now = self.clock()
        reports = {}
        for j in jobs:
            cid = j.cluster_id or j.name
            if cid in failed:
                reports[j.name] = HealthReport(cid, Verdict.UNHEALTHY,
                                               (Reason(Verdict.UNHEALTHY, "observation_failed", failed[cid]),), now)
            else:
                reports[j.name] = evaluate(observed[cid], thresholds_for(j), now)
        return reports

    # -- submission ------------------------------------------------------------------------------------------

    def submit_argv(self, job: JobSpec, release: str | None, *, savepoint: str | None = None,
                    cluster_id: str | None = None, parallelism: int | None = None,
                    extra_conf: Mapping[str, str] | None = None) -> list[str]:
        """The exact argv (validated) that `submit` runs; pure apart from reading the CLI location."""
        if self.cli is None:
            raise ControlPlaneError("no Flink CLI configured: set FLINK_HOME or pass flink_home")
        if cluster_id is not None or parallelism is not None:
            job = replace(job, cluster_id=cluster_id or job.cluster_id,
                          parallelism=parallelism if parallelism is not None else job.parallelism)
        return build_argv(job, self.cli.executable, release=release, savepoint=savepoint,
                          kubeconfig=self.kubeconfig_path, extra_conf=extra_conf)

    def submit(self, job: JobSpec, release: str | None, *, savepoint: str | None = None,
               cluster_id: str | None = None, parallelism: int | None = None,
               extra_conf: Mapping[str, str] | None = None, timeout: float = 600) -> CliResult:
        conf = dict(extra_conf or {})
        ha = job.high_availability
        if ha.enabled and ha.storage_dir and "job-result-store.storage-path" not in conf:
            # As the Flink Kubernetes Operator does: a result-store path per submission, so a leftover entry
            # of the previous deployment's job (same job id: derived from the cluster id) cannot make Flink
            # skip the new job as "already terminated globally".
            submission = f"{cluster_id or job.cluster_id or job.name}/{uuid.uuid4()}"
            conf["job-result-store.storage-path"] = f"{ha.storage_dir.rstrip('/')}/job-result-store/{submission}"
            if not job.flink_version.startswith("1."):
                # Flink 2.x also keeps an application result per cluster id; a leftover unfinished entry of the
                # old JobManager makes the new one shut down at once without running the job.
                conf.setdefault("application-result-store.storage-path",
                                f"{ha.storage_dir.rstrip('/')}/application-result-store/{submission}")
        argv = self.submit_argv(job, release, savepoint=savepoint, cluster_id=cluster_id,
                                parallelism=parallelism, extra_conf=conf)
        return self.cli.run(argv, timeout=timeout)

    # -- waiting ---------------------------------------------------------------------------------------------

    def wait_job(self, cluster_id: str, accept: Callable[[JobFacts], bool], timeout: float, what: str,
                 poll: float = 1.0, fail_on_terminal: bool = True) -> JobFacts:
        """Poll the cluster's job until `accept(job)`; a terminal job that is not accepted fails at once."""
        deadline = time.monotonic() + timeout
        last = "no job yet"
        gone_since: float | None = None
        gone_grace = 30.0  # a cluster just submitted may take a moment to show its Deployment
        while True:
            try:
                with self.rest(cluster_id) as rest:
                    job = self._current_job(rest)
                    if job is not None:
                        last = f"job {job.job_id} {job.state}"
                        if accept(job):
                            return job
                        if fail_on_terminal and job.terminal:
                            raise JobFailed(f"job {job.job_id} of cluster {cluster_id} ended {job.state} while "
                                            f"waiting for {what}{_root_cause_suffix(rest, job)}", job,
                                            _root_cause(rest, job))
            except RestRefused as exc:  # 401/403 or an unverifiable certificate: no wait fixes that
                raise ControlPlaneError(f"cannot read the job of cluster {cluster_id} while waiting for {what}: "
                                        f"{_short(exc, 800)}") from None
            except (FlinkRestError, KubeError) as exc:
                last = f"REST not reachable ({_short(exc)})"
                if not self.kube.cluster_exists(cluster_id):
                    gone_since = gone_since or time.monotonic()
                    if time.monotonic() - gone_since > gone_grace:
                        raise JobFailed(f"cluster {cluster_id} disappeared while waiting for {what} (no Deployment "
                                        f"or JobManager pod for {gone_grace:.0f}s); last seen {last}") from exc
                else:
                    gone_since = None
            if time.monotonic() > deadline:
                raise WaitTimeout(f"timed out after {timeout:.0f}s waiting for {what} on cluster {cluster_id}: "
                                  f"last seen {last}")
            time.sleep(poll)

    def wait_running(self, cluster_id: str, timeout: float = 300) -> JobFacts:
        return self.wait_job(cluster_id, lambda j: j.state == "RUNNING", timeout, "state RUNNING")

    def wait_first_checkpoint(self, cluster_id: str, after_id: int | None, timeout: float = 300,
                              poll: float = 1.0) -> int:
        """Wait for a completed checkpoint newer than `after_id` (the restored one): proof the new job works."""
        job = self.wait_running(cluster_id, timeout)
        deadline = time.monotonic() + timeout
        while True:
            try:
                with self.rest(cluster_id) as rest:
                    cp = rest.checkpoints(job.job_id)
                    if cp.latest_completed_id is not None and cp.latest_completed_id > (after_id or 0):
                        return cp.latest_completed_id
            except (FlinkRestError, KubeError) as exc:
                log.info("checkpoints of %s not readable yet: %s", cluster_id, _short(exc))
            if time.monotonic() > deadline:
                raise WaitTimeout(f"no completed checkpoint after {after_id} within {timeout:.0f}s on {cluster_id}")
            time.sleep(poll)

    def check_job(self, cluster_id: str, want: str) -> dict:
        """One poll of a wait: observe, then the shared pure decision (`core.job_wait.decide`). Plain dict out."""
        from flink_k8s.core.job_wait import Outcome, Want, decide

        present = self.kube.cluster_exists(cluster_id)
        job, cause, rest_error, refused = None, None, None, None
        if present:
            try:
                with self.rest(cluster_id) as rest:
                    job = self._current_job(rest)
                    if job is not None and job.state == "FAILED":
                        cause = _root_cause(rest, job)
            except RestRefused as exc:
                refused = _short(exc, 800)  # the API server's reason (who may not do what) must survive
            except (FlinkRestError, KubeError) as exc:
                rest_error = _short(exc)
        decision = decide(Want(want), job.state if job else None, present, rest_error, refused)
        return {"outcome": str(decision.outcome), "message": decision.message, "cluster_id": cluster_id,
                "job_id": job.job_id if job else None, "state": job.state if job else None,
                "start_time": job.start_time.isoformat() if job and job.start_time else None,
                "root_cause": cause, "done": decision.outcome is not Outcome.WAIT}

    # -- cluster lifecycle -------------------------------------------------------------------------------------

    def delete_cluster(self, cluster_id: str, timeout: float = 120, delete_ha: bool = True) -> None:
        """Stop the JobManager first, delete the Deployment (TaskManagers follow), wait until gone, then the HA
        ConfigMaps if asked."""
        self.shut_down(cluster_id, timeout)
        self.kube.wait_gone(cluster_id, timeout)
        if delete_ha:
            self.kube.delete_ha_configmaps(cluster_id)

    def shut_down(self, cluster_id: str, timeout: float = 120) -> None:
        """JobManager first (scale to 0, wait its pods gone), then delete the Deployment; idempotent.

        The order keeps a job's HA checkpoints: see `KubeView.scale_jobmanager_to_zero`.
        """
        if self.kube.scale_jobmanager_to_zero(cluster_id):
            self.kube.wait_jobmanager_stopped(cluster_id, timeout)
        self.kube.delete_deployment(cluster_id)

    # -- redeploy execution ------------------------------------------------------------------------------------

    def execute_plan(self, plan: RedeployPlan, job: JobSpec, release: str, store: ProgressStore,
                     parallelism: int | None = None, timeout: float = 600,
                     on_step: Callable[[Step, str], None] = lambda step, msg: None) -> dict:
        """Run each step in order, recording progress after every step that changes the world.

        Idempotent per step: a re-run re-observes and re-plans, and the planner skips what is done.
        Returns a summary dict (savepoint used, job id, first checkpoint).
        """
        cluster_id = plan.cluster_id
        progress = store.load(cluster_id)
        summary: dict = {"cluster_id": cluster_id, "mode": str(plan.effective_mode), "restore": str(plan.restore)}
        restored_checkpoint: int | None = None
        for step in plan.steps:
            on_step(step, "start")
            if step.kind in (StepKind.STOP_WITH_SAVEPOINT, StepKind.AWAIT_SAVEPOINT):
                trigger = step.trigger_id or progress.savepoint_trigger_id or uuid.uuid4().hex
                if step.kind is StepKind.STOP_WITH_SAVEPOINT and step.trigger_id is None:
                    progress = replace(progress, savepoint_trigger_id=trigger, savepoint_path=None)
                    store.save(cluster_id, progress)  # recorded BEFORE triggering: a crash can poll it later
                    with self.rest(cluster_id) as rest:
                        target = None if _has_savepoint_dir(rest) else step.savepoint_dir
                        rest.trigger_stop_with_savepoint(step.job_id, target, trigger_id=trigger)
                with self.rest(cluster_id) as rest:
                    path = rest.wait_for_savepoint(step.job_id, trigger, timeout)
                progress = replace(progress, savepoint_path=path)
                store.save(cluster_id, progress)
                store.remember_savepoint(cluster_id, path, self.clock())  # history sees it before retention runs
                summary["savepoint"] = path
            elif step.kind is StepKind.DELETE_DEPLOYMENT:
                self.shut_down(cluster_id, timeout)
            elif step.kind is StepKind.WAIT_CLUSTER_GONE:
                self.kube.wait_gone(cluster_id, timeout)
            elif step.kind is StepKind.DELETE_HA_CONFIGMAPS:
                summary["ha_configmaps_deleted"] = self.kube.delete_ha_configmaps(cluster_id)
            elif step.kind is StepKind.STRIP_JOB_GRAPH:
                summary["job_graph_keys_removed"] = self.kube.strip_job_graph(cluster_id)
                self._check_checkpoint_still_there(cluster_id, step, plan)
            elif step.kind is StepKind.SUBMIT:
                self._check_checkpoint_still_there(cluster_id, step, plan)
                savepoint = step.savepoint_path or (progress.savepoint_path if step.restore in
                                                    (Restore.SAVEPOINT, Restore.CHECKPOINT_PATH) else None)
                if step.restore is Restore.SAVEPOINT and not savepoint:
                    raise ControlPlaneError(f"plan restores a savepoint but none was recorded for {cluster_id}")
                progress = replace(progress, submit_started=True, submitted_restore=step.restore)
                store.save(cluster_id, progress)
                result = self.submit(job, release, savepoint=savepoint, parallelism=parallelism, timeout=timeout)
                summary["restored_from"] = savepoint
                summary["submit_seconds"] = round(result.duration_s, 3)
                restored_checkpoint = step.min_checkpoint_id
            elif step.kind is StepKind.WAIT_RUNNING:
                summary["job_id"] = self.wait_running(cluster_id, timeout).job_id
            elif step.kind is StepKind.WAIT_FIRST_CHECKPOINT:
                summary["first_checkpoint"] = self.wait_first_checkpoint(cluster_id, restored_checkpoint, timeout)
            elif step.kind is StepKind.DISPOSE_OLD_SAVEPOINTS:
                if progress.savepoint_path:  # resumed runs: the savepoint restored from counts as the newest
                    store.remember_savepoint(cluster_id, progress.savepoint_path, self.clock())
                summary["disposed_savepoints"] = self.dispose_old_savepoints(cluster_id, job, step.keep, store)
            on_step(step, "done")
        if progress.savepoint_path:
            store.remember_savepoint(cluster_id, progress.savepoint_path, self.clock())
        store.clear(cluster_id)
        return summary

    def _check_checkpoint_still_there(self, cluster_id: str, step: Step, plan: RedeployPlan) -> None:
        if step.min_checkpoint_id is None:
            return
        ha = obs_parse.parse_ha_config_maps(cluster_id, self.kube.configmaps(cluster_id))
        if ha.latest_checkpoint_id is None or ha.latest_checkpoint_id < step.min_checkpoint_id:
            raise ControlPlaneError(f"HA checkpoint {step.min_checkpoint_id} of {cluster_id} is no longer in the HA "
                                    f"ConfigMaps (found {ha.latest_checkpoint_id}); refusing to submit without state")

    def dispose_old_savepoints(self, cluster_id: str, job: JobSpec, keep: int | None, store: ProgressStore) -> list[str]:
        """Keep the newest `keep` savepoints this project recorded for the job; dispose the rest through Flink."""
        from flink_k8s.core.retention import Savepoint, select_for_disposal

        history = [Savepoint(job=job.name, path=p, created_at=t) for p, t in store.savepoints(cluster_id)]
        doomed = select_for_disposal(history, keep or job.savepoints_to_keep)
        disposed = []
        with self.rest(cluster_id) as rest:
            for sp in doomed:
                try:
                    rest.dispose_savepoint(sp.path)
                except FlinkRestError as exc:
                    log.warning("could not dispose savepoint %s: %s", sp.path, _short(exc))
                    continue
                disposed.append(sp.path)
        store.forget_savepoints(cluster_id, disposed)
        return disposed


def thresholds_for(job: JobSpec) -> HealthThresholds:
    from flink_k8s.core.validation import duration_seconds

    h = job.health
    # Only an explicit checkpoint_max_age: without one, health derives the window from the job's live
    # checkpoint config (what Flink runs), not from the catalogue's (what it says).
    return HealthThresholds.from_seconds(
        max_restarts=h.max_restarts,
        restarts_window=duration_seconds(h.restarts_window),
        checkpoint_max_age=duration_seconds(h.checkpoint_max_age) if h.checkpoint_max_age else None,
        leader_lease_max_age=duration_seconds(h.leader_lease_max_age),
    )


class ProgressStore:
    """Redeploy progress and savepoint history, kept in a ConfigMap beside the cluster.

    Why a ConfigMap: it lives with the cluster (not with one Airflow run), so re-running the DAG — or a
    person with kubectl — sees which savepoint a half-finished redeploy took. It carries no Flink labels,
    so neither Flink nor the HA clean-ups touch it.
    """

    PREFIX = "flink-k8s-airflow-"

    def __init__(self, kube: KubeView) -> None:
        self.kube = kube

    def _name(self, cluster_id: str) -> str:
        return f"{self.PREFIX}{cluster_id}"

    def _read(self, cluster_id: str) -> dict:
        cm = self.kube.configmap(self._name(cluster_id))
        return dict((cm or {}).get("data") or {})

    def _update(self, cluster_id: str, change: Callable[[dict], dict | None]) -> None:
        """One read-modify-write with the ConfigMap's resourceVersion: concurrent writers never lose an update."""
        self.kube.update_configmap(self._name(cluster_id), change,
                                   labels={"app.kubernetes.io/managed-by": "flink-k8s-airflow"})

    def load(self, cluster_id: str) -> RedeployProgress:
        raw = json.loads(self._read(cluster_id).get("progress", "{}"))
        values = {k: raw[k] for k in ("savepoint_trigger_id", "savepoint_path", "submit_started") if k in raw}
        if raw.get("submitted_restore"):  # the planner resumes the waits with the restore that was submitted
            values["submitted_restore"] = Restore(raw["submitted_restore"])
        return RedeployProgress(**values)

    def save(self, cluster_id: str, progress: RedeployProgress) -> None:
        self._update(cluster_id, lambda data: {**data, "progress": json.dumps(progress.__dict__)})

    def clear(self, cluster_id: str) -> None:
        def drop(data: dict) -> dict | None:
            return None if data.pop("progress", None) is None else data
        self._update(cluster_id, drop)

    def savepoints(self, cluster_id: str) -> list[tuple[str, datetime]]:
        raw = json.loads(self._read(cluster_id).get("savepoints", "[]"))
        return [(p, datetime.fromisoformat(t)) for p, t in raw]

    def remember_savepoint(self, cluster_id: str, path: str, when: datetime) -> None:
        def add(data: dict) -> dict | None:
            items = json.loads(data.get("savepoints", "[]"))
            if path in [p for p, _ in items]:
                return None
            items.append([path, when.isoformat()])
            return {**data, "savepoints": json.dumps(items)}
        self._update(cluster_id, add)

    def forget_savepoints(self, cluster_id: str, paths: Iterable[str]) -> None:
        gone = set(paths)
        if not gone:
            return
        def drop(data: dict) -> dict | None:
            items = json.loads(data.get("savepoints", "[]"))
            kept = [i for i in items if i[0] not in gone]
            return None if len(kept) == len(items) else {**data, "savepoints": json.dumps(kept)}
        self._update(cluster_id, drop)


SAVEPOINT_DIR_KEYS = ("execution.checkpointing.savepoint-dir", "state.savepoints.dir")


def _has_savepoint_dir(rest: FlinkRestClient) -> bool:
    """Whether the running cluster has a default savepoint directory (the one its catalogue entry rendered).

    Preferred over sending a directory: the cluster's own config is what the job was deployed with.
    """
    try:
        entries = rest.request("GET", "/jobmanager/config") or []
    except FlinkRestError:
        return False
    return any(e.get("key") in SAVEPOINT_DIR_KEYS and e.get("value") for e in entries)


def _root_cause(rest: FlinkRestClient, job: JobFacts) -> str | None:
    try:
        entry = rest.root_cause(job.job_id)
    except (FlinkRestError, JobNotFound):
        return None
    return (entry.root_cause or entry.exception_name) if entry else None


def _root_cause_suffix(rest: FlinkRestClient, job: JobFacts) -> str:
    cause = _root_cause(rest, job)
    return f"; root cause: {cause}" if cause else ""


def _short(exc: BaseException, limit: int = 300) -> str:
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else exc.__class__.__name__)[:limit]
