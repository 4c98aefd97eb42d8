"""Benchmark: submit overhead — FlinkControlPlane.submit vs a bare `flink run` with the same argv (target <= 1.10x).

Ours (timed): validate the catalogue (the shipped seed job, 35 flags, rendered for Flink 2.3), check the
submit overrides, render the argv and run the real CLI through FlinkCli (output pump, masking, process-group
reaping). Baseline (timed): `subprocess.run` of exactly the argv ours produced, same environment.

Both go to the real local API server WITHOUT a kubelet for the namespace: the CLI creates the Deployment, Services and
ConfigMap and exits; no JobManager ever starts (cheap, and the CLI's work is identical for both). Between
repetitions the cluster's objects are deleted (not timed). The CLI costs seconds of JVM start on a loaded
machine, so the ratio's noise is large; the in-process overhead (ours minus its own CLI subprocess time) is
reported too, as the precise number.

Run: `.venv/bin/python -m bench.bench_submit [--reps 6]`
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml

from bench.common import REPO, BenchCluster, Stats, alternate, exit_code, result

FLINK_HOME = REPO / ".flink" / "flink-2.3.0"
CATALOGUE = REPO / "include" / "flink_jobs.yaml"
JOB = "streaming-job"
RATIO_TARGET = 1.10


def catalogue_bytes(namespace: str) -> bytes:
    """The shipped catalogue, rendered for Flink 2.3 into the bench's namespace."""
    data = yaml.safe_load(CATALOGUE.read_text())
    data["defaults"].update(flink_version="2.3", namespace=namespace)
    return yaml.safe_dump(data, sort_keys=False).encode()


