"""The control plane of one namespace: observe, wait, and one public method per lifecycle action.

It composes the clients (Kubernetes API, Flink REST, Flink CLI) with the pure decisions in `core/`; it holds
no Airflow imports, so `python -m flink_k8s status|health|list` and the Airflow hook share it. Decisions
(health verdicts, lifecycle plans in `core/lifecycle.py` and `core/redeploy.py`) are never made here; the
plans are carried out by `flink_k8s.executor`, and the job's ledger is read and written by `ledger_store`.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from flink_k8s.clients.flink_cli import CliResult, FlinkCli
from flink_k8s.clients.flink_rest import FlinkRestClient, FlinkRestError, JobNotFound, RestRefused
from flink_k8s.clients.kube import KubeError, KubeView
from flink_k8s.core import observations as obs_parse
from flink_k8s.core.catalogue import JobSpec
from flink_k8s.core.flink_config import build_argv
from flink_k8s.core.health import HealthReport, HealthThresholds, Reason, Verdict, evaluate
from flink_k8s.core.job_wait import Want
from flink_k8s.core.ledger import Action, JobLedger
from flink_k8s.core.lifecycle import JobCheck, check_job, current_job, format_command
from flink_k8s.core.observations import CheckpointFacts, ClusterObservation, JobFacts
from flink_k8s.core.redeploy import RedeployPlan, RedeployRequest, Step

if TYPE_CHECKING:  # pragma: no cover
    from flink_k8s.executor import ActionResult, StepResult
    from flink_k8s.ledger_store import LedgerStore
    from flink_k8s.releases import RollbackResult

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


class WaitReport:
    """Logs a wait's progress at a bounded rate: what it sees every `every` seconds, and one warning once
    `warn_at` of the time is used (the only point where a person may want to look)."""

    def __init__(self, what: str, cluster_id: str, timeout: float, every: float = 15.0, warn_at: float = 0.8,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.what, self.cluster_id, self.timeout, self.every, self.warn_at = what, cluster_id, timeout, every, warn_at
        self.clock = clock
        self.started = self.last = clock()
        self.warned = False

    def seen(self, state: str) -> None:
        now = self.clock()
        elapsed = now - self.started
        if not self.warned and elapsed >= self.warn_at * self.timeout:
            self.warned, self.last = True, now
            log.warning("waiting for %s on %s: %s, %.0f s of %.0f s used", self.what, self.cluster_id, state,
                        elapsed, self.timeout)
        elif now - self.last >= self.every:
            self.last = now
            log.info("waiting for %s on %s: %s, %.0f s", self.what, self.cluster_id, state, elapsed)


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
            assert access.url_template is not None  # RestAccess requires it with mode 'url'
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

    def _observe_rest(self, cluster_id: str) -> tuple[JobFacts | None, CheckpointFacts | None]:
        with self.rest(cluster_id) as rest:
            job = current_job(rest.jobs())
            if job is None:
                return None, None
            return rest.job(job.job_id), rest.checkpoints(job.job_id)

    def current_job(self, cluster_id: str) -> JobFacts | None:
        """The cluster's job (`core.lifecycle.current_job` over Flink's job list); FlinkRestError if unreachable."""
        with self.rest(cluster_id) as rest:
            return current_job(rest.jobs())

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

    def prepare_submit(self, job: JobSpec, release: str | None, *, savepoint: str | None = None,
                       cluster_id: str | None = None, parallelism: int | None = None,
                       extra_conf: Mapping[str, str] | None = None) -> list[str]:
        """The argv of one submission, with a result-store path of its own (see below)."""
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
        return self.submit_argv(job, release, savepoint=savepoint, cluster_id=cluster_id,
                                parallelism=parallelism, extra_conf=conf)

    def show_command(self, argv: list[str]) -> str:
        """The command as the log shows it: masked, one option per line."""
        return format_command([self.cli.masker.mask(a) for a in argv] if self.cli else argv)

    def run_cli(self, argv: list[str], timeout: float = 600) -> CliResult:
        if self.cli is None:
            raise ControlPlaneError("no Flink CLI configured: set FLINK_HOME or pass flink_home")
        return self.cli.run(argv, timeout=timeout)

    def submit(self, job: JobSpec, release: str | None, *, savepoint: str | None = None,
               cluster_id: str | None = None, parallelism: int | None = None,
               extra_conf: Mapping[str, str] | None = None, timeout: float = 600) -> CliResult:
        """Run one submission now (no plan, no ledger): tests and the demo; DAGs go through `submit_job`."""
        return self.run_cli(self.prepare_submit(job, release, savepoint=savepoint, cluster_id=cluster_id,
                                                parallelism=parallelism, extra_conf=extra_conf), timeout)

    # -- waiting ---------------------------------------------------------------------------------------------

    def wait_job(self, cluster_id: str, accept: Callable[[JobFacts], bool], timeout: float, what: str,
                 poll: float = 1.0, fail_on_terminal: bool = True) -> JobFacts:
        """Poll the cluster's job until `accept(job)`; a terminal job that is not accepted fails at once.

        Logs what it sees at most every 15 s ("JobManager not answering yet, 12 s"), a warning once 80 % of
        the time is used: a JobManager that is still starting is expected, not a failure."""
        deadline = time.monotonic() + timeout
        last = "no job yet"
        gone_since: float | None = None
        gone_grace = 30.0  # a cluster just submitted may take a moment to show its Deployment
        report = WaitReport(what, cluster_id, timeout)
        while True:
            try:
                with self.rest(cluster_id) as rest:
                    job = current_job(rest.jobs())
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
                last = "JobManager not answering yet"
                log.debug("REST of %s not answering: %s", cluster_id, _short(exc))
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
            report.seen(last)
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
                log.debug("checkpoints of %s not readable yet: %s", cluster_id, _short(exc))
            if time.monotonic() > deadline:
                raise WaitTimeout(f"no completed checkpoint after {after_id} within {timeout:.0f}s on {cluster_id}")
            time.sleep(poll)

    def check_job(self, cluster_id: str, want: Want | str) -> JobCheck:
        """One poll of a wait: observe, then the shared pure decision (`core.lifecycle.check_job`)."""
        present = self.kube.cluster_exists(cluster_id)
        job, cause, rest_error, refused = None, None, None, None
        if present:
            try:
                with self.rest(cluster_id) as rest:
                    job = current_job(rest.jobs())
                    if job is not None and job.state == "FAILED":
                        cause = _root_cause(rest, job)
            except RestRefused as exc:
                refused = _short(exc, 800)  # the API server's reason (who may not do what) must survive
            except (FlinkRestError, KubeError) as exc:
                rest_error = _short(exc)
        return check_job(cluster_id, Want(want), job, present, rest_error, refused, cause)

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

    # -- lifecycle actions: decided in core/, carried out by flink_k8s.executor ----------------------------------

    @property
    def ledger_store(self) -> LedgerStore:
        from flink_k8s.ledger_store import LedgerStore

        return LedgerStore(self.kube, self.clock)

    def ledger(self, cluster_id: str) -> JobLedger:
        """The job's ledger (progress, savepoint and release history, the run holding it), read once."""
        return self.ledger_store.load(cluster_id)

    def submit_job(self, job: JobSpec, release: str | None, *, cluster_id: str, parallelism: int | None = None,
                   extra_conf: Mapping[str, str] | None = None, timeout: float = 600,
                   logger: logging.Logger = log) -> ActionResult:
        """Submit, or re-attach to this run's batch cluster; refused (`Refused`) for a streaming job that runs."""
        from flink_k8s import executor
        from flink_k8s.core.lifecycle import plan_submit

        plan = plan_submit(cluster_id, job.kind, self.kube.cluster_exists(cluster_id), self.namespace)
        return executor.execute(executor.Run(self, plan, job, release, parallelism, dict(extra_conf or {}), timeout,
                                             logger=logger), log_steps(logger))

    def clean_up(self, cluster_id: str, timeout: float = 120, logger: logging.Logger = log) -> ActionResult:
        """Delete a (batch) cluster: JobManager first, Deployment, wait until gone, HA ConfigMaps."""
        from flink_k8s import executor
        from flink_k8s.core.lifecycle import plan_cleanup

        return executor.execute(executor.Run(self, plan_cleanup(cluster_id), timeout=timeout, logger=logger),
                                log_steps(logger))

    def stop_job(self, job: JobSpec, run_id: str, *, savepoint_dir: str | None = None, drain: bool = False,
                 timeout: float = 600, logger: logging.Logger = log) -> ActionResult:
        """Stop the RUNNING job with a savepoint, recorded in the job's ledger like a redeploy's (the next
        redeploy restores it; retention counts it). `Refused` when no job runs; `JobHeld` during another action."""
        from flink_k8s import executor
        from flink_k8s.core.lifecycle import plan_stop

        cluster_id = job.cluster_id or job.name
        session = self.ledger_store.begin(cluster_id, run_id, Action.STOP, hold_for(timeout))
        try:
            plan = plan_stop(cluster_id, self.current_job(cluster_id), session.ledger.progress, savepoint_dir,
                             drain, default_dir=job.savepoint_dir)
        except BaseException:
            session.end()
            raise
        return executor.execute(executor.Run(self, plan, job, timeout=timeout, session=session, logger=logger),
                                log_steps(logger))

    def cancel_job(self, job: JobSpec, *, allow_state_loss: bool = False, logger: logging.Logger = log
                   ) -> ActionResult:
        """Cancel without a savepoint (`Refused` for a streaming job unless `allow_state_loss`)."""
        from flink_k8s import executor
        from flink_k8s.core.lifecycle import plan_cancel, refuse_state_loss

        refuse_state_loss(job.kind, allow_state_loss, job.name)  # before the first request
        cluster_id = job.cluster_id or job.name
        plan = plan_cancel(cluster_id, job.kind, allow_state_loss, self.current_job(cluster_id), job.name)
        return executor.execute(executor.Run(self, plan, job, logger=logger), log_steps(logger))

    def plan_redeploy(self, request: RedeployRequest, ledger: JobLedger | None = None) -> RedeployPlan:
        """Observe once, read the ledger once (unless given), plan (pure). Nothing changes."""
        from flink_k8s.core.redeploy import plan_redeploy

        progress = (ledger or self.ledger(request.cluster_id)).progress
        return plan_redeploy(self.observe(request.cluster_id), request, progress)

    def redeploy(self, job: JobSpec, request: RedeployRequest, run_id: str, *, parallelism: int | None = None,
                 timeout: float = 600, logger: logging.Logger = log,
                 show_plan: Callable[[RedeployPlan], None] = lambda plan: None,
                 dag_run_id: str | None = None) -> ActionResult:
        """Hold the job (`JobHeld` names the run holding it), plan from one observation and the ledger read,
        execute; each step records into the ledger before it changes the world, so a re-run resumes. With
        `dag_run_id` the deployment enters the job's release history (`flink_k8s.releases`)."""
        from flink_k8s import releases

        return releases.redeploy(self, job, request, run_id, parallelism=parallelism, timeout=timeout,
                                 logger=logger, show_plan=show_plan, dag_run_id=dag_run_id)

    def current_releases(self, jobs: Iterable[JobSpec]) -> dict[str, str]:
        """Job name -> its current release from the history ("release 7 (image …, since …)"), or why unknown."""
        from flink_k8s import releases

        return releases.current_releases(self, jobs)

    def rollback(self, job: JobSpec, dag_run_id: str, run_id: str, *, timeout: float = 600,
                 logger: logging.Logger = log) -> RollbackResult:
        """Roll this DAG run's unhealthy release back to the previous one from the savepoint taken before the
        upgrade (`core.rollback` decides; a re-run continues a rollback that stopped)."""
        from flink_k8s import releases

        return releases.roll_back(self, job, dag_run_id, run_id, timeout=timeout, logger=logger)

    def ha_latest_checkpoint(self, cluster_id: str) -> int | None:
        return obs_parse.parse_ha_config_maps(cluster_id, self.kube.configmaps(cluster_id)).latest_checkpoint_id

    def has_savepoint_dir(self, rest: FlinkRestClient) -> bool:
        """Whether the running cluster has a default savepoint directory (the one its catalogue entry rendered).

        Preferred over sending a directory: the cluster's own config is what the job was deployed with.
        """
        try:
            entries = rest.request("GET", "/jobmanager/config") or []
        except FlinkRestError:
            return False
        return any(e.get("key") in SAVEPOINT_DIR_KEYS and e.get("value") for e in entries)


def hold_for(timeout: float) -> timedelta:
    """How long a hold outlives its last write: the longest step (timeout) plus a margin."""
    return timedelta(seconds=max(timeout, 60) * 2)


def log_steps(logger: logging.Logger) -> Callable[[Step, StepResult | None], None]:
    def on_step(step: Step, result: StepResult | None) -> None:
        if result is None:
            logger.info("start %s: %s", step.kind.value, step.detail)
        else:
            logger.info("%s", result.line())
    return on_step


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


SAVEPOINT_DIR_KEYS = ("execution.checkpointing.savepoint-dir", "state.savepoints.dir")


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
