"""Automatic rollback end to end (issue 18.2), with real Flink 2.3 on the local Kubernetes control plane and the
repository's `flink_streaming_redeploy` DAG under `dag.test()`.

Release 1 of a streaming job with keyed state runs; release `bad` is an image whose job throws in main() at
start (the test job's `--fail-on-image bad`). The redeploy stops release 1 with a savepoint and submits `bad`,
which never becomes HEALTHY within `rollback.healthy_within`; the DAG's own tasks roll back: release 1 again,
restored from the savepoint taken before the upgrade, its keyed counts continuing from it; the run fails with a
message naming both releases, the savepoint and why. The release history records all three deployments."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.native_catalogue import append_jobs
from tests.fixtures.procs import wait_until
from tests.fixtures.test_jobs import read_counts

pytestmark = pytest.mark.slow


def _max_counts(out: Path) -> dict[int, int]:
    return {k: max(v) for k, v in read_counts(out).items()}


def _control_plane(ns: str):
    from flink_k8s.hooks.flink import FlinkKubernetesHook

    return FlinkKubernetesHook("kubernetes_default", ns).control_plane


def test_a_release_failing_at_start_is_rolled_back_with_keyed_state_continued(flink_env, airflow_run):
    ns, native = flink_env["ns"], flink_env["native"]
    out = flink_env["out"] / "canary"
    cluster = f"canary-{ns[-6:]}"
    append_jobs(f"""
        canary:
          kind: streaming
          upgrade_mode: savepoint
          cluster_id: {cluster}
          jar_uri: local:///opt/flink/usrlib/streaming.jar
          program_args: [--output, "{out}", --rate, "20", --checkpoint-interval-ms, "1000",
                         --fail-on-image, "flink-test:bad"]
          high_availability: {{enabled: true, storage_dir: "hdfs://datacluster/flink/recovery"}}
          checkpointing: {{dir: "hdfs://datacluster/flink/checkpoints", interval: 1s}}
          savepoint_dir: hdfs://datacluster/flink/savepoints/canary
          rollback: {{enabled: true, healthy_within: 90s}}
        """)
    redeploy = "flink_streaming_redeploy"

    first = airflow_run(redeploy, conf={"job": "canary", "release": "1"})
    assert first.state == "success", first.log_text[-5000:]
    assert first.task_states["rollback"] == "skipped" and first.task_states["outcome"] == "success"
    wait_until(lambda: bool(_max_counts(out)) and min(_max_counts(out).values()) > 3, 300,
               "release 1 to count past 3 on every key")

    bad = airflow_run(redeploy, conf={"job": "canary", "release": "bad"})
    log = bad.log_text
    assert bad.state == "failed", log[-6000:]
    states = bad.task_states
    assert "failed" in (states["execute"], states["healthy"]), states
    assert (states["rollback"], states["rollback_healthy"], states["outcome"]) == ("success", "success", "failed"), \
        (states, log[-6000:])

    cp = _control_plane(ns)
    ledger = cp.ledger(cluster)
    entries = [(r.release, r.action, r.outcome) for r in ledger.releases]
    assert entries == [("1", "deploy", "succeeded"), ("bad", "redeploy", "rolled-back"),
                       ("1", "rollback", "succeeded")], entries
    bad_entry, back = ledger.releases[1], ledger.releases[2]
    savepoint = bad_entry.savepoint_taken
    assert savepoint and back.restore_source == savepoint == back.savepoint_taken  # the pre-upgrade savepoint
    assert bad_entry.reason, bad_entry  # why it was judged unhealthy is kept in the history
    assert bad.xcoms["rollback"]["savepoint"] == savepoint
    assert bad.xcoms["rollback"]["steps"]["restored_from"] == savepoint
    assert "STOP_WITH_SAVEPOINT" not in bad.xcoms["rollback"]["steps"]["steps"]  # the broken release is discarded
    # the run's failure names both releases, the savepoint and why
    for part in ("ROLLED BACK release bad to 1", f"savepoint {savepoint}", "within 90s"):
        assert part in log, (part, log[-6000:])

    dep = native.api.apps.read_namespaced_deployment(cluster, ns)
    assert dep.spec.template.spec.containers[0].image == "flink-test:1"
    assert cp.check_job(cluster, "running").state == "RUNNING"

    # keyed state continued from the savepoint: after the rollback each key goes on from where release 1 was
    # stopped (its savepoint), and no key starts again from 1
    at_stop = _max_counts(out)
    wait_until(lambda: all(_max_counts(out).get(k, 0) > n + 3 for k, n in at_stop.items()), 300,
               "the restored release 1 to count on from the savepoint")
    for key, series in read_counts(out).items():
        resets = [i for i in range(1, len(series)) if series[i] == 1]
        assert not resets, f"key {key}: count restarted from 1 ({series[-12:]})"
        jumps = [(a, b) for a, b in zip(series, series[1:], strict=False) if b != a + 1]
        # after the restore a key may repeat counts emitted after the savepoint (at-least-once file sink),
        # never skip ahead or fall back to an empty state
        assert all(b <= a for a, b in jumps), f"key {key}: count jumped ahead {jumps[:5]}"

    # idempotent: the rollback of this run again is a no-op (nothing touched, nothing recorded)
    run_key = f"{bad.dag_id}/{bad.run_id}"
    again = cp.rollback(_job("canary"), run_key, f"{run_key}/rollback", timeout=60)
    assert again.decision.kind.value == "already done" and again.result is None
    assert len(cp.ledger(cluster).releases) == 3


def _job(name: str):
    from flink_k8s import jobs

    return jobs.load_job(name, None)
