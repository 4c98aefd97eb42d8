"""The demo's five flows, each a real DAG run triggered through the Airflow REST API, with the facts that
show it did the real job (job states, per-key counts across a savepoint restore, health verdicts, the
Pushgateway groups before and after). A flow never raises: its failure is a result, so the summary lists
every flow and `DEMO_EXIT=1` can exit non-zero.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from demo_airflow import AirflowApi, RunResult
from demo_stack import NAMESPACE, Stack

from tests.fixtures.procs import wait_until
from tests.fixtures.test_jobs import read_batch_result, read_counts

BATCH_DAG = "flink_batch__batch-job"
REDEPLOY_DAG = "flink_streaming_redeploy"
HEALTH_DAG = "flink_health_monitor"
CLEANUP_DAG = "pushgateway_cleanup"
DAGS = (BATCH_DAG, REDEPLOY_DAG, HEALTH_DAG, CLEANUP_DAG)
STREAMING_JOB = "streaming-job"
RUN_TIMEOUT = float(os.environ.get("DEMO_RUN_TIMEOUT", "900"))
CLEANUP_MAX_AGE_S = 60


@dataclass
class FlowResult:
    title: str
    state: str  # success | failed | timeout | error | skipped
    duration_s: float | None = None
    dag_id: str = ""
    run_id: str = ""
    facts: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.state == "success"


class Flows:
    """Runs the flows in order against one started `Stack`."""

    def __init__(self, api: AirflowApi, stack: Stack, stale_groups: list[dict[str, str]], pushed_at: float) -> None:
        self.api, self.stack = api, stack
        self.stale_groups, self.pushed_at = stale_groups, pushed_at
        self._unpaused: set[str] = set()

    # -- plumbing ----------------------------------------------------------------------------------------

    def wait_for_dags(self, timeout: float = 240) -> None:
        def parsed() -> bool:
            missing = set(DAGS) - self.api.dag_ids()
            errors = self.api.import_errors()
            if errors:
                raise RuntimeError("DAG import errors: " + "; ".join(errors))
            return not missing
        wait_until(parsed, timeout, f"the DAG processor to parse {', '.join(DAGS)}", interval=2.0,
                   procs=[self.stack.airflow])

    def _dag_run(self, dag_id: str, conf: dict[str, Any] | None = None) -> RunResult:
        if dag_id not in self._unpaused:
            self.api.unpause(dag_id)
            self._unpaused.add(dag_id)
        run_id = self.api.trigger(dag_id, conf)
        print(f"    triggered {dag_id} run {run_id} conf={json.dumps(conf or {})}", flush=True)
        return self.api.wait(dag_id, run_id, RUN_TIMEOUT)

    @staticmethod
    def _result(title: str, run: RunResult, facts: list[str]) -> FlowResult:
        if run.state != "success":
            facts = facts + [f"task states: {run.task_states}"]
        return FlowResult(title, run.state, run.duration_s, run.dag_id, run.run_id, facts)

    def _guard(self, title: str, fn: Callable[[FlowResult], FlowResult]) -> FlowResult:
        print(f"  flow: {title}", flush=True)
        seed = FlowResult(title, "error")
        try:
            result = fn(seed)
        except Exception as exc:  # noqa: BLE001 - a failed flow is reported, the demo goes on
            seed.facts.append(f"{type(exc).__name__}: {exc}")
            print(f"    error: {type(exc).__name__}: {exc}", flush=True)
            result = seed
        print(f"    -> {result.state}", flush=True)
        return result

    def _deployments(self) -> dict[str, str]:
        from kubernetes import client, config

        # The demo's own look, as a person with kubectl would: the admin kubeconfig (Airflow's flink-airflow
        # account may get, not list, Deployments).
        api = config.new_client_from_config(str(self.stack.cluster.admin_kubeconfig))
        try:
            deps = client.AppsV1Api(api).list_namespaced_deployment(NAMESPACE).items
            return {d.metadata.name: d.spec.template.spec.containers[0].image for d in deps}
        finally:
            api.close()

    def _xcom(self, run: RunResult, task_id: str, key: str = "return_value") -> Any:
        return self.api.xcom(run.dag_id, run.run_id, task_id, key) if run.run_id else None

    # -- the flows ---------------------------------------------------------------------------------------

    def run_all(self) -> list[FlowResult]:
        results = [self._guard("batch run", self.batch)]
        first = self._guard("streaming job deployed", self.first_deploy)
        results.append(first)
        if first.ok:
            results.append(self._guard("savepoint redeploy to release 2", self.savepoint_redeploy))
            results.append(self._guard("health monitor", self.health))
        else:
            results += [FlowResult(t, "skipped", facts=["the streaming job was not deployed"])
                        for t in ("savepoint redeploy to release 2", "health monitor")]
        results.append(self._guard("Pushgateway cleanup", self.cleanup))
        return results

    def batch(self, seed: FlowResult) -> FlowResult:
        run = self._dag_run(BATCH_DAG, {"release": "1"})
        facts = []
        out = self._xcom(run, "run") or {}
        if out:
            facts.append(f"Flink job {out.get('job_id')} {out.get('final_state')} on per-run cluster "
                         f"{out.get('cluster_id')}")
        sums = read_batch_result(self.stack.output_dir / "batch-job")
        if sums:
            facts.append(f"output: {sum(c for c, _ in sums.values())} records summed over {len(sums)} keys "
                         f"({self.stack.output_dir / 'batch-job'})")
        cluster = out.get("cluster_id")
        if cluster:
            gone = cluster not in self._deployments()
            facts.append(f"per-run cluster deleted afterwards: {'yes' if gone else 'NO'}")
        return self._result(seed.title, run, facts)

    def first_deploy(self, seed: FlowResult) -> FlowResult:
        run = self._dag_run(REDEPLOY_DAG, {"job": STREAMING_JOB, "release": "1"})
        facts = []
        summary = self._xcom(run, "execute") or {}
        if summary:
            facts.append(f"plan: {' -> '.join(summary.get('steps', []))} ({summary.get('safety')})")
            facts.append(f"job {summary.get('job_id')} RUNNING on cluster {summary.get('cluster_id')}, "
                         f"image {self._deployments().get(STREAMING_JOB)}")
        if run.state == "success":
            out = self.stack.output_dir / STREAMING_JOB
            wait_until(lambda: _max_count(read_counts(out)) > 5, 180, "the streaming job to count past 5")
            facts.append(f"counting: {_max_by_key(read_counts(out))} (key -> count, {out})")
        return self._result(seed.title, run, facts)

    def savepoint_redeploy(self, seed: FlowResult) -> FlowResult:
        out = self.stack.output_dir / STREAMING_JOB
        before = _max_by_key(read_counts(out))
        run = self._dag_run(REDEPLOY_DAG, {"job": STREAMING_JOB, "release": "2"})
        facts = [f"counts when the redeploy was triggered: {before}"]
        summary = self._xcom(run, "execute") or {}
        if summary:
            facts.append(f"plan: {' -> '.join(summary.get('steps', []))} ({summary.get('safety')})")
            facts.append(f"savepoint {summary.get('savepoint')}; restored from it: "
                         f"{'yes' if summary.get('restored_from') == summary.get('savepoint') else 'NO'}")
            if summary.get("ha_configmaps_deleted") is not None:
                facts.append(f"HA ConfigMaps deleted before the submit: {summary['ha_configmaps_deleted'] or 'none left'}")
            if summary.get("disposed_savepoints") is not None:
                facts.append(f"old savepoints disposed (keep 3): {summary.get('disposed_savepoints')}")
        facts.append(f"Deployment image now: {self._deployments().get(STREAMING_JOB)}")
        if run.state != "success":
            return self._result(seed.title, run, facts)
        wait_until(lambda: all(_max_by_key(read_counts(out)).get(k, 0) > n for k, n in before.items()), 180,
                   "the restored job to count on")
        counts = read_counts(out)
        resets = {k: _resets(series) for k, series in counts.items()}
        exact = all(series == list(range(1, len(series) + 1)) for series in counts.values())
        facts.append(f"counts after the restore: {_max_by_key(counts)}")
        if any(resets.values()):
            facts.append(f"STATE LOST: counts restarted from 1 for keys {[k for k, r in resets.items() if r]}")
            return FlowResult(seed.title, "failed", run.duration_s, run.dag_id, run.run_id, facts)
        facts.append("state continuity: every key's counts go on across the stop/restore without a reset"
                     + (" (1..N with no gap and no repeat: exactly-once state)" if exact else ""))
        return self._result(seed.title, run, facts)

    def health(self, seed: FlowResult) -> FlowResult:
        run = self._dag_run(HEALTH_DAG)
        verdicts = self._xcom(run, "check_all", "verdicts") or {}
        facts = [f"{job}: {v.get('verdict')}" + (f" ({'; '.join(v.get('reasons') or [])})" if v.get("reasons") else "")
                 for job, v in verdicts.items()]
        return self._result(seed.title, run, facts)

    def cleanup(self, seed: FlowResult) -> FlowResult:
        gateway = self.stack.gateway.url
        wait_s = self.pushed_at + CLEANUP_MAX_AGE_S + 5 - time.time()
        if wait_s > 0:  # the synthetic groups must be older than max_age
            print(f"    waiting {wait_s:.0f}s until the synthetic groups are older than {CLEANUP_MAX_AGE_S}s",
                  flush=True)
            time.sleep(wait_s)
        # A shared gateway also holds groups of other jobs; they count towards the cleaner's safety guard
        # (never delete more than half of all groups at once), which the groups left by release 1 plus the
        # synthetic ones would otherwise exceed on this small gateway.
        others = push_groups(gateway, OTHER_GROUPS)
        groups_before = list_groups(gateway)
        run = self._dag_run(CLEANUP_DAG, {"max_age": f"{CLEANUP_MAX_AGE_S}s", "dry_run": False})
        report = self._xcom(run, "cleanup_stale_groups") or {}
        groups_after = list_groups(gateway)
        facts = [f"gateway {gateway}: {len(groups_before)} groups before, {len(groups_after)} after"]
        if report:
            facts.append(f"report: scanned {report.get('scanned')}, stale {report.get('stale')}, deleted "
                         f"{report.get('deleted')}, kept fresh {report.get('kept_fresh')}, kept by filter "
                         f"{report.get('kept_by_filter')}")
        left = [g for g in self.stale_groups if g in groups_after]
        synthetic = len(self.stale_groups) - len(left)
        facts.append(f"synthetic stale groups deleted: {synthetic}/{len(self.stale_groups)}; stale groups left by "
                     f"the release-1 JobManager/TaskManager deleted: {max((report.get('deleted') or 0) - synthetic, 0)}")
        live = [g["job"] for g in groups_after if g.get("job", "").startswith("flink")]
        kept_others = sum(1 for g in others if g in groups_after)
        facts.append(f"kept: {len(live)} live Flink reporter groups (release 2), {kept_others}/{len(others)} groups "
                     f"of other jobs (not Flink's <jobName><32 hex>)")
        result = self._result(seed.title, run, facts)
        if result.ok and left:
            result.state = "failed"
        return result


# -- Pushgateway helpers -----------------------------------------------------------------------------------

OTHER_GROUPS = [{"job": "node_exporter_textfile", "instance": "etl-host-1"},
                {"job": "node_exporter_textfile", "instance": "etl-host-2"},
                {"job": "nightly_backup"}]


def push_stale_groups(gateway_url: str) -> list[dict[str, str]]:
    """Two groups shaped like those of Flink processes that died without deleteOnShutdown."""
    return push_groups(gateway_url, [{"job": f"flink{uuid.uuid4().hex}"},
                                     {"job": f"flink{uuid.uuid4().hex}", "cluster": "streaming-job-old"}],
                       "flink_taskmanager_Status_JVM_CPU_Load")


def push_groups(gateway_url: str, groups: list[dict[str, str]], metric: str = "demo_last_run_seconds"
                ) -> list[dict[str, str]]:
    """PUT one gauge `metric` into each group (grouping key = the labels); returns the groups."""
    for labels in groups:
        path = "/metrics/job/" + labels["job"] + "".join(f"/{k}/{v}" for k, v in labels.items() if k != "job")
        body = f"# TYPE {metric} gauge\n{metric} 0.25\n".encode()
        req = urllib.request.Request(gateway_url + path, data=body, method="PUT")
        with urllib.request.urlopen(req, timeout=10) as resp:
            if resp.status not in (200, 202):
                raise RuntimeError(f"PUT {path} -> {resp.status}")
    return groups


def list_groups(gateway_url: str) -> list[dict[str, str]]:
    """Grouping keys on the gateway (the `instance` label the gateway adds when empty is dropped)."""
    with urllib.request.urlopen(f"{gateway_url}/api/v1/metrics", timeout=10) as resp:
        data = json.load(resp)["data"]
    return [{k: v for k, v in g["labels"].items() if not (k == "instance" and v == "")} for g in data]


# -- count helpers -----------------------------------------------------------------------------------------

def _max_by_key(counts: dict[int, list[int]]) -> dict[int, int]:
    return {k: max(v) for k, v in sorted(counts.items()) if v}


def _max_count(counts: dict[int, list[int]]) -> int:
    return max((max(v) for v in counts.values() if v), default=0)


def _resets(series: list[int]) -> int:
    """How often a key's count fell back (state lost) instead of going on."""
    return sum(1 for a, b in zip(series, series[1:], strict=False) if b <= a and b == 1)
