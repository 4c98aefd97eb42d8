"""Issue 20's acceptance on the local native-Kubernetes harness: one release lifecycle through the ledger.

A streaming job is deployed through `flink_streaming_redeploy`, stopped with `FlinkStopOperator`, then
redeployed in savepoint mode with no path: the plan restores the stop's savepoint (it entered the job's
ledger like a redeploy's), and retention counts it. The redeploy's task log is read for the lines item 6
promises: each step's done line with its result, the submit command one option per line, no retry noise
while the new JobManager starts.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

pytestmark = pytest.mark.slow


def test_stop_then_savepoint_redeploy_restores_the_stops_savepoint(flink_env, airflow_run):
    from flink_k8s import jobs
    from flink_k8s.core import ledger as L
    from flink_k8s.core.ledger import SavepointSource
    from flink_k8s.hooks.flink import FlinkKubernetesHook
    from flink_k8s.operators.flink import FlinkStopOperator

    redeploy, cluster = "flink_streaming_redeploy", flink_env["cluster"]
    first = airflow_run(redeploy, conf={"job": "stream", "release": "1"})
    assert first.state == "success", first.log_text[-5000:]
    log = first.log_text
    # item 6: the submit command, masked, one option per line; done lines with their results
    assert re.search(r"Submit command for \S+:\n\s+\S*flink run(-application)? \\\n\s+--target "
                     r"kubernetes-application \\\n\s+--detached \\\n", log), log[-5000:]
    # a wait says what it sees every 15 s, instead of one INFO line per failed REST try
    waited = float(re.search(r"done WAIT_RUNNING in (\d+\.\d) s", log).group(1))
    seen = re.findall(r"waiting for state RUNNING on \S+: (?:JobManager not answering yet|job \S+ \w+), \d+ s", log)
    assert len(seen) >= int(waited // 15) - 1 and len(seen) <= waited / 15 + 1, (waited, seen)
    assert re.search(r"done SUBMIT in \d+\.\d s; with empty state", log)
    job_id = first.xcoms["execute"]["job_id"]
    assert "done WAIT_RUNNING in" in log and f"job {job_id}" in log
    assert re.search(r"done WAIT_FIRST_CHECKPOINT in \d+\.\d s; checkpoint \d+", log)
    assert not re.search(r"Flink REST GET .* failed \(try", log), "a starting JobManager is logged as a failure"

    # two older savepoints this project recorded (retention keeps 2 for this job)
    cp = FlinkKubernetesHook("kubernetes_default", flink_env["ns"]).control_plane
    older = []
    with cp.rest(cluster) as rest:
        for _ in range(2):
            older.append(rest.savepoint(job_id, None, timeout=120))
    for path in older:
        cp.ledger_store.update(cluster, lambda led, p=path: L.remember_savepoint(led, p, datetime.now(UTC)))

    stop = FlinkStopOperator(task_id="stop", job="stream")
    stopped_with = stop.execute({"run_id": "manual__stop", "ti": None})
    assert stopped_with and stopped_with not in older
    ledger = cp.ledger(cluster)
    assert ledger.progress.savepoint_path == stopped_with and ledger.holder is None
    assert ledger.savepoints[-1] == L.SavepointRecord(stopped_with, ledger.savepoints[-1].created_at,
                                                      SavepointSource.STOP)

    plan = cp.plan_redeploy(jobs_request(jobs.load_job("stream"), cluster, "2"))
    submit = next(s for s in plan.steps if s.kind.value == "SUBMIT")
    assert submit.savepoint_path == stopped_with, plan  # the plan restores the stop's savepoint

    second = airflow_run(redeploy, conf={"job": "stream", "release": "2"})
    assert second.state == "success", second.log_text[-5000:]
    summary = second.xcoms["execute"]
    assert "STOP_WITH_SAVEPOINT" not in summary["steps"] and summary["restored_from"] == stopped_with
    assert summary["disposed_savepoints"] == [older[0]]  # retention counted the stop's savepoint
    ledger = cp.ledger(cluster)
    assert ledger.savepoint_paths() == (older[1], stopped_with) and ledger.progress == L.JobLedger().progress
    assert "done SUBMIT in" in second.log_text and f"restoring {stopped_with}" in second.log_text
    assert re.search(r"done DISPOSE_OLD_SAVEPOINTS in \d+\.\d s; removed 1: " + re.escape(older[0]),
                     second.log_text)


def jobs_request(spec, cluster: str, release: str):
    from flink_k8s.core.redeploy import RedeployRequest, UpgradeMode
    from flink_k8s.core.references import substitute_release

    return RedeployRequest(cluster_id=cluster, release=release, mode=UpgradeMode.SAVEPOINT,
                           savepoint_dir=spec.savepoint_dir, keep_savepoints=spec.savepoints_to_keep,
                           target_image=substitute_release(spec.image, release))
