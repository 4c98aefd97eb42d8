"""One polling trigger for every Flink wait (job state, health); subclasses are a few lines of settings.

The trigger serializes ids and plain values only: the connection id, namespace, cluster id, deadline as an
absolute epoch (so a triggerer restart neither extends nor resets it). Each poll runs the same synchronous
check the operators use, in a worker thread, so the sync and deferrable paths share every decision.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent


class FlinkPollTrigger(BaseTrigger):
    def __init__(
        self,
        cluster_id: str,
        namespace: str,
        kubernetes_conn_id: str = "kubernetes_default",
        poll_interval: float = 5.0,
        deadline: float | None = None,
        rest_access: dict | None = None,
        check: dict | None = None,
    ) -> None:
        super().__init__()
        self.cluster_id = cluster_id
        self.namespace = namespace
        self.kubernetes_conn_id = kubernetes_conn_id
        self.poll_interval = poll_interval
        self.deadline = deadline
        self.rest_access = rest_access
        self.check = dict(check or {})

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{self.__class__.__module__}.{self.__class__.__qualname__}", {
            "cluster_id": self.cluster_id,
            "namespace": self.namespace,
            "kubernetes_conn_id": self.kubernetes_conn_id,
            "poll_interval": self.poll_interval,
            "deadline": self.deadline,
            "rest_access": self.rest_access,
            "check": self.check,
        })

    def _control_plane(self):
        from flink_k8s.hooks.flink import FlinkKubernetesHook

        return FlinkKubernetesHook(self.kubernetes_conn_id, self.namespace, rest_access=self.rest_access).control_plane

    def poll_once(self) -> dict:
        """Synchronous check; returns a dict with `done` (bool). Overridden by subclasses."""
        raise NotImplementedError

    async def run(self):
        while True:
            try:
                result = await asyncio.to_thread(self.poll_once)
            except Exception as exc:  # noqa: BLE001 - reported to the task, which decides
                result = {"done": False, "message": f"poll failed: {exc.__class__.__name__}: {str(exc)[:300]}"}
            if result.get("done"):
                yield TriggerEvent({**result, "status": "done"})
                return
            if self.deadline is not None and time.time() > self.deadline:
                yield TriggerEvent({**result, "status": "timeout", "cluster_id": self.cluster_id})
                return
            self.log.info("%s: %s", self.cluster_id, result.get("message"))
            await asyncio.sleep(self.poll_interval)


class FlinkJobTrigger(FlinkPollTrigger):
    """Waits for a job outcome: `check={"want": "finished"|"running"|"terminal"}`."""

    def poll_once(self) -> dict:
        return self._control_plane().check_job(self.cluster_id, self.check.get("want", "terminal")).to_event()


class FlinkHealthTrigger(FlinkPollTrigger):
    """Waits until the job's health verdict is at most `check["max_verdict"]` (default HEALTHY).

    `check["job"]` names the catalogue job (thresholds come from the catalogue, read where the trigger runs).
    """

    def poll_once(self) -> dict:
        from flink_k8s.core.health import Verdict
        from flink_k8s.jobs import load_job

        job = load_job(self.check["job"], self.check.get("catalogue"))
        report = self._control_plane().health(job)
        limit = Verdict[self.check.get("max_verdict", "HEALTHY")]
        return {"done": report.verdict <= limit, "verdict": report.verdict.name, "message": report.summary,
                "reasons": [f"{r.severity.name}: {r.message}" for r in report.reasons]}
