"""The Flink pieces of the test stack are real: session cluster, CLI submission, test jobs, metrics reporter.

Each test fails when its component is absent or broken: no cluster -> the fixture fails; the CLI cannot
submit -> no job id; checkpointing broken -> no completed checkpoint; reporter plugin missing -> no
JobManager/TaskManager groups in the gateway.
"""

from __future__ import annotations

import json
import re
import urllib.request

import pytest

from tests.fixtures import procs
from tests.fixtures.test_jobs import FAILURE_MESSAGE, read_batch_result, read_counts

pytestmark = pytest.mark.slow

JOB_ID = re.compile(r"Job has been submitted with JobID ([0-9a-f]{32})")


def _submit(flink_cluster, jar, *job_args: str, parallelism: int = 1) -> str:
    result = flink_cluster.run_cli(["run", "-d", "-p", str(parallelism), str(jar), *job_args])
    match = JOB_ID.search(result.stdout)
    assert match, f"no job id in `flink run` output:\n{result.stdout}\n{result.stderr}"
    return match.group(1)


def test_flink_run_detached_submits_streaming_job_and_checkpoints_complete(
        flink_cluster, streaming_job_jar, tmp_path):
    out = tmp_path / "out"
    job_id = _submit(flink_cluster, streaming_job_jar, "--output", str(out), "--keys", "3", "--rate", "30")

    assert flink_cluster.wait_job_state(job_id, "RUNNING") == "RUNNING"

    def completed_checkpoints() -> int:
        counts = flink_cluster.rest(f"/jobs/{job_id}/checkpoints")["counts"]
        return counts["completed"] if counts["completed"] >= 2 else 0

    procs.wait_until(completed_checkpoints, 90, f"2 completed checkpoints of job {job_id}",
                     procs=flink_cluster.processes)
    latest = flink_cluster.rest(f"/jobs/{job_id}/checkpoints")["latest"]["completed"]
    # Flink prints `file:/path` URIs; the checkpoint went to the cluster's configured directory.
    assert latest["external_path"].startswith(f"file:{flink_cluster.checkpoint_dir}/{job_id}/chk-")

    # The keyed counter runs: every key's count grows 1, 2, 3, … in the job's output.
    procs.wait_until(lambda: len(read_counts(out)) == 3 and min(map(len, read_counts(out).values())) >= 3,
                     60, "3 counts for each of 3 keys")
    for key, counts in read_counts(out).items():
        assert counts == list(range(1, len(counts) + 1)), f"key {key}: counts {counts[:10]} are not 1..n"


def test_batch_job_finishes_with_correct_sums(flink_cluster, batch_job_jar, tmp_path):
    out = tmp_path / "out"
    job_id = _submit(flink_cluster, batch_job_jar, "--output", str(out), "--records", "1000", "--keys", "4")

    assert flink_cluster.wait_job_state(job_id, {"FINISHED", "FAILED"}, timeout=90) == "FINISHED"
    expected = {k: (250, sum(n for n in range(1000) if n % 4 == k)) for k in range(4)}
    assert read_batch_result(out) == expected


def test_failing_job_fails_with_recognisable_exception(flink_cluster, failing_job_jar):
    job_id = _submit(flink_cluster, failing_job_jar, "--fail-after", "3", "--restart-attempts", "1",
                     "--restart-delay-ms", "100")

    assert flink_cluster.wait_job_state(job_id, {"FAILED", "FINISHED", "CANCELED"}, timeout=90) == "FAILED"
    entries = flink_cluster.rest(f"/jobs/{job_id}/exceptions")["exceptionHistory"]["entries"]
    assert entries, "no exception history for a failed job"
    assert all(FAILURE_MESSAGE in e["stacktrace"] for e in entries)
    assert "java.lang.IllegalStateException" in entries[0]["stacktrace"]
    # One restart attempt was configured by argument: the failure happened twice.
    assert len(entries) == 2


def _gateway_groups(url: str) -> list[dict]:
    with urllib.request.urlopen(f"{url}/api/v1/metrics", timeout=5) as resp:
        return json.load(resp)["data"]


def _metric_names(group: dict) -> set[str]:
    return {name for name in group if name not in ("labels", "last_push_successful", "push_time_seconds",
                                                   "push_failure_time_seconds")}


def _push_time(group: dict) -> float:
    return float(group["push_time_seconds"]["metrics"][0]["value"])


def _series_labels(group: dict, prefix: str) -> list[dict]:
    return [m["labels"] for name, fam in group.items() if name.startswith(prefix) for m in fam["metrics"]]


def test_prometheus_reporter_pushes_jobmanager_and_taskmanager_groups(flink_cluster, flink_metrics_gateway):
    conf = {entry["key"]: entry["value"] for entry in flink_cluster.rest("/jobmanager/config")}
    assert conf["metrics.reporter.promgateway.factory.class"].endswith("PrometheusPushGatewayReporterFactory")
    assert (flink_cluster.flink_home / "plugins" / "metrics-prometheus").is_dir()
    # The TaskManager's series carry its resource id (sanitised the reporter's way): this cluster's TM pushed.
    tm_id = re.sub(r"[^a-zA-Z0-9:_]", "_", flink_cluster.rest("/taskmanagers")["taskmanagers"][0]["id"])

    def groups_with(pred) -> list[dict]:
        return [g for g in _gateway_groups(flink_metrics_gateway.url)
                if g["labels"].get("job", "").startswith("flink") and pred(g)]

    def is_jm(g: dict) -> bool:
        return any(n.startswith("flink_jobmanager_") for n in _metric_names(g))

    def is_tm(g: dict) -> bool:
        return any(labels.get("tm_id") == tm_id for labels in _series_labels(g, "flink_taskmanager_"))

    procs.wait_until(lambda: groups_with(is_jm) and groups_with(is_tm), 60,
                     f"JobManager and TaskManager (tm_id={tm_id}) groups", interval=0.5, procs=flink_cluster.processes)
    first = {g["labels"]["job"]: _push_time(g) for g in groups_with(lambda g: is_jm(g) or is_tm(g))}

    # Both keep pushing (interval 1 s); a group left over from an earlier process would not move.
    def live(pred) -> list[dict]:
        return [g for g in groups_with(pred) if _push_time(g) > first.get(g["labels"]["job"], float("inf"))]

    jm, tm = procs.wait_until(lambda: (live(is_jm)[:1] + live(is_tm)[:1]) if live(is_jm) and live(is_tm) else None,
                              30, "a second push of both groups", interval=0.5, procs=flink_cluster.processes)
    # randomJobNameSuffix: each process pushes under its own grouping key `flink<suffix>`.
    assert jm["labels"]["job"] != tm["labels"]["job"]
    assert re.fullmatch(r"flink[0-9a-f]{32}", jm["labels"]["job"]), jm["labels"]
    assert "flink_jobmanager_Status_JVM_Memory_Heap_Used" in _metric_names(jm)
    assert "flink_taskmanager_Status_JVM_Memory_Heap_Used" in _metric_names(tm)
    # The reporter came from the plugins/ folder (2.x loads reporters through the plugin manager).
    jm_log = flink_cluster.jobmanager.log_tail(max_chars=10_000_000)
    assert "metrics-prometheus" in jm_log
    assert "could not be found for reporter promgateway" not in jm_log
