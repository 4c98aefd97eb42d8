"""Benchmark: list / status / cancel through the control plane vs the real `flink` CLI (target >= 50x), and
health of 200 cluster ids in one call (target <= 2 s).

On the local native-Kubernetes harness (local Kubernetes cluster (real control plane) + LocalKubelet running the real Flink 2.3.0
JobManager/TaskManager the real CLI deploys), with the `<id>-rest` Service exposed as NodePort so the seed's
unchanged `flink list|cancel --target kubernetes-application` can reach the JobManager (node ExternalIP
127.0.0.1, nodePort = the JobManager's REST port):

- list:   ours = `FlinkControlPlane.rest(id)` (reads the `<id>-rest` Service) + `GET /jobs/overview` through
          the API server's service proxy;  CLI = `flink list --target kubernetes-application …`.
- status: ours = `FlinkControlPlane.observe(id)`: Deployment, pods, ConfigMaps, job details, restart metric,
          checkpoint stats and config (more than the CLI can tell);  CLI = `flink list` (the closest it has).
- cancel: ours = service read + `PATCH /jobs/<id>?mode=cancel` through the proxy;  CLI = `flink cancel <id>
          --target kubernetes-application …`. Both return once Flink acknowledged the cancel of the RUNNING
          job (cancelling a job that is still INITIALIZING waits for its JobMaster: 1.5-4 s for both sides).
          A cancel ends the application cluster, so every repetition gets a fresh cluster (set-up and
          tear-down not timed).
- health: `FlinkControlPlane.health_many` of 200 catalogue jobs, 1 running on the harness and 199 whose
          clusters do not exist (3 Kubernetes reads each, the running one adds 5 REST calls), 16 concurrent.

Runs alternate (ABBA) so the machine's drifting load hits both sides alike; medians, with min/max/IQR.
Run: `.venv/bin/python -m bench.bench_control [--reps 3] [--list-reps 5]`
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import textwrap
import time
from dataclasses import replace
from pathlib import Path

from bench.common import BenchCluster, Stats, alternate, exit_code, result

RATIO_TARGET = 50.0
HEALTH_TARGET_S = 2.0
HEALTH_CLUSTERS = 200


class ControlBench:
    """Local Kubernetes cluster + local kubelet + one streaming job; each measuring method returns seconds."""

    def __init__(self, work: Path) -> None:

        from flink_k8s.clients.flink_cli import FlinkCli
        from flink_k8s.clients.kube import KubeView
        from flink_k8s.control_plane import FlinkControlPlane
        from flink_k8s.core.catalogue import parse_catalogue
        from tests.fixtures.paths import FLINK_23, FLINK_115
        from tests.fixtures.test_jobs import build_jobs
        from tests.kube.kubelet import LocalKubelet, jar_dir_with

        self.work = work
        jars = build_jobs(FLINK_23)
        self.k8s = BenchCluster.start(work)
        self.namespace, self.kubeconfig, self.api = self.k8s.namespace, self.k8s.kubeconfig, self.k8s.api
        jar_dir = work / "cluster" / "usrlib"
        jar_dir.mkdir(parents=True)
        jar_dir_with(jar_dir, {"streaming.jar": jars.streaming})
        self.kubelet = LocalKubelet(self.k8s.cluster, namespace=self.namespace,
                                    work_dir=work / "cluster", jar_dir=jar_dir,
                                    flink_homes={"config.yaml": FLINK_23, "flink-conf.yaml": FLINK_115}).start()
        self.kube = KubeView(self.api, self.namespace)
        self.cli = FlinkCli(FLINK_23, log_dir=work / "cli-log")
        self.cp = FlinkControlPlane(self.kube, cli=self.cli, kubeconfig_path=str(self.kubeconfig))
        self.spec = parse_catalogue(self._catalogue().encode()).job("stream")
        self.clusters = 0
        self.cluster_id = ""
        self.job_id = ""

    def _catalogue(self) -> str:
        return textwrap.dedent(f"""
            defaults:
              flink_version: "2.3"
              namespace: {self.namespace}
              image: "flink-test:{{release}}"
              service_account: flink-sa  # include/k8s/ RBAC: the JobManager lists and creates its TaskManager pods
              parallelism: 1
              jobmanager: {{cpu: 0.5, process_memory: 1024m}}
              taskmanager: {{cpu: 0.5, slots: 1, process_memory: 1280m}}
              rest_service: {{exposed_type: NodePort}}
              restart_strategy: {{type: none}}
            jobs:
              stream:
                kind: streaming
                upgrade_mode: stateless
                jar_uri: local:///opt/flink/usrlib/streaming.jar
                program_args: [--output, "{self.work / 'out'}", --rate, "5", --checkpoint-interval-ms, "5000"]
            """)

    def close(self) -> None:
        try:
            if self.cluster_id and self.kube.cluster_exists(self.cluster_id):
                self.cp.delete_cluster(self.cluster_id, timeout=120)
        finally:
            self.kubelet.stop()
            self.k8s.close()

    # -- clusters (not timed) -------------------------------------------------------------------------------------

    def fresh_cluster(self, wait_running: bool) -> None:
        """A new application cluster with its job known to the JobManager (RUNNING if asked)."""
        if self.cluster_id and self.kube.cluster_exists(self.cluster_id):
            self.cp.delete_cluster(self.cluster_id, timeout=120)
        self.clusters += 1
        self.cluster_id = f"bc-{self.clusters}"
        self.cp.submit(self.spec, "1", cluster_id=self.cluster_id, timeout=300)
        if wait_running:
            self.job_id = self.cp.wait_running(self.cluster_id, 300).job_id
        else:
            self.job_id = self.cp.wait_job(self.cluster_id, lambda j: True, 300, "the job to be known").job_id

    def _cli_argv(self, action: str, *args: str) -> list[str]:
        return [self.cli.executable, action, *args, "--target", "kubernetes-application",
                f"-Dkubernetes.cluster-id={self.cluster_id}", f"-Dkubernetes.namespace={self.namespace}",
                f"-Dkubernetes.config.file={self.kubeconfig}", "-Dkubernetes.rest-service.exposed.type=NodePort"]

    # -- measured operations ---------------------------------------------------------------------------------------

    def ours_list(self, rep: int) -> float:
        started = time.perf_counter()
        with self.cp.rest(self.cluster_id) as rest:
            jobs = rest.jobs()
        elapsed = time.perf_counter() - started
        assert [j.job_id for j in jobs] == [self.job_id], jobs
        return elapsed

    def ours_status(self, rep: int) -> float:
        started = time.perf_counter()
        obs = self.cp.observe(self.cluster_id)
        elapsed = time.perf_counter() - started
        assert obs.job is not None and obs.job.job_id == self.job_id and obs.rest_error is None, obs
        return elapsed

    def cli_list(self, rep: int) -> float:
        started = time.perf_counter()
        res = self.cli.run(self._cli_argv("list"), timeout=300)
        elapsed = time.perf_counter() - started
        assert self.job_id in "\n".join(res.tail), res.tail[-5:]
        return elapsed

    def ours_cancel(self, rep: int) -> float:
        self.fresh_cluster(wait_running=True)
        started = time.perf_counter()
        with self.cp.rest(self.cluster_id) as rest:
            rest.cancel(self.job_id)
        elapsed = time.perf_counter() - started
        self._wait_cancelled()
        return elapsed

    def cli_cancel(self, rep: int) -> float:
        self.fresh_cluster(wait_running=True)
        started = time.perf_counter()
        self.cli.run(self._cli_argv("cancel", self.job_id), timeout=300)
        elapsed = time.perf_counter() - started
        self._wait_cancelled()
        return elapsed

    def _wait_cancelled(self) -> None:
        """The cancel really happened: the JobManager ends the application and deletes its Deployment."""
        self.kube.wait_gone(self.cluster_id, 180)

    def health_many(self, rep: int) -> float:
        running = replace(self.spec, name="running", cluster_id=self.cluster_id)
        specs = [running] + [replace(self.spec, name=f"job-{i}", cluster_id=f"missing-{rep}-{i}")
                             for i in range(HEALTH_CLUSTERS - 1)]
        started = time.perf_counter()
        reports = self.cp.health_many(specs, parallelism=16)
        elapsed = time.perf_counter() - started
        assert len(reports) == HEALTH_CLUSTERS
        missing = sum(1 for r in reports.values() if r.verdict.name == "MISSING")
        assert missing == HEALTH_CLUSTERS - 1 and reports["running"].verdict.name != "MISSING", reports["running"]
        return elapsed


def _ratio_entry(name: str, times: dict[str, list[float]], ours: str, cli: str, note: str) -> dict:
    o, c = Stats.of(times[ours]), Stats.of(times[cli])
    ratio = c.median / o.median
    print(f"  {name}: ours {o.describe('ms', 1000, 1)}")
    print(f"  {name}: CLI  {c.describe('s')}")
    print(f"  {name}: ratio {ratio:,.0f}x (target >= {RATIO_TARGET:.0f}x)")
    return result(f"ratio >= {RATIO_TARGET:.0f}x", o.median, "s", ratio >= RATIO_TARGET, ratio=ratio,
                  ours=o.as_dict(), cli=c.as_dict(), note=note)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_control", description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="cancel repetitions per side (a cluster each)")
    parser.add_argument("--list-reps", type=int, default=5, help="list/status repetitions per side")
    parser.add_argument("--health-reps", type=int, default=5, help="health_many repetitions")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-control-") as tmp:
        bench = ControlBench(Path(tmp))
        try:
            print("  starting a cluster (real CLI submit, JobManager + TaskManager) ...", flush=True)
            bench.fresh_cluster(wait_running=True)
            bench.ours_list(0), bench.ours_status(0)  # warm the connection pools once, like any long-lived caller
            times = alternate({"ours-list": bench.ours_list, "ours-status": bench.ours_status,
                               "cli-list": bench.cli_list}, args.list_reps, log=lambda s: print(s, flush=True))
            health = [bench.health_many(rep) for rep in range(args.health_reps)]
            for rep, value in enumerate(health):
                print(f"    rep {rep + 1}/{args.health_reps} health_many({HEALTH_CLUSTERS}) {value:.3f} s", flush=True)
            cancel = alternate({"ours-cancel": bench.ours_cancel, "cli-cancel": bench.cli_cancel}, args.reps,
                               log=lambda s: print(s, flush=True))
        finally:
            bench.close()

    out = {
        "control_list": _ratio_entry("list", times, "ours-list", "cli-list",
                                     "REST /jobs/overview via the API server's service proxy vs `flink list`"),
        "control_status": _ratio_entry("status", times, "ours-status", "cli-list",
                                       "observe() (K8s objects + job + checkpoints) vs `flink list`"),
        "control_cancel": _ratio_entry("cancel", cancel, "ours-cancel", "cli-cancel",
                                       "REST PATCH cancel via the proxy vs `flink cancel`; fresh cluster per rep"),
    }
    h = Stats.of(health)
    print(f"  health_many({HEALTH_CLUSTERS}): {h.describe('s')} (target <= {HEALTH_TARGET_S:.0f} s)")
    out["control_health_200"] = result(f"<= {HEALTH_TARGET_S:.0f} s", h.median, "s", h.median <= HEALTH_TARGET_S,
                                       stats=h.as_dict(), clusters=HEALTH_CLUSTERS, running=1, parallelism=16)
    return out


if __name__ == "__main__":
    sys.exit(exit_code(main(sys.argv[1:])))
