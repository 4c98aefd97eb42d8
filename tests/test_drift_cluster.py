"""Drift on the real local cluster: a streaming job deployed by the real Flink CLI, then edited by hand.

`python -m flink_k8s diff` runs as a user would (a subprocess, the namespace's least-privilege
`flink-airflow` kubeconfig); the health monitor DAG runs under `dag.test()` against the same cluster.

The hand edit pauses the Deployment while changing its image (`kubectl rollout pause` + `set image`): the
Deployment then says the new image while the running JobManager stays, so the job keeps running and the
test stays cheap — what drift detection compares is the Deployment's spec either way.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from tests.fixtures.paths import REPO

pytestmark = pytest.mark.slow


def _diff(flink_env, *args: str) -> subprocess.CompletedProcess:
    native = flink_env["native"]
    env = {**os.environ, "PYTHONPATH": str(REPO / "plugins")}
    return subprocess.run(
        [sys.executable, "-m", "flink_k8s", "diff", "stream", "--kubeconfig", str(native.api.kubeconfig), *args],
        capture_output=True, text=True, timeout=120, env=env, cwd=REPO)


def test_diff_and_monitor_report_a_hand_edited_cluster(flink_env, airflow_run):
    from flink_k8s import jobs
    from flink_k8s.hooks.flink import FlinkKubernetesHook

    started = time.monotonic()
    native, cluster = flink_env["native"], flink_env["cluster"]
    cp = FlinkKubernetesHook("kubernetes_default", flink_env["ns"]).control_plane
    cp.submit(jobs.load_job("stream"), "1", timeout=300)
    job_id = cp.wait_running(cluster, 240).job_id

    def running_job_ids() -> list[str]:
        with cp.rest(cluster) as rest:
            return [j.job_id for j in rest.jobs() if j.state == "RUNNING"]

    # 1. Just deployed by the product: in sync, exit 0; the release is read back from what was submitted.
    ok = _diff(flink_env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "IN SYNC" in ok.stdout and "release 1 from configmap" in ok.stdout
    ok_json = json.loads(_diff(flink_env, "--json").stdout)
    assert ok_json["status"] == "IN_SYNC" and ok_json["compared"] > 20 and ok_json["differences"] == []

    # 2. A person edits the Deployment's image by hand.
    native.api.apps.patch_namespaced_deployment(cluster, flink_env["ns"], {"spec": {
        "paused": True,
        "template": {"spec": {"containers": [{"name": "flink-main-container", "image": "flink-test:hotfix"}]}}}})
    drifted = _diff(flink_env)
    assert drifted.returncode == 1, drifted.stdout + drifted.stderr
    line = next(x for x in drifted.stdout.splitlines() if "deployment.image" in x)
    assert "catalogue: flink-test:1" in line and "running: flink-test:hotfix" in line
    data = json.loads(_diff(flink_env, "--json").stdout)
    assert data["status"] == "DRIFTED"
    assert {"key": "deployment.image", "catalogue": "flink-test:1", "running": "flink-test:hotfix"} in data["differences"]

    # The health monitor: DRIFTED is its own finding; the job is still HEALTHY and drift alone fails nothing.
    monitor = airflow_run("flink_health_monitor")
    assert monitor.state == "success", monitor.log_text[-4000:]
    assert monitor.all_xcoms[("check_all", "verdicts")]["stream"]["verdict"] == "HEALTHY"
    found = monitor.all_xcoms[("drift", "drift")]["stream"]
    assert found["verdict"] == "DRIFTED" and found["keys"] == ["deployment.image"], found
    assert "deployment.image: catalogue flink-test:1 | running flink-test:hotfix" in monitor.log_text

    # 3. The same config edited in Flink's ConfigMap is named with both values too.
    name = f"flink-config-{cluster}"
    cm = native.api.core.read_namespaced_config_map(name, flink_env["ns"])
    text = cm.data["config.yaml"]
    assert "interval: 1s" in text
    native.api.core.patch_namespaced_config_map(name, flink_env["ns"],
                                                {"data": {"config.yaml": text.replace("interval: 1s", "interval: 30s")}})
    data = json.loads(_diff(flink_env, "--json").stdout)
    assert {"key": "execution.checkpointing.interval", "catalogue": "1s", "running": "30s"} in data["differences"]

    # 4. Errors are exit 2, before any network call for bad input.
    bad = _diff(flink_env, "--release", "no spaces allowed")
    assert bad.returncode == 2 and "--release=" in bad.stderr
    assert running_job_ids() == [job_id]  # nothing here touched the job
    print(f"drift cluster test: {time.monotonic() - started:.1f}s")
