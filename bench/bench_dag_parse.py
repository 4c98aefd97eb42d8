"""Benchmark: DAG parse of `dags/` with a 500-job catalogue (target <= 1 s), and the plugin import cost.

Each measurement runs in a fresh interpreter (what a DAG processor's parse process pays), with Airflow
imported before the clock starts: the number is the DagBag fill time (reading the catalogue, validating it,
building 250 batch DAGs + the streaming/health/cleanup DAGs). Alternated with the same parse of the shipped
2-job catalogue, so the ratio shows what the 498 extra jobs cost.

Plugin import cost: in a fresh interpreter, `import airflow.sdk` (the baseline every DAG file pays), then the
project's Airflow modules on top; the project must not pull in kubernetes/requests/aiohttp at import time.

Run: `.venv/bin/python -m bench.bench_dag_parse [--reps 3] [--import-reps 5]`
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import REPO, Stats, alternate, exit_code, result

DAGS = REPO / "dags"
SHIPPED = REPO / "include" / "flink_jobs.yaml"
PARSE_TARGET_S = 1.0
HEAVY = ("kubernetes", "kubernetes_asyncio", "requests", "aiohttp")
PLUGIN_MODULES = ("flink_k8s.operators.flink", "flink_k8s.sensors.flink", "flink_k8s.triggers.flink",
                  "flink_k8s.hooks.flink", "flink_k8s.operators.pushgateway")

PARSE_PROBE = r"""
import json, sys, time
t0 = time.perf_counter()
from airflow.dag_processing.dagbag import DagBag
t1 = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1])
t2 = time.perf_counter()
print(json.dumps({"airflow_import_s": t1 - t0, "fill_s": t2 - t1, "dags": len(bag.dag_ids),
                  "errors": {k: str(v)[:500] for k, v in bag.import_errors.items()}}))
"""

IMPORT_PROBE = r"""
import json, sys, time
t0 = time.perf_counter()
import airflow.sdk
t1 = time.perf_counter()
for name in sys.argv[1].split(","):
    __import__(name)
t2 = time.perf_counter()
heavy = [m for m in sys.argv[2].split(",") if m in sys.modules]
print(json.dumps({"airflow_sdk_s": t1 - t0, "plugin_s": t2 - t1, "heavy": heavy}))
"""


def write_catalogue(path: Path, jobs: int = 500) -> Path:
    """A generated catalogue of `jobs` jobs, half batch and half streaming (bench_catalogue's generator)."""
    from bench.bench_catalogue import generate_catalogue

    path.write_bytes(generate_catalogue(jobs))
    return path


def _env(home: Path, catalogue: Path) -> dict[str, str]:
    return dict(os.environ, AIRFLOW_HOME=str(home), AIRFLOW__CORE__LOAD_EXAMPLES="False",
                AIRFLOW__CORE__DAGS_FOLDER=str(DAGS), PYTHONPATH=f"{REPO / 'plugins'}:{REPO}",
                FLINK_K8S_CATALOGUE=str(catalogue))


def _probe(code: str, args: list[str], env: dict[str, str]) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True,
                         timeout=300, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"probe exited {out.returncode}: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--import-reps", type=int, default=3)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-dag-parse-") as tmp:
        home = Path(tmp)
        big = write_catalogue(home / "catalogue-500.yaml", args.jobs)
        seen: dict[str, dict] = {}

        def parse(label: str, catalogue: Path):
            def run(_rep: int) -> float:
                out = _probe(PARSE_PROBE, [str(DAGS)], _env(home, catalogue))
                if out["errors"]:
                    raise RuntimeError(f"DAG import errors with {catalogue.name}: {out['errors']}")
                seen[label] = out
                return out["fill_s"]
            return run

        print(f"dag parse: dags/ with a {args.jobs}-job catalogue vs the shipped one; fresh interpreter each, "
              f"{args.reps} reps alternating")
        times = alternate({f"{args.jobs} jobs": parse("big", big), "shipped": parse("shipped", SHIPPED)},
                          args.reps)
        big_s, shipped_s = Stats.of(times[f"{args.jobs} jobs"]), Stats.of(times["shipped"])
        print(f"  {args.jobs}-job catalogue ({seen['big']['dags']} DAGs): DagBag fill {big_s.describe()}")
        print(f"  shipped catalogue ({seen['shipped']['dags']} DAGs): DagBag fill {shipped_s.describe()}")
        print(f"  (airflow import before the clock: {seen['big']['airflow_import_s']:.2f} s)")

        print(f"plugin import: {', '.join(PLUGIN_MODULES)} after `import airflow.sdk`, {args.import_reps} fresh "
              f"interpreters")
        sdk, plugin, heavy = [], [], set()
        for rep in range(args.import_reps):
            out = _probe(IMPORT_PROBE, [",".join(PLUGIN_MODULES), ",".join(HEAVY)], _env(home, SHIPPED))
            sdk.append(out["airflow_sdk_s"])
            plugin.append(out["plugin_s"])
            heavy.update(out["heavy"])
            print(f"    rep {rep + 1}/{args.import_reps} airflow.sdk {out['airflow_sdk_s']:.3f} s, "
                  f"plugin modules {out['plugin_s']:.3f} s")
    sdk_s, plugin_s = Stats.of(sdk), Stats.of(plugin)
    print(f"  import airflow.sdk: {sdk_s.describe()}")
    print(f"  + plugin modules:   {plugin_s.describe()}; heavy modules imported: {sorted(heavy) or 'none'}")

    return {
        f"dag parse {args.jobs}-job catalogue": result(
            f"<= {PARSE_TARGET_S:g} s", big_s.median, "s", big_s.median <= PARSE_TARGET_S,
            ratio=big_s.median / shipped_s.median, ratio_means="500-job catalogue / shipped 2-job catalogue",
            dags=seen["big"]["dags"], spread=big_s.as_dict(), baseline_spread=shipped_s.as_dict()),
        "plugin import cost": result(
            "no kubernetes/requests/aiohttp at import", plugin_s.median, "s", not heavy,
            ratio=plugin_s.median / sdk_s.median, ratio_means="plugin modules / import airflow.sdk",
            heavy_imported=sorted(heavy), spread=plugin_s.as_dict(), airflow_sdk=sdk_s.as_dict()),
    }


if __name__ == "__main__":
    sys.exit(exit_code(main()))
