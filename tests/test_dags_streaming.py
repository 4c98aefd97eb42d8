"""The streaming DAGs end to end: one job's whole life through `flink_streaming_redeploy` and
`flink_health_monitor`, with `dag.test()` on the local native-Kubernetes harness.

One lifecycle instead of one test per mode: each cluster start costs a JobManager and a TaskManager, so
the stages share them — first deploy, health, refusals (nothing stopped), savepoint redeploy with keyed
state continuity, a failure injected between stop and submit then a re-run that resumes from the recorded
savepoint, a last-state redeploy through Kubernetes HA, the monitor flagging a restarting job and a killed
JobManager in one run, then a vanished cluster.

The catalogue's job has no restart strategy on purpose: had the redeploy deleted the Deployment at once,
a TaskManager lost before the JobManager would fail the job for good and Flink would drop its HA
checkpoints; the last-state stage passes only because the JobManager is stopped first.
"""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest

from tests.fixtures.native_catalogue import append_jobs
from tests.fixtures.procs import wait_until
from tests.fixtures.test_jobs import FAILURE_MESSAGE, read_counts

pytestmark = pytest.mark.slow


def _max_counts(out: Path) -> dict[int, int]:
    return {k: max(v) for k, v in read_counts(out).items()}


def _wait_counting_past(out: Path, beyond: dict[int, int] | int, what: str) -> None:
    def ok() -> bool:
        now = _max_counts(out)
        if isinstance(beyond, int):
            return bool(now) and max(now.values()) > beyond
        return all(now.get(k, 0) > n for k, n in beyond.items())

    wait_until(ok, 180, what)


def _no_reset(out: Path, before: dict[int, int]) -> None:
    """Keyed state continued: after the restore, no key starts again from 1 below its old count."""
    for key, series in read_counts(out).items():
        n = before.get(key, 0)
        if n < 2:
            continue
        resets = [i for i in range(1, len(series)) if series[i] == 1 and series[i - 1] >= 1]
        assert not resets, f"key {key}: count restarted from 1 after reaching {n} ({series[-12:]})"


def _deployments(native) -> list[str]:
    return [d.metadata.name for d in native.api.apps.list_namespaced_deployment(native.api.namespace).items]


def _image(flink_env) -> str:
    dep = flink_env["native"].api.apps.read_namespaced_deployment(flink_env["cluster"], flink_env["ns"])
    return dep.spec.template.spec.containers[0].image


def _job_state(flink_env) -> str | None:
    from flink_k8s.hooks.flink import FlinkKubernetesHook

    cp = FlinkKubernetesHook("kubernetes_default", flink_env["ns"]).control_plane
    return cp.check_job(flink_env["cluster"], "running").state


