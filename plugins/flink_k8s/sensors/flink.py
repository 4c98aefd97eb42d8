"""Sensors: wait for a job state or a health verdict, poking with the same checks the triggers run."""

from __future__ import annotations

import time
from typing import Any

from airflow.sdk import BaseSensorOperator

from flink_k8s.operators.flink import FlinkJobOperatorBase


class _FlinkSensor(BaseSensorOperator, FlinkJobOperatorBase):
    template_fields = ("job", "cluster_id")

    def __init__(self, *, deferrable: bool = True, cluster_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.deferrable = deferrable
        self.cluster_id = cluster_id

    @property
    def target_cluster(self) -> str:
        return self.cluster_id or self.job_spec.cluster_id or self.job_spec.name

    def _check(self) -> dict:
        raise NotImplementedError

    def _trigger(self):
        raise NotImplementedError

    def execute(self, context):
        if not self.deferrable:
            return super().execute(context)
        result = self._check()
        if result.get("done"):
            return self._finish(result)
        self.defer(trigger=self._trigger(), method_name="execute_complete")

    def poke(self, context) -> bool:
        result = self._check()
        if result.get("done"):
            self._finish(result)
            return True
        self.log.info("%s: %s", self.target_cluster, result.get("message"))
        return False

    def execute_complete(self, context, event: dict):
        if event.get("status") == "timeout":
            raise RuntimeError(f"{self.task_id}: timed out on {self.target_cluster}: {event.get('message')}")
        return self._finish(event)

    def _finish(self, result: dict):
        return result


class FlinkJobStateSensor(_FlinkSensor):
    """Waits for the cluster's job: `want` = running | finished | terminal. A job ending otherwise fails the task."""

    def __init__(self, *, want: str = "running", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.want = want

    def _check(self) -> dict:
        return self.control_plane.check_job(self.target_cluster, self.want).to_event()

    def _trigger(self):
        from flink_k8s.triggers.flink import FlinkJobTrigger

        return FlinkJobTrigger(**self._trigger_kwargs(self.target_cluster, {"want": self.want}, self.poke_interval,
                                                      self.timeout))

    def _finish(self, result: dict):
        from flink_k8s.core.job_wait import Outcome
        from flink_k8s.core.lifecycle import JobCheck

        check = JobCheck.from_event(result)  # the trigger's event and the poke's check, read the same way
        if check.outcome is Outcome.FAILURE:
            raise RuntimeError(f"{self.target_cluster}: {check.message}"
                               + (f"; root cause: {check.root_cause}" if check.root_cause else ""))
        return {"cluster_id": check.cluster_id, "job_id": check.job_id, "state": check.state}


class FlinkHealthSensor(_FlinkSensor):
    """Waits until the job's health verdict is at most `max_verdict` (default HEALTHY).

    `bounded_by_rollback`: for a job with `rollback.enabled`, wait at most its `rollback.healthy_within` (the
    new release's time to become HEALTHY; the rollback tasks follow a timeout) instead of `timeout`."""

    def __init__(self, *, max_verdict: str = "HEALTHY", bounded_by_rollback: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_verdict = max_verdict
        self.bounded_by_rollback = bounded_by_rollback

    def execute(self, context):
        from flink_k8s.core.validation import duration_seconds

        rollback = self.job_spec.rollback
        if self.bounded_by_rollback and rollback.enabled:
            self.timeout = duration_seconds(rollback.healthy_within)
            self.log.info("Rollback is on for %s: waiting at most rollback.healthy_within=%s for HEALTHY",
                          self.job, rollback.healthy_within)
        return super().execute(context)

    def _check(self) -> dict:
        from flink_k8s.core.health import Verdict

        report = self.control_plane.health(self.job_spec)
        return {"done": report.verdict <= Verdict[self.max_verdict], "verdict": report.verdict.name,
                "message": report.summary, "checked_at": time.time()}

    def _trigger(self):
        from flink_k8s.triggers.flink import FlinkHealthTrigger

        return FlinkHealthTrigger(**self._trigger_kwargs(
            self.target_cluster, {"job": self.job, "catalogue": self.catalogue, "max_verdict": self.max_verdict},
            self.poke_interval, self.timeout))
