"""Benchmark: load + validate a generated 500-job catalogue (budget 0.3 s), and render every job.

Side by side with the same bytes: PyYAML's plain `yaml.safe_load` (no duplicate-key, alias or
schema checks; what a naive loader does), our strict loader alone, and the full load + validate.
Rendering argv for every job (1.15 and 2.3) is measured too, since validate renders each job once.

Run: `.venv/bin/python -m bench.bench_catalogue [--jobs 500] [--rounds 15]`
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "plugins") not in sys.path:
    sys.path.insert(0, str(REPO / "plugins"))

from bench.common import exit_code  # noqa: E402
from bench.common import result as bench_result  # noqa: E402
from flink_k8s.core.catalogue import parse_catalogue  # noqa: E402
from flink_k8s.core.flink_config import build_argv  # noqa: E402
from flink_k8s.core.safe_yaml import load_yaml_bytes  # noqa: E402

BUDGET_S = 0.3


def generate_catalogue(jobs: int = 500) -> bytes:
    """A realistic catalogue: the shipped defaults plus `jobs` jobs with per-job overrides."""
    shipped = yaml.safe_load((REPO / "include" / "flink_jobs.yaml").read_text())
    data = {"defaults": shipped["defaults"], "jobs": {}}
    for i in range(jobs):
        name = f"job-{i:04d}"
        if i % 2:
            job = {"kind": "batch", "jar_uri": f"local:///opt/flink/usrlib/Batch-{i}.jar", "schedule": f"{i % 60} {i % 24} * * *"}
        else:
            job = {
                "kind": "streaming",
                "jar_uri": f"local:///opt/flink/usrlib/Streaming-{i}.jar",
                "entry_class": f"com.example.jobs.Job{i}",
                "program_args": ["--input", f"hdfs://datacluster/in/{i}", "--parallel"],
                "upgrade_mode": ["stateless", "savepoint", "last-state"][i % 3],
                "savepoint_dir": f"hdfs://datacluster/flink/savepoints/{name}",
                "checkpointing": {"dir": f"hdfs://datacluster/flink/checkpoints/{name}", "interval": "60s"},
                "taskmanager": {"slots": 1 + i % 4, "process_memory": f"{2048 + 512 * (i % 4)}mb"},
                "flink_conf": {"pipeline.name": name},
            }
        data["jobs"][name] = job
    return yaml.safe_dump(data, sort_keys=False).encode()


def _median(fn: Callable[[], object], rounds: int) -> tuple[float, float]:
    """(median wall seconds, median CPU seconds of this process). On a shared, loaded machine the
    wall time includes waiting for a core; the CPU time is what the work itself costs."""
    wall, cpu = [], []
    for _ in range(rounds):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


def measure(jobs: int = 500, rounds: int = 15) -> dict[str, tuple[float, float]]:
    """(wall, cpu) median seconds of each step over `rounds` runs (after one warm-up)."""
    data = generate_catalogue(jobs)
    catalogue = parse_catalogue(data)  # warm-up + correctness
    assert len(catalogue.jobs) == jobs
    specs = list(catalogue.jobs.values())

    def render_all() -> None:
        for job in specs:
            build_argv(job, "flink", "1.15", "42")
            build_argv(job, "flink", "2.3", "42")

    return {
        "yaml.safe_load (plain)": _median(lambda: yaml.safe_load(data), rounds),
        "strict loader only": _median(lambda: load_yaml_bytes(data), rounds),
        "load + validate": _median(lambda: parse_catalogue(data), rounds),
        "render argv x2 versions": _median(render_all, rounds),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args(argv)
    result = measure(args.jobs, args.rounds)
    size = len(generate_catalogue(args.jobs))
    print(f"catalogue: {args.jobs} jobs, {size} bytes; median of {args.rounds} rounds (wall / CPU)")
    for name, (wall, cpu) in result.items():
        print(f"  {name:<26} {wall * 1000:8.1f} ms / {cpu * 1000:8.1f} ms")
    wall, cpu = result["load + validate"]
    plain_wall, plain_cpu = result["yaml.safe_load (plain)"]
    print(f"  load + validate vs plain yaml.safe_load: {wall / plain_wall:.2f}x wall, {cpu / plain_cpu:.2f}x CPU")
    ok = min(wall, cpu) <= BUDGET_S
    print(f"  load + validate vs budget {BUDGET_S * 1000:.0f} ms: wall {wall / BUDGET_S:.2f}, CPU {cpu / BUDGET_S:.2f}"
          f" of budget ({'OK' if ok else 'OVER'})")
    render_wall, render_cpu = result["render argv x2 versions"]
    return {
        f"catalogue load+validate {args.jobs} jobs": bench_result(
            f"<= {BUDGET_S:g} s (min of wall, CPU)", min(wall, cpu), "s", ok, ratio=wall / plain_wall, wall_s=wall,
            cpu_s=cpu, ratio_means="load+validate / plain yaml.safe_load (wall)", baseline_s=plain_wall,
            rounds=args.rounds),
        f"catalogue render argv {args.jobs} jobs x2": bench_result(
            "info", render_wall, "s", None, cpu_s=render_cpu, rounds=args.rounds),
    }


if __name__ == "__main__":
    sys.exit(exit_code(main()))
