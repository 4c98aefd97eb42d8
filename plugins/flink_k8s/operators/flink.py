"""Airflow operators for Flink native-Kubernetes jobs: thin wiring over `FlinkControlPlane` and `core/`.

Every operator validates its inputs before touching anything, reads the connection lazily, and leaves the
decisions (what a redeploy must do, is a job healthy, is a wait over) to pure functions in `core/`.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.bases.resumablejobmixin import ResumableJobMixin

from flink_k8s import jobs as catalogue_access

MAX_CLUSTER_ID = 45  # Flink's limit for kubernetes.cluster-id


def run_cluster_id(base: str, dag_id: str, run_id: str) -> str:
    """Per-run cluster id of a batch job: `<base[:36]>-<8 hex of sha1(dag_id/run_id)>`.

    Deterministic, so a retry of the same run finds the cluster it already submitted instead of submitting
    twice; unique per run, so two runs never share (or delete) each other's cluster or HA state.
    """
    digest = hashlib.sha1(f"{dag_id}/{run_id}".encode()).hexdigest()[:8]
    return f"{base[:MAX_CLUSTER_ID - 9].rstrip('-')}-{digest}"


class FlinkJobOperatorBase(BaseOperator):
    """Shared wiring: the catalogue job, its connection/namespace, and the control plane."""

    def __init__(
        self,
        *,
        job: str,
        catalogue: str | None = None,
        kubernetes_conn_id: str | None = None,
        flink_home: str | None = None,
        rest_access: dict | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job = job
        self.catalogue = catalogue
        self.kubernetes_conn_id = kubernetes_conn_id
        self.flink_home = flink_home
        self.rest_access = rest_access

    @cached_property
    def job_spec(self):
        return catalogue_access.load_job(self.job, self.catalogue)

    @cached_property
    def hook(self):
        from flink_k8s.hooks.flink import FlinkKubernetesHook

        spec = self.job_spec
        return FlinkKubernetesHook(self.kubernetes_conn_id or spec.kubernetes_conn_id, spec.namespace,
                                   flink_home=self.flink_home, rest_access=self.rest_access)

    @property
    def control_plane(self):
        return self.hook.control_plane

    def _trigger_kwargs(self, cluster_id: str, check: dict, poll_interval: float, timeout: float) -> dict:
        spec = self.job_spec
        return {"cluster_id": cluster_id, "namespace": spec.namespace,
                "kubernetes_conn_id": self.kubernetes_conn_id or spec.kubernetes_conn_id,
                "poll_interval": poll_interval, "deadline": time.time() + timeout,
                "rest_access": self.hook.rest_access, "check": check}


def holder_run_id(context) -> str:
    """Who holds the job in its ledger: the DAG run and task (a person reading a refusal finds it in the UI)."""
    ti = context.get("ti") if context else None
    return f"{dag_run_id(context)}/{getattr(ti, 'task_id', None) or '-'}"


def dag_run_id(context) -> str:
    """The DAG run a release-history entry belongs to: `<dag id>/<run id>` (its tasks share it)."""
    ti = context.get("ti") if context else None
    run_id = context.get("run_id") if context else None
    return f"{getattr(ti, 'dag_id', None) or 'manual'}/{run_id or 'no-run'}"


class FlinkSubmitOperator(ResumableJobMixin, FlinkJobOperatorBase):
    """Submit a catalogue job with the real `flink` CLI and wait for it (batch: the end; streaming: RUNNING).

    Batch jobs run on a per-run cluster id (see `run_cluster_id`) with
    `execution.shutdown-on-application-finish=false`, so the JobManager stays up to report the final state
    and Flink's root exception; the operator then deletes the cluster. Retries re-attach to the cluster
    the first try submitted (task state store + the deterministic id) instead of submitting twice.

    `on_kill`: the CLI process group is killed; a batch cluster of this run is deleted (no orphan cluster);
    a streaming cluster is left as it is (the next redeploy observes it).
    """

    template_fields: Sequence[str] = ("release", "parallelism", "program_args")
    external_id_key = "flink_cluster_id"
    ui_color = "#e6f1f2"

    def __init__(
        self,
        *,
        release: str | None = None,
        parallelism: int | str | None = None,
        program_args: list[str] | None = None,
        deferrable: bool = True,
        wait_for_checkpoint: bool = False,
        poll_interval: float = 5.0,
        timeout: float = 24 * 3600,
        submit_timeout: float = 600,
        delete_batch_cluster: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.release = release
        self.parallelism = parallelism
        self.program_args = program_args
        self.deferrable = deferrable
        self.wait_for_checkpoint = wait_for_checkpoint
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.submit_timeout = submit_timeout
        self.delete_batch_cluster = delete_batch_cluster
        self._submitted_at: float | None = None

    # -- inputs ----------------------------------------------------------------------------------------------

    def _checked(self):
        from dataclasses import replace

        from flink_k8s.core.run_inputs import validate_submit_overrides

        spec = self.job_spec
        release, parallelism, args = validate_submit_overrides(spec, self.release, self.parallelism,
                                                               self.program_args)
        if args is not None:
            spec = replace(spec, program_args=args)
        return spec, release, parallelism

    def _cluster_id(self, context) -> str:
        spec = self.job_spec
        base = spec.cluster_id or spec.name
        if spec.kind == "batch":
            return run_cluster_id(base, context["dag"].dag_id, context["run_id"])
        return base

    def execute(self, context):
        spec, release, parallelism = self._checked()  # bad input: fail before any side effect
        self._inputs = (spec, release, parallelism)
        cluster_id = self._last_cluster_id = self._cluster_id(context)
        self.control_plane.submit_argv(spec, release, cluster_id=cluster_id, parallelism=parallelism,
                                       extra_conf=self._extra_conf(spec))  # validates the command, runs nothing
        context["ti"].xcom_push(key="cluster_id", value=cluster_id)
        return self.execute_resumable(context)

    @staticmethod
    def _extra_conf(spec) -> dict[str, str]:
        # Batch: keep the JobManager after the job ends so its final state and exceptions can be read.
        return {"execution.shutdown-on-application-finish": "false"} if spec.kind == "batch" else {}

    # -- ResumableJobMixin -----------------------------------------------------------------------------------

    def submit_job(self, context) -> str:
        spec, release, parallelism = self._inputs
        cluster_id = self._cluster_id(context)
        self.control_plane.submit_job(spec, release, cluster_id=cluster_id, parallelism=parallelism,
                                      extra_conf=self._extra_conf(spec), timeout=self.submit_timeout,
                                      logger=self.log)
        return cluster_id

    def _want(self):
        from flink_k8s.core.lifecycle import want_of

        return want_of(self.job_spec.kind)

    def get_job_status(self, external_id, context) -> str:
        return self.control_plane.check_job(external_id, self._want()).status

    def is_job_active(self, status: str) -> bool:
        return status not in ("FINISHED", "FAILED", "CANCELED", "MISSING")

    def is_job_succeeded(self, status: str) -> bool:
        return status == "FINISHED" if self.job_spec.kind == "batch" else status == "RUNNING"

    def poll_until_complete(self, external_id, context):
        check = self.control_plane.check_job(external_id, self._want())
        if self.deferrable:
            if not check.done:
                from flink_k8s.triggers.flink import FlinkJobTrigger

                self.defer(trigger=FlinkJobTrigger(**self._trigger_kwargs(
                    external_id, {"want": self._want().value}, self.poll_interval, self.timeout)),
                    method_name="execute_complete")
            return self._finish(check)
        deadline = time.monotonic() + self.timeout
        while not check.done:
            if time.monotonic() > deadline:
                return self._finish(check, timed_out=True)
            self.log.info("%s: %s", external_id, check.message)
            time.sleep(self.poll_interval)  # the poll interval between two reads, not a synchronisation
            check = self.control_plane.check_job(external_id, self._want())
        return self._finish(check)

    def get_job_result(self, external_id, context):
        return self._finish(self.control_plane.check_job(external_id, self._want()))

    def execute_complete(self, context, event: dict):
        from flink_k8s.core.lifecycle import JobCheck

        return self._finish(JobCheck.from_event(event), timed_out=event.get("status") == "timeout")

    # -- outcome -----------------------------------------------------------------------------------------------

    def _finish(self, check, timed_out: bool = False):
        from flink_k8s.core.lifecycle import after_wait

        spec = self.job_spec
        verdict = after_wait(spec.kind, check, timed_out, self.delete_batch_cluster, spec.name)
        if verdict.failure is None and spec.kind == "streaming" and self.wait_for_checkpoint:
            self.control_plane.wait_first_checkpoint(check.cluster_id, None, timeout=self.timeout)
        if verdict.clean_up:
            self.control_plane.clean_up(check.cluster_id, timeout=120, logger=self.log)
        if verdict.failure is not None:
            raise RuntimeError(verdict.failure)
        return {"cluster_id": check.cluster_id, "job_id": check.job_id, "final_state": check.state,
                "duration_s": _duration(check.start_time)}

    def on_kill(self) -> None:
        cli = self.hook.control_plane.cli if "hook" in self.__dict__ else None
        if cli is not None:
            cli.kill()
        cluster_id = getattr(self, "_last_cluster_id", None)
        if cluster_id and self.job_spec.kind == "batch" and self.delete_batch_cluster:
            self.control_plane.clean_up(cluster_id, timeout=60, logger=self.log)


def _duration(start: datetime | None) -> float | None:
    return round((datetime.now(UTC) - start).total_seconds(), 3) if start else None


class FlinkListOperator(FlinkJobOperatorBase):
    """The jobs of the cluster (id, name, state) through REST, to XCom."""

    def execute(self, context):
        cluster_id = self.job_spec.cluster_id or self.job_spec.name
        with self.control_plane.rest(cluster_id) as rest:
            return [{"job_id": j.job_id, "name": j.name, "state": j.state} for j in rest.jobs()]


class FlinkStopOperator(FlinkJobOperatorBase):
    """Stop the running job with a savepoint (REST stop-with-savepoint); the savepoint path goes to XCom."""

    template_fields: Sequence[str] = ("savepoint_dir",)

    def __init__(self, *, savepoint_dir: str | None = None, drain: bool = False, timeout: float = 600,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.savepoint_dir, self.drain, self.timeout = savepoint_dir, drain, timeout

    def execute(self, context):
        result = self.control_plane.stop_job(self.job_spec, holder_run_id(context), savepoint_dir=self.savepoint_dir,
                                             drain=self.drain, timeout=self.timeout, logger=self.log)
        self.log.info("Job %s stopped with savepoint %s (recorded in the job's ledger: the next savepoint "
                      "redeploy restores it)", result.plan.steps[0].job_id, result.savepoint)
        return result.savepoint


class FlinkCancelOperator(FlinkJobOperatorBase):
    """Cancel the job WITHOUT a savepoint. Refused for streaming jobs unless `allow_state_loss=True`."""

    def __init__(self, *, allow_state_loss: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.allow_state_loss = allow_state_loss

    def execute(self, context):
        result = self.control_plane.cancel_job(self.job_spec, allow_state_loss=self.allow_state_loss,
                                               logger=self.log)
        return result.job_id


class FlinkRedeployOperator(FlinkJobOperatorBase):
    """Validate → observe → plan (logged as a table) → execute the planner's steps (each idempotent).

    Conf values arrive templated from the DAG's params; they are validated again here because a conf sent
    through the REST API skips the form. A failure after the old job stopped names the savepoint to resume
    from; progress is kept in a ConfigMap beside the cluster, so re-running the DAG resumes.
    """

    template_fields: Sequence[str] = ("conf",)

    def __init__(self, *, conf: dict | str | None = None, timeout: float = 600, dry_run_only: bool = False,
                 job: str | None = None, **kwargs: Any) -> None:
        super().__init__(job=job or "", **kwargs)
        self.conf = conf  # None: the DAG run's params (form values, or the conf sent through the API)
        self.timeout = timeout
        self.dry_run_only = dry_run_only

    def execute(self, context):
        from flink_k8s.core.plan_table import render_plan
        from flink_k8s.core.redeploy import RedeployRequest, UpgradeMode
        from flink_k8s.core.run_inputs import validate_redeploy

        conf = self.conf
        if conf is None:
            conf = dict(context["params"])
        if isinstance(conf, str):
            conf = json.loads(conf)
        inp = validate_redeploy(conf, catalogue_access.load(self.catalogue))  # before any side effect
        self.job = inp.job.name
        self.__dict__.pop("job_spec", None)
        spec = inp.job
        cluster_id = spec.cluster_id or spec.name
        cp = self.control_plane
        request = RedeployRequest(
            cluster_id=cluster_id, release=inp.release, mode=UpgradeMode(inp.upgrade_mode),
            allow_state_loss=inp.allow_state_loss, allow_fallback_to_last_state=inp.allow_fallback_to_last_state,
            restore_from=inp.restore_from, savepoint_dir=spec.savepoint_dir, keep_savepoints=spec.savepoints_to_keep,
            target_image=_target_image(spec, inp.release))

        def show(plan) -> None:
            self.log.info("Redeploy plan for %s:\n%s", spec.name, render_plan(plan))

        if inp.dry_run or self.dry_run_only:
            plan = cp.plan_redeploy(request)
            show(plan)
            return {"dry_run": True, "steps": [s.kind.value for s in plan.steps], "safety": plan.safety.value,
                    "table": render_plan(plan)}
        from flink_k8s.core.ledger import JobHeld

        try:
            result = cp.redeploy(spec, request, holder_run_id(context), parallelism=inp.parallelism,
                                 timeout=self.timeout, logger=self.log, show_plan=show,
                                 dag_run_id=dag_run_id(context))
        except JobHeld:
            raise
        except Exception as exc:
            path = cp.ledger(cluster_id).progress.savepoint_path
            hint = (f" The old job was stopped with savepoint {path}; re-run this DAG with the same job to "
                    f"resume from it (or pass restore_from={path})." if path else "")
            raise RuntimeError(f"redeploy of {spec.name} failed: {exc}.{hint}") from exc
        return result.summary()


def _target_image(spec, release: str) -> str | None:
    from flink_k8s.core.references import substitute_release

    return substitute_release(spec.image, release) if spec.image else None


class FlinkHealthOperator(FlinkJobOperatorBase):
    """Health verdicts of several catalogue jobs at once (concurrent); fails when any is UNHEALTHY/MISSING."""

    def __init__(self, *, jobs: list[str] | None = None, fail_on: str = "UNHEALTHY", **kwargs: Any) -> None:
        super().__init__(job=(jobs or [""])[0], **kwargs)
        self.jobs = jobs
        self.fail_on = fail_on

    def execute(self, context):
        from flink_k8s.core.health import Verdict, figure_to_plain
        from flink_k8s.core.plan_table import render_verdicts

        catalogue = catalogue_access.load(self.catalogue)
        specs = [catalogue.job(n) for n in self.jobs] if self.jobs else catalogue.streaming_jobs()
        reports: dict[str, Any] = {}
        by_target: dict[tuple[str, str], list] = {}
        for spec in specs:
            by_target.setdefault((self.kubernetes_conn_id or spec.kubernetes_conn_id, spec.namespace), []).append(spec)
        from flink_k8s.hooks.flink import FlinkKubernetesHook

        releases: dict[str, str] = {}
        for (conn_id, namespace), group in by_target.items():
            hook = FlinkKubernetesHook(conn_id, namespace, flink_home=self.flink_home, rest_access=self.rest_access)
            reports.update(hook.control_plane.health_many(group))
            releases.update(hook.control_plane.current_releases(group))
        self.log.info("Health of %d streaming jobs:\n%s", len(reports), render_verdicts(reports.items()))
        self.log.info("Current releases (release history):\n%s",
                      "\n".join(f"  {name}: {text}" for name, text in releases.items()))
        limit = Verdict[self.fail_on]
        bad = {name: r for name, r in reports.items() if r.verdict >= limit}
        result = {name: {"verdict": r.verdict.name, "reasons": [x.message for x in r.reasons],
                         "figures": [figure_to_plain(f) for f in r.figures], "release": releases.get(name)}
                  for name, r in reports.items()}
        context["ti"].xcom_push(key="verdicts", value=result)
        if bad:
            raise RuntimeError("unhealthy: " + "; ".join(f"{n}: {r.verdict.name} ({r.summary})"
                                                         for n, r in bad.items()))
        return result
