"""Benchmark: `GET /flink/api/jobs` for a 200-job catalogue (target <= 1 s), and one slow cluster (5 s per answer)
does not delay the page beyond its per-cluster timeout (target: <= timeout + the all-fast time + 0.5 s).

Measured through the real thing: `airflow api-server` with the plugin, a Bearer token from `/auth/token`, the
`kubernetes_default` connection pointing at a local double of the Kubernetes API that speaks the real wire
protocols (a threaded HTTP server, tests/fixtures/http_stub.py): namespace lists of pods/ConfigMaps/Services,
Deployment reads, and each cluster's Flink REST API behind the API server's service proxy path
(`/api/v1/namespaces/<ns>/services/<id>-rest:8081/proxy/jobs/...`), answered with Flink 2.3's JSON bodies.
Every one of the 200 streaming clusters runs a job with checkpoints, so each costs 6 HTTP calls (1 Deployment
read + 5 REST) plus 4 list calls per namespace: 1,204 requests per page.

"one slow": the double holds every answer about one cluster for 5 s; the page's timeout is 2 s. Runs alternate
(ABBA) between all-fast and one-slow; medians with spread. Run: `.venv/bin/python -m bench.bench_flink_page`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.common import Stats, alternate, exit_code, result
from bench.kube_flink_double import NAMESPACE, cluster_ids, double_handler, serve_double

JOBS = 200
SLOW_SECONDS = 5.0
TIMEOUT = 2.0
TARGET_S = 1.0
SLOW_MARGIN_S = 0.5


def catalogue_text(ids: list[str]) -> str:
    jobs = "".join(f"  {cid}:\n    kind: streaming\n    upgrade_mode: stateless\n"
                   f"    jar_uri: local:///opt/flink/usrlib/s.jar\n" for cid in ids)
    return (f'defaults:\n  flink_version: "2.3"\n  namespace: {NAMESPACE}\n  image: "flink-bench:{{release}}"\n'
            f"jobs:\n{jobs}")


class PageBench:
    def __init__(self, work: Path, stub_url: str, handler) -> None:
        from tests.fixtures.airflow_server import start_server

        self.handler = handler
        kubeconfig = work / "kubeconfig"
        kubeconfig.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "c",
            "clusters": [{"name": "double", "cluster": {"server": stub_url}}],
            "users": [{"name": "u", "user": {"token": "bench-token"}}],
            "contexts": [{"name": "c", "context": {"cluster": "double", "user": "u", "namespace": NAMESPACE}}]}))
        catalogue = work / "flink_jobs.yaml"
        catalogue.write_text(catalogue_text(cluster_ids(JOBS)))
        conn = {"conn_type": "kubernetes", "extra": {"kube_config_path": str(kubeconfig), "namespace": NAMESPACE}}
        self.server = start_server(work / "airflow", {"FLINK_K8S_CATALOGUE": str(catalogue),
                                                     "FLINK_K8S_UI_TIMEOUT": str(TIMEOUT),
                                                     "AIRFLOW_CONN_KUBERNETES_DEFAULT": json.dumps(conn)})
        self.token = self.server.token("admin")
        self.last: dict = {}

    def fetch(self) -> tuple[float, dict]:
        req = urllib.request.Request(f"{self.server.url}/flink/api/jobs",
                                     headers={"Authorization": f"Bearer {self.token}"})
        started = time.perf_counter()
        with urllib.request.urlopen(req, timeout=60) as resp:
            body = json.loads(resp.read())
        return time.perf_counter() - started, body

    def run(self, slow: str | None) -> float:
        self.handler.slow = slow
        elapsed, body = self.fetch()
        verdicts: dict[str, int] = {}
        for row in body["jobs"]:
            verdicts[row["health"]["verdict"]] = verdicts.get(row["health"]["verdict"], 0) + 1
        errors = [row["name"] for row in body["jobs"] if row["error"]]
        expected_errors = [slow] if slow else []
        if body["count"] != JOBS or errors != expected_errors or verdicts.get("HEALTHY") != JOBS - len(expected_errors):
            first = next((r["error"] for r in body["jobs"] if r["error"]), None)
            raise AssertionError(f"unexpected page (slow={slow}): {verdicts}, errors {errors[:5]}: {first}")
        self.last[slow or "fast"] = {"verdicts": verdicts, "errors": errors}
        return elapsed

    def close(self) -> None:
        self.server.stop()


def main(argv: list[str] | None = None) -> dict:

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=6)
    args = parser.parse_args(argv)
    ids = cluster_ids(JOBS)
    handler = double_handler(ids, slow_seconds=SLOW_SECONDS)
    with tempfile.TemporaryDirectory(prefix="bench-flink-page-") as tmp, serve_double(handler) as stub_url:
        bench = PageBench(Path(tmp), stub_url, handler)
        try:
            bench.run(None)  # warm-up: the plugin app is built on the first request
            times = alternate({"all fast": lambda rep: bench.run(None),
                               "one slow": lambda rep: bench.run(ids[rep % len(ids)])}, args.reps)
        finally:
            handler.slow = None
            bench.close()
    fast, slow = Stats.of(times["all fast"]), Stats.of(times["one slow"])
    limit = TIMEOUT + fast.median + SLOW_MARGIN_S
    print(f"  /flink/api/jobs, {JOBS} jobs   all fast: {fast.describe()}")
    print(f"  one cluster {SLOW_SECONDS:g} s slow (timeout {TIMEOUT:g} s): {slow.describe()}")
    print(f"  side by side: {fast.median:.3f} s vs {slow.median:.3f} s (ratio {slow.median / fast.median:.2f}x); "
          f"waiting for the slow cluster would take >= {SLOW_SECONDS:g} s")
    return {
        "flink_page_200": result(f"<= {TARGET_S:g} s", fast.median, "s", fast.median <= TARGET_S,
                                 stats=fast.as_dict(), jobs=JOBS, requests_per_page=JOBS * 6 + 4),
        "flink_page_one_slow_cluster": result(
            f"<= timeout {TIMEOUT:g} s + all-fast + {SLOW_MARGIN_S:g} s", slow.median, "s", slow.median <= limit,
            ratio=round(slow.median / fast.median, 2), stats=slow.as_dict(), slow_cluster_s=SLOW_SECONDS,
            timeout_s=TIMEOUT, limit_s=round(limit, 3)),
    }


if __name__ == "__main__":
    sys.exit(exit_code(main(sys.argv[1:])))
