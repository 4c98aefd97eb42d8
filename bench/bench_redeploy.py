"""Benchmark: savepoint redeploy downtime — ours vs the minimal hand-run sequence (target <= 1.25x, 0 state lost).

On the local native-Kubernetes harness (local Kubernetes cluster (real control plane) + LocalKubelet running the real Flink 2.3.0
JobManager/TaskManager the real CLI deploys), one streaming job (keyed counter, HA on, checkpoint every 1 s)
is redeployed alternately by:

- ours: observe -> plan_redeploy(savepoint mode) -> the executor (flink_k8s.executor) (stop-with-savepoint,
  delete Deployment, wait gone, delete HA ConfigMaps, submit with -s, wait RUNNING, wait first checkpoint);
- hand-run: what a careful person types: REST `POST /jobs/<id>/stop` (job id known beforehand), poll the
  savepoint, wait until the cluster is gone (the JobManager deletes its Deployment when the job ends), delete
  the HA ConfigMaps, `flink run -s <savepoint>` with the same argv ours renders (incl. a fresh job-result-store
  path, without which Flink would skip the restored job as already finished), polling every 0.2 s.

Downtime, for both: from the stop trigger until the new job's first completed checkpoint, the end taken
from Flink's own `latest_ack_timestamp` of that checkpoint (so neither side's polling lag after the fact
counts). State continuity: the job appends `key=<k> count=<n>` per record; after each redeploy every key's
count must continue at exactly last+1 — anything else is reported as state lost.

Expensive (each redeploy starts two JVMs on the loaded machine): 2 repetitions each, ABBA order, by default.
A repetition that fails is reported (not hidden in a median), the job is put back from its savepoint, and
the bench goes on. Found by this bench and since fixed in the control plane: on Flink 2.3 a Deployment
deleted right after the savepoint SIGTERMs the old JobManager while it still commits its *application*
result, and with one `application-result-store.storage-path` per cluster id the new JobManager then took the
application as finished and shut down without running the job; `FlinkControlPlane.submit` now gives every
HA submission its own job- and application-result-store path. `--ars-workaround` gives the hand-run side
the same per-submission application-result-store path (ours always has it).

Run: `.venv/bin/python -m bench.bench_redeploy [--reps 2]`
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path

from bench.common import BenchCluster, Stats, alternate, exit_code, result

RATIO_TARGET = 1.25
CLUSTER = "bench-stream"
POLL = 0.2


def _get(url: str, timeout: float = 5) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.load(resp)


def _post(url: str, body: dict, timeout: float = 10) -> dict:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.load(resp)


def _until(what: str, probe: Callable[[], object], timeout: float = 300, poll: float = POLL) -> object:
    """Poll `probe` until it returns something truthy (errors count as 'not yet'); raise after `timeout`."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = probe()
            if value:
                return value
        except (OSError, ValueError, KeyError) as exc:
            last = exc
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what} (last error: {last})")
        time.sleep(poll)


def state_loss(series: dict[int, list[int]], start: dict[int, int]) -> tuple[int, list[str]]:
    """Counts lost per key after index `start[key]`: every step must be +1; a rewind by n is n counts lost."""
    lost, notes = 0, []
    for key, counts in series.items():
        seg = counts[max(start.get(key, 0) - 1, 0):]
        for prev, cur in zip(seg, seg[1:], strict=False):
            if cur != prev + 1:
                if cur <= prev:
                    lost += prev + 1 - cur
                notes.append(f"key {key}: {prev} -> {cur}")
    return lost, notes