class SubmitBench:
    """Local Kubernetes cluster + namespace + control plane; `ours(rep)` / `bare(rep)` each submit once and return seconds."""

    def __init__(self, work: Path) -> None:
        from kubernetes import client

        from flink_k8s.clients.flink_cli import FlinkCli
        from flink_k8s.clients.kube import KubeView
        from flink_k8s.control_plane import FlinkControlPlane
        from tests.kube.kubelet import claim_namespace

        self.k8s = BenchCluster.start(work)
        self.namespace, self.kubeconfig, self.api = self.k8s.namespace, self.k8s.kubeconfig, self.k8s.api
        self.core, self.apps = client.CoreV1Api(self.k8s.admin), client.AppsV1Api(self.k8s.admin)
        # No kubelet here: claim the namespace so the node daemon leaves its pods Pending too.
        self.claim = claim_namespace(self.k8s.cluster, self.namespace)
        self.kube = KubeView(self.api, self.namespace)
        self.cli = FlinkCli(FLINK_HOME, log_dir=work / "log")
        self.cp = FlinkControlPlane(self.kube, cli=self.cli, kubeconfig_path=str(self.kubeconfig))
        self.data = catalogue_bytes(self.namespace)
        self.cli_seconds: list[float] = []
        self.cluster_id = ""

    def close(self) -> None:
        self.claim.unlink(missing_ok=True)
        self.k8s.close()

    def ours(self, rep: int) -> float:
        from flink_k8s.core.catalogue import parse_catalogue
        from flink_k8s.core.run_inputs import validate_submit_overrides

        started = time.perf_counter()
        job = parse_catalogue(self.data).job(JOB)
        release, parallelism, _ = validate_submit_overrides(job, str(rep + 1), None, None)
        res = self.cp.submit(job, release, parallelism=parallelism, timeout=300)
        elapsed = time.perf_counter() - started
        self.cli_seconds.append(res.duration_s)
        self.cluster_id = job.cluster_id or job.name
        self.cleanup()
        return elapsed

    def bare(self, rep: int) -> float:
        from flink_k8s.core.catalogue import parse_catalogue

        job = parse_catalogue(self.data).job(JOB)
        ha = job.high_availability
        conf = ({"job-result-store.storage-path": f"{ha.storage_dir.rstrip('/')}/job-result-store/"
                                                  f"{job.cluster_id or job.name}/{uuid.uuid4()}"}
                if ha.enabled and ha.storage_dir else {})  # what ours adds; the argv stays identical
        argv = self.cp.submit_argv(job, str(rep + 1), extra_conf=conf)
        env = self.cli.env()
        started = time.perf_counter()
        done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                              env=env, timeout=300, check=False)
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"bare flink run exited {done.returncode}: {done.stdout.decode(errors='replace')[-2000:]}")
        self.cluster_id = job.cluster_id or job.name
        self.cleanup()
        return elapsed

    def cleanup(self) -> None:
        """Delete what the CLI created (Deployment, Services, ConfigMaps) and wait until nothing is left."""
        cid = self.cluster_id
        if not self.kube.delete_deployment(cid):
            raise RuntimeError(f"the CLI did not create Deployment {cid}")
        # Its pods are bound to the node but no kubelet runs them, so none would confirm a graceful delete:
        # remove them at once (grace 0), as `kubectl delete --force` does for a node that is gone, until the
        # garbage collector has removed the ReplicaSet (which re-creates pods until then).
        deadline = time.monotonic() + 60
        while True:
            self.core.delete_collection_namespaced_pod(self.namespace, label_selector=f"app={cid}",
                                                       grace_period_seconds=0)
            if not self.kube.cluster_exists(cid) and not self.apps.list_namespaced_replica_set(
                    self.namespace, label_selector=f"app={cid}").items:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"cluster {cid} still exists 60 s after its Deployment was deleted")
            time.sleep(0.2)
        self.core.delete_collection_namespaced_config_map(self.namespace, label_selector=f"app={cid}")
        for svc in self.core.list_namespaced_service(self.namespace, label_selector=f"app={cid}").items:
            self.core.delete_namespaced_service(svc.metadata.name, self.namespace)
        left = (self.core.list_namespaced_config_map(self.namespace, label_selector=f"app={cid}").items
                + self.core.list_namespaced_service(self.namespace, label_selector=f"app={cid}").items)
        if left:
            raise RuntimeError(f"objects of {cid} left after clean-up: {[o.metadata.name for o in left]}")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=4)
    args = parser.parse_args(argv)
    if not (FLINK_HOME / "bin" / "flink").exists():
        raise RuntimeError(f"no Flink at {FLINK_HOME}: run `make flink`")

    with tempfile.TemporaryDirectory(prefix="bench-submit-") as tmp:
        bench = SubmitBench(Path(tmp))
        try:
            print(f"submit: {JOB} (shipped seed job, Flink 2.3 rendering) into the local API server, no kubelet; "
                  f"{args.reps} reps alternating")
            bench.bare(0)  # warm-up (page cache, JIT of nothing: the CLI is a fresh JVM each time); not counted
            times = alternate({"ours": bench.ours, "bare CLI": bench.bare}, args.reps)
        finally:
            bench.close()
    ours, bare = Stats.of(times["ours"]), Stats.of(times["bare CLI"])
    overhead = Stats.of([t - c for t, c in zip(times["ours"], bench.cli_seconds, strict=True)])
    ratio = ours.median / bare.median
    print(f"  ours:     {ours.describe()}")
    print(f"  bare CLI: {bare.describe()}")
    print(f"  ratio ours/bare {ratio:.3f} (target <= {RATIO_TARGET}); in-process overhead of ours "
          f"(total minus its CLI subprocess): {overhead.describe('ms', 1000, 1)}, i.e. a ratio of "
          f"{(bare.median + overhead.median) / bare.median:.4f} on the bare CLI's median")
    return {"submit overhead vs bare flink run": result(
        f"ratio <= {RATIO_TARGET:.2f}", ours.median, "s", ratio <= RATIO_TARGET, ratio=ratio,
        ratio_means="ours / bare CLI (median)", baseline_s=bare.median, spread=ours.as_dict(),
        baseline_spread=bare.as_dict(), in_process_overhead_s=overhead.as_dict(),
        ratio_from_overhead=(bare.median + overhead.median) / bare.median, reps=args.reps)}


if __name__ == "__main__":
    sys.exit(exit_code(main()))