def test_streaming_job_lifecycle(flink_env, airflow_run, monkeypatch):
    out = flink_env["out"] / "stream"
    redeploy = "flink_streaming_redeploy"

    # 1. First deployment: nothing exists yet -> a fresh start, then healthy.
    first = airflow_run(redeploy, conf={"job": "stream", "release": "1"})
    assert first.state == "success", first.log_text[-5000:]
    assert first.xcoms["execute"]["safety"].startswith("fresh start")
    assert first.task_states["healthy"] == "success"
    _wait_counting_past(out, 5, "the streaming job to count past 5")

    ok = airflow_run("flink_health_monitor")
    assert ok.state == "success", ok.log_text[-4000:]
    healthy = ok.all_xcoms[("check_all", "verdicts")]["stream"]
    assert healthy["verdict"] == "HEALTHY"
    # the verdict shows the figures it was decided on, in XCom and in the task log's HEALTHY line
    figures = {f["key"]: f for f in healthy["figures"]}
    assert list(figures) == ["checkpoint_age", "restarts", "leader_lease_age"], healthy
    assert 0 <= figures["checkpoint_age"]["value"] <= figures["checkpoint_age"]["limit"] == 1200  # 10 min x 2
    assert (figures["restarts"]["value"], figures["restarts"]["limit"]) == (0, 64)
    assert figures["leader_lease_age"]["value"] <= figures["leader_lease_age"]["lease"] == 15
    line = re.search(r"^stream +\S+ +HEALTHY +all checks passed: (.+?\))(?: \[[\w.]+\] loc=\S+)?$", ok.log_text, re.M)
    assert line, ok.log_text[-4000:]
    assert line.group(1) == "; ".join(f["text"] for f in healthy["figures"])
    assert re.fullmatch(r"checkpoint age \d+ s \(limit 20 min\); restarts 0 in 2 min \(limit 64\); "
                        r"leader lease renewed \d+ s ago \(limit 60 s, lease 15 s\)", line.group(1)), line.group(1)

    # 2. Refusals touch nothing: stateless without allow_state_loss; a dry run only plans.
    refused = airflow_run(redeploy, conf={"job": "stream", "release": "2", "upgrade_mode": "stateless"})
    assert refused.state == "failed"
    assert "allow_state_loss" in refused.log_text
    dry = airflow_run(redeploy, conf={"job": "stream", "release": "2", "dry_run": True})
    assert dry.state == "success"
    assert dry.xcoms["plan"]["steps"][0] == "STOP_WITH_SAVEPOINT"
    assert dry.task_states["execute"] == "skipped"
    assert _job_state(flink_env) == "RUNNING" and _image(flink_env) == "flink-test:1"

    # 3. Savepoint redeploy to release 2: stop with a savepoint, restore it, counts go on.
    before = _max_counts(out)
    second = airflow_run(redeploy, conf={"job": "stream", "release": "2"})
    assert second.state == "success", second.log_text[-5000:]
    summary = second.xcoms["execute"]
    assert summary["steps"][0] == "STOP_WITH_SAVEPOINT"
    assert summary["savepoint"] and summary["restored_from"] == summary["savepoint"]
    assert summary["safety"] == "state kept"
    assert _image(flink_env) == "flink-test:2"
    _wait_counting_past(out, before, "counts to continue after the savepoint restore")
    _no_reset(out, before)

    # 4. A failure between stop and submit, then a re-run: it resumes from the recorded savepoint and
    #    never takes a second savepoint of the job that no longer runs.
    from flink_k8s.control_plane import FlinkControlPlane

    real_run_cli = FlinkControlPlane.run_cli

    def failing_run_cli(self, *args, **kwargs):  # the SUBMIT step's `flink run` (executor._submit)
        raise RuntimeError("injected submit failure")

    before = _max_counts(out)
    monkeypatch.setattr(FlinkControlPlane, "run_cli", failing_run_cli)
    broken = airflow_run(redeploy, conf={"job": "stream", "release": "3"})
    monkeypatch.setattr(FlinkControlPlane, "run_cli", real_run_cli)
    assert broken.state == "failed"
    assert "re-run this DAG" in broken.log_text
    assert flink_env["cluster"] not in _deployments(flink_env["native"])  # the old job did stop

    resumed = airflow_run(redeploy, conf={"job": "stream", "release": "3"})
    assert resumed.state == "success", resumed.log_text[-5000:]
    summary = resumed.xcoms["execute"]
    assert "STOP_WITH_SAVEPOINT" not in summary["steps"]
    assert summary["restored_from"], "must restore the savepoint the failed run recorded"
    _wait_counting_past(out, before, "counts to continue after the resumed restore")
    _no_reset(out, before)

    # 5. Last-state redeploy: JobManager stopped first, job graph stripped (the seed's stale-HA trap), the
    #    newest HA checkpoint restored by the new JobManager, counts go on.
    before = _max_counts(out)
    last = airflow_run(redeploy, conf={"job": "stream", "release": "4", "upgrade_mode": "last-state"})
    assert last.state == "success", last.log_text[-5000:]
    summary = last.xcoms["execute"]
    assert "STRIP_JOB_GRAPH" in summary["steps"] and "STOP_WITH_SAVEPOINT" not in summary["steps"]
    assert summary["restore"] == "ha-checkpoint" and summary["job_graph_keys_removed"]
    assert _image(flink_env) == "flink-test:4"
    _wait_counting_past(out, before, "counts to continue after the last-state restore")
    _no_reset(out, before)

    # 6. The monitor flags a restarting job and a killed JobManager, in one run. The restarting job joins the
    #    catalogue only now (earlier monitor runs would see it MISSING).
    from flink_k8s import jobs
    from flink_k8s.hooks.flink import FlinkKubernetesHook

    append_jobs(f"""
        restarting:
          kind: streaming
          upgrade_mode: stateless
          cluster_id: rs-{flink_env["ns"][-6:]}
          jar_uri: local:///opt/flink/usrlib/failing.jar
          program_args: [--fail-after, "5", --rate, "10", --restart-attempts, "1000", --restart-delay-ms, "300"]
          health: {{max_restarts: 2}}
        """)
    cp = FlinkKubernetesHook("kubernetes_default", flink_env["ns"]).control_plane
    restarting = jobs.load_job("restarting")
    cp.submit(restarting, "1", timeout=300)
    wait_until(lambda: (job := cp.observe(restarting.cluster_id).job) and (job.restarts or 0) > 3, 240,
               "the failing job to restart more than max_restarts")
    kubelet = flink_env["native"].kubelet
    with kubelet.hold_restarts():  # the killed JobManager stays down (CrashLoopBackOff) while the monitor looks
        os.killpg(kubelet.jobmanager(flink_env["cluster"]).proc.pid, signal.SIGKILL)
        wait_until(lambda: any(p.waiting_reason == "CrashLoopBackOff"
                               for p in cp.observe(flink_env["cluster"]).jobmanager_pods), 60,
                   "the killed JobManager to show as down")
        flagged = airflow_run("flink_health_monitor")
    assert flagged.state == "failed"
    verdicts = flagged.all_xcoms[("check_all", "verdicts")]
    assert verdicts["restarting"]["verdict"] == "UNHEALTHY", verdicts
    assert any("restarted" in r for r in verdicts["restarting"]["reasons"]), verdicts
    assert verdicts["stream"]["verdict"] == "UNHEALTHY", verdicts
    assert any("CrashLoopBackOff" in r for r in verdicts["stream"]["reasons"]), verdicts
    assert "restarting: UNHEALTHY" in flagged.log_text and "stream: UNHEALTHY" in flagged.log_text
    with cp.rest(restarting.cluster_id) as rest:
        cause = rest.root_cause(cp.observe(restarting.cluster_id).job.job_id)
    assert cause is not None and FAILURE_MESSAGE in cause.root_cause
    cp.delete_cluster(restarting.cluster_id, timeout=120)

    # 7. The cluster vanishes (Deployment deleted by hand): the monitor fails and says MISSING/UNHEALTHY.
    flink_env["native"].api.apps.delete_namespaced_deployment(flink_env["cluster"], flink_env["ns"])
    wait_until(lambda: flink_env["cluster"] not in _deployments(flink_env["native"]), 60, "deployment gone")
    bad = airflow_run("flink_health_monitor")
    assert bad.state == "failed"
    assert bad.all_xcoms[("check_all", "verdicts")]["stream"]["verdict"] in ("MISSING", "UNHEALTHY")