class RedeployBench:
    """The harness, one streaming job, and the two redeploy procedures (each returns its downtime in seconds)."""

    def __init__(self, work: Path) -> None:
        from kubernetes import client

        from flink_k8s.clients.flink_cli import FlinkCli
        from flink_k8s.clients.kube import KubeView
        from flink_k8s.control_plane import FlinkControlPlane
        from flink_k8s.core.catalogue import parse_catalogue
        from tests.fixtures.paths import FLINK_23, FLINK_115
        from tests.fixtures.test_jobs import build_jobs
        from tests.kube.kubelet import LocalKubelet, jar_dir_with

        self.work = work
        self.out = work / "out"
        jars = build_jobs(FLINK_23)
        self.k8s = BenchCluster.start(work)
        self.namespace, self.kubeconfig, self.api = self.k8s.namespace, self.k8s.kubeconfig, self.k8s.api
        self.core = client.CoreV1Api(self.k8s.admin)
        self.kubelet = None
        jar_dir = work / "cluster" / "usrlib"
        jar_dir.mkdir(parents=True)
        jar_dir_with(jar_dir, {"streaming.jar": jars.streaming})
        self.kubelet = LocalKubelet(self.k8s.cluster, namespace=self.namespace,
                                    work_dir=work / "cluster", jar_dir=jar_dir,
                                    flink_homes={"config.yaml": FLINK_23, "flink-conf.yaml": FLINK_115}).start()
        self.kube = KubeView(self.api, self.namespace)
        self.cli = FlinkCli(FLINK_23, log_dir=work / "cli-log")
        self.cp = FlinkControlPlane(self.kube, cli=self.cli, kubeconfig_path=str(self.kubeconfig))
        self.store = self.cp.ledger_store
        self.spec = parse_catalogue(self._catalogue().encode()).job("stream")
        self.release = 1
        self.ars_workaround = False
        self.failures: dict[str, list[str]] = {"ours": [], "hand-run": []}
        self.loss: dict[str, list[int]] = {"ours": [], "hand-run": []}
        self.notes: list[str] = []
        self.ours_returned: list[float] = []
        self.step_times: list[list[str]] = []

    def _catalogue(self) -> str:
        return textwrap.dedent(f"""
            defaults:
              flink_version: "2.3"
              namespace: {self.namespace}
              service_account: flink-sa
              image: "flink-test:{{release}}"
              parallelism: 1
              jobmanager: {{cpu: 0.5, process_memory: 1024m}}
              taskmanager: {{cpu: 0.5, slots: 1, process_memory: 1280m}}
              rest_service: {{exposed_type: ClusterIP}}
              restart_strategy: {{type: none}}
            jobs:
              stream:
                kind: streaming
                upgrade_mode: savepoint
                cluster_id: {CLUSTER}
                jar_uri: local:///opt/flink/usrlib/streaming.jar
                program_args: [--output, "{self.out}", --rate, "20", --checkpoint-interval-ms, "1000"]
                high_availability: {{enabled: true, storage_dir: "hdfs://datacluster/flink/recovery"}}
                checkpointing: {{dir: "hdfs://datacluster/flink/checkpoints", interval: 1s}}
                savepoint_dir: hdfs://datacluster/flink/savepoints/stream
            """)

    # -- lifecycle ---------------------------------------------------------------------------------------------

    def deploy_first(self) -> None:
        self.cp.submit(self.spec, str(self.release), timeout=300)
        self.cp.wait_first_checkpoint(CLUSTER, None, timeout=300)
        self._wait_counts_advance({}, 3)

    def close(self) -> None:
        try:
            if self.kube.cluster_exists(CLUSTER):
                self.cp.delete_cluster(CLUSTER, timeout=120)
        finally:
            if self.kubelet is not None:
                self.kubelet.stop()
            self.k8s.close()

    # -- measurement helpers --------------------------------------------------------------------------------------

    def _rest(self) -> str:
        return self.kubelet.rest_url(CLUSTER)

    def _running_job(self) -> str | None:
        jobs = _get(f"{self._rest()}/jobs")["jobs"]
        return next((j["id"] for j in jobs if j["status"] == "RUNNING"), None)

    def _first_checkpoint_epoch(self, job_id: str) -> float | None:
        """Flink's ack time of the job's first completed (non-savepoint) checkpoint, in epoch seconds."""
        stats = _get(f"{self._rest()}/jobs/{job_id}/checkpoints")
        done = [c for c in stats.get("history", []) if c.get("status") == "COMPLETED" and not c.get("is_savepoint")]
        if not done:
            return None
        return min(done, key=lambda c: c["id"])["latest_ack_timestamp"] / 1000

    def _counts(self) -> dict[int, list[int]]:
        from tests.fixtures.test_jobs import read_counts

        return read_counts(self.out)

    def _wait_counts_advance(self, start: dict[int, int], at_least: int) -> None:
        _until(f"every key to emit {at_least} new counts", lambda: (c := self._counts()) and all(
            len(v) >= start.get(k, 0) + at_least for k, v in c.items()), timeout=180)

    def _check_state(self, name: str, start: dict[int, int]) -> None:
        self._wait_counts_advance(start, 5)
        lost, notes = state_loss(self._counts(), start)
        self.loss[name].append(lost)
        self.notes.extend(f"{name}: {n}" for n in notes)
        print(f"      state: {'0 state lost' if not lost else f'{lost} counts LOST'}"
              + (f" ({'; '.join(notes[:4])})" if notes else ""), flush=True)

    # -- the two procedures ---------------------------------------------------------------------------------------

    def _spec_for_submit(self):
        """With --ars-workaround: a per-submission `application-result-store.storage-path` (see main's note)."""
        if not self.ars_workaround:
            return self.spec
        from dataclasses import replace

        path = f"{self.spec.high_availability.storage_dir.rstrip('/')}/application-result-store/{CLUSTER}/{uuid.uuid4()}"
        return replace(self.spec, flink_conf={**(self.spec.flink_conf or {}),
                                              "application-result-store.storage-path": path})

    def guarded(self, name: str, fn: Callable[[int], float]) -> Callable[[int], float]:
        """Run one redeploy; on failure record why, put a job back (from the savepoint taken), return NaN."""
        def run(rep: int) -> float:
            try:
                return fn(rep)
            except Exception as exc:  # noqa: BLE001 - reported in the results, then the bench continues
                message = f"{type(exc).__name__}: {str(exc).splitlines()[0][:400] if str(exc) else ''}"
                self.failures[name].append(message)
                print(f"      {name} FAILED: {message}", flush=True)
                self.recover()
                return float("nan")
        return run

    def recover(self) -> None:
        """After a failed redeploy: clear the cluster and submit again from the newest savepoint (fresh result stores)."""
        from dataclasses import replace

        if self.kube.cluster_exists(CLUSTER):
            self.cp.delete_cluster(CLUSTER, timeout=120)
        self.kube.delete_ha_configmaps(CLUSTER)
        from flink_k8s.core import ledger as L

        ledger = self.store.load(CLUSTER)
        savepoint = ledger.progress.savepoint_path or (ledger.savepoints[-1].path if ledger.savepoints else None)
        self.store.update(CLUSTER, lambda led: L.release_hold(L.clear_progress(led), "bench"))
        storage = self.spec.high_availability.storage_dir.rstrip("/")
        spec = replace(self.spec, flink_conf={**(self.spec.flink_conf or {}), "application-result-store.storage-path":
                                              f"{storage}/application-result-store/{CLUSTER}/{uuid.uuid4()}"})
        self.release += 1
        print(f"      recovering: resubmitting from {savepoint}", flush=True)
        self.cp.submit(spec, str(self.release), savepoint=savepoint, timeout=300)
        self.cp.wait_first_checkpoint(CLUSTER, None, timeout=300)

    def ours(self, _rep: int) -> float:
        from datetime import timedelta

        from flink_k8s import executor
        from flink_k8s.core.ledger import Action
        from flink_k8s.core.lifecycle import plan_of_redeploy
        from flink_k8s.core.redeploy import RedeployRequest, StepKind, UpgradeMode

        self.release += 1
        release = str(self.release)
        start = {k: len(v) for k, v in self._counts().items()}
        marks: dict[str, float] = {}

        steps: list[str] = []

        def on_step(step, result) -> None:
            if step.kind is StepKind.STOP_WITH_SAVEPOINT and result is None:
                marks["stop"] = time.time()
            if result is not None and "stop" in marks:
                steps.append(f"{step.kind.value} +{time.time() - marks['stop']:.1f}s")

        request = RedeployRequest(cluster_id=CLUSTER, release=release, mode=UpgradeMode.SAVEPOINT,
                                  savepoint_dir=self.spec.savepoint_dir, target_image=f"flink-test:{release}")
        session = self.store.begin(CLUSTER, "bench", Action.REDEPLOY, timedelta(minutes=10))
        plan = self.cp.plan_redeploy(request, session.ledger)
        summary = executor.execute(executor.Run(self.cp, plan_of_redeploy(plan), self._spec_for_submit(), release,
                                                timeout=240, session=session), on_step).summary()
        returned = time.time()
        if "stop" not in marks:
            raise RuntimeError(f"the plan had no STOP_WITH_SAVEPOINT step: {[s.kind.value for s in plan.steps]}")
        end = _until("the new job's first checkpoint", lambda: self._first_checkpoint_epoch(summary["job_id"]))
        self.ours_returned.append(returned - marks["stop"])
        print(f"      ours: savepoint {summary.get('savepoint')}; the executor returned after "
              f"{returned - marks['stop']:.2f} s; steps done at: {', '.join(steps)}", flush=True)
        self.step_times.append(steps)
        self._check_state("ours", start)
        return float(end) - marks["stop"]

    def hand_run(self, _rep: int) -> float:
        self.release += 1
        release = str(self.release)
        start = {k: len(v) for k, v in self._counts().items()}
        job_id = str(_until("a RUNNING job before the hand-run", self._running_job, 120))  # looked up beforehand
        rest = self._rest()
        ha = self.spec.high_availability
        conf = {"job-result-store.storage-path": f"{ha.storage_dir.rstrip('/')}/job-result-store/{CLUSTER}/"
                                                 f"{uuid.uuid4()}"}

        t0 = time.time()
        marks: list[str] = []
        # No targetDirectory: the cluster's configured savepoint dir (rendered from the catalogue) is used, as
        # ours does; the catalogue's hdfs:// URI itself only resolves inside the harness's configuration.
        trigger = _post(f"{rest}/jobs/{job_id}/stop", {"drain": False})["request-id"]

        def savepoint() -> str | None:
            status = _get(f"{rest}/jobs/{job_id}/savepoints/{trigger}")
            if status["status"]["id"] != "COMPLETED":
                return None
            op = status.get("operation") or {}
            if "failure-cause" in op:
                raise RuntimeError(f"savepoint failed: {op['failure-cause']}")
            return op["location"]

        path = str(_until("the savepoint", savepoint, 300))
        marks.append(f"savepoint +{time.time() - t0:.1f}s")
        _until("the cluster to be gone", lambda: not self.kube.cluster_exists(CLUSTER), 300)
        marks.append(f"gone +{time.time() - t0:.1f}s")
        self.core.delete_collection_namespaced_config_map(
            self.namespace, label_selector=f"app={CLUSTER},type=flink-native-kubernetes")
        argv = self.cp.submit_argv(self._spec_for_submit(), release, savepoint=path, extra_conf=conf)
        done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                              env=self.cli.env(), timeout=300, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"flink run -s exited {done.returncode}: {done.stdout.decode(errors='replace')[-2000:]}")
        marks.append(f"flink run exited +{time.time() - t0:.1f}s")
        new_job = str(_until("the restored job RUNNING", self._running_job, 300))
        marks.append(f"RUNNING +{time.time() - t0:.1f}s")
        end = _until("the restored job's first checkpoint", lambda: self._first_checkpoint_epoch(new_job), 300)
        print(f"      hand-run: savepoint {path}; {', '.join(marks)}", flush=True)
        self._check_state("hand-run", start)
        return float(end) - t0


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--ars-workaround", action="store_true",
                        help="give every submission its own application-result-store.storage-path (both sides)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-redeploy-") as tmp:
        print(f"redeploy: savepoint redeploy downtime on the local native-K8s harness, {args.reps} reps each "
              f"alternating (expensive: kept at {args.reps}; the spread below is from {args.reps} samples only)",
              flush=True)
        bench = RedeployBench(Path(tmp))
        bench.ars_workaround = args.ars_workaround
        try:
            bench.deploy_first()
            times = alternate({"ours": bench.guarded("ours", bench.ours),
                               "hand-run": bench.guarded("hand-run", bench.hand_run)}, args.reps)
        finally:
            bench.close()
    ok_times = {name: [t for t in ts if not math.isnan(t)] for name, ts in times.items()}
    failures = {name: msgs for name, msgs in bench.failures.items() if msgs}
    if not ok_times["ours"] or not ok_times["hand-run"]:
        print(f"  redeploy: no ratio — every repetition of {[n for n, t in ok_times.items() if not t]} failed: "
              f"{failures}")
        return {"savepoint redeploy downtime": result(
            f"ratio <= {RATIO_TARGET:.2f}", float("nan"), "s", False, failures=failures,
            ours_s=ok_times["ours"], hand_run_s=ok_times["hand-run"], reps=args.reps,
            ars_workaround=args.ars_workaround)}
    ours, hand = Stats.of(ok_times["ours"]), Stats.of(ok_times["hand-run"])
    ratio = ours.median / hand.median
    if failures:
        print(f"  FAILED repetitions (not in the medians): {failures}")
    lost = sum(bench.loss["ours"]) + sum(bench.loss["hand-run"])
    state = "0 state lost" if lost == 0 else (f"STATE LOST: ours {sum(bench.loss['ours'])} counts, hand-run "
                                               f"{sum(bench.loss['hand-run'])} counts")
    print(f"  ours:     downtime {ours.describe()}")
    print(f"  hand-run: downtime {hand.describe()}")
    print(f"  ratio ours/hand-run {ratio:.3f} (target <= {RATIO_TARGET}); {state}")
    return {
        "savepoint redeploy downtime": result(
            f"ratio <= {RATIO_TARGET:.2f}", ours.median, "s", ratio <= RATIO_TARGET and not failures, ratio=ratio,
            failures=failures, ars_workaround=args.ars_workaround,
            ratio_means="ours / minimal hand-run sequence (median downtime)", baseline_s=hand.median,
            spread=ours.as_dict(), baseline_spread=hand.as_dict(), reps=args.reps,
            execute_plan_returned_s=bench.ours_returned, ours_step_times=bench.step_times),
        "savepoint redeploy state continuity": result(
            "0 state lost", float(sum(bench.loss["ours"])), "counts lost (ours)", sum(bench.loss["ours"]) == 0,
            hand_run_lost=sum(bench.loss["hand-run"]), notes=bench.notes[:20], summary=state),
    }


if __name__ == "__main__":
    sys.exit(exit_code(main()))
