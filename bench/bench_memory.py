"""Benchmark: 10,000 Flink memory derivations (budget 1 s) vs the real BashJavaUtils.

Side by side: our pure-Python derivation (TaskManager and JobManager configurations, all distinct,
realistic: process sizes, fractions, explicit sizes) and Flink's own `BashJavaUtils` CLI — what
Flink's scripts call once per process start (a JVM each). The ratio is per derivation.

Run: `.venv/bin/python -m bench.bench_memory [--count 10000] [--rounds 5] [--java-calls 3]`
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "plugins") not in sys.path:
    sys.path.insert(0, str(REPO / "plugins"))

from bench.common import exit_code  # noqa: E402
from bench.common import result as bench_result  # noqa: E402
from flink_k8s.core.memory import MemoryConfigError, derive_jobmanager, derive_taskmanager  # noqa: E402

BUDGET_S = 1.0
FLINK_HOMES = {"2.3": REPO / ".flink" / "flink-2.3.0", "1.15": REPO / ".flink" / "flink-1.15.2"}


def generate(count: int, seed: int = 7) -> list[tuple[str, dict[str, str]]]:
    """`count` distinct (role, conf) pairs, 3/4 TaskManager."""
    rng = random.Random(seed)
    items: list[tuple[str, dict[str, str]]] = []
    for i in range(count):
        if i % 4:
            conf = {"taskmanager.memory.process.size": f"{1024 + i}m"}
            if rng.random() < 0.7:
                conf["taskmanager.memory.managed.fraction"] = f"{rng.randint(0, 60) / 100:g}"
            if rng.random() < 0.5:
                conf["taskmanager.memory.network.fraction"] = f"{rng.randint(1, 30) / 100:g}"
            if rng.random() < 0.3:
                conf["taskmanager.memory.jvm-overhead.fraction"] = "0.05"
            if rng.random() < 0.2:
                conf["taskmanager.memory.managed.size"] = f"{rng.randint(0, 512)}m"
            if rng.random() < 0.3:
                conf["taskmanager.numberOfTaskSlots"] = str(rng.randint(1, 8))
            items.append(("taskmanager", conf))
        else:
            conf = {"jobmanager.memory.process.size": f"{600 + i}m"}
            if rng.random() < 0.5:
                conf["jobmanager.memory.enable-jvm-direct-memory-limit"] = "true"
            items.append(("jobmanager", conf))
    return items


def derive_all(items: list[tuple[str, dict[str, str]]], version: str) -> int:
    failures = 0
    for role, conf in items:
        try:
            (derive_taskmanager if role == "taskmanager" else derive_jobmanager)(conf, version)
        except MemoryConfigError:
            failures += 1
    return failures


def measure_python(count: int, rounds: int, version: str) -> tuple[float, float, float]:
    """(best wall s, median wall s, median CPU s) for `count` derivations, fresh configurations each round.

    On a shared, loaded machine the wall time includes waiting for a core; the best round and the
    CPU time show what the work itself costs."""
    wall, cpu = [], []
    for r in range(rounds):
        items = generate(count, seed=r)
        start, start_cpu = time.perf_counter(), time.process_time()
        derive_all(items, version)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return min(wall), statistics.median(wall), statistics.median(cpu)


def measure_bashjavautils(version: str, calls: int) -> float | None:
    """Median seconds of one real `BashJavaUtils GET_TM_RESOURCE_PARAMS` call (None: no distribution)."""
    home = FLINK_HOMES[version]
    dist = next((home / "lib").glob("flink-dist*.jar"), None)
    if dist is None or not (home / "bin" / "bash-java-utils.jar").exists():
        return None
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / ("config.yaml" if version.startswith("2") else "flink-conf.yaml")).write_text("")
        argv = ["java", "-Xmx128m", "-cp", f"{home / 'bin' / 'bash-java-utils.jar'}:{dist}",
                "org.apache.flink.runtime.util.bash.BashJavaUtils", "GET_TM_RESOURCE_PARAMS", "--configDir", tmp,
                "-D", "taskmanager.memory.process.size=4096m", "-D", "taskmanager.memory.managed.fraction=0.05"]
        for _ in range(calls):
            start = time.perf_counter()
            subprocess.run(argv, capture_output=True, check=True, timeout=120)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--java-calls", type=int, default=3)
    parser.add_argument("--version", default="2.3", choices=sorted(FLINK_HOMES))
    args = parser.parse_args(argv)

    wall, median_wall, cpu = measure_python(args.count, args.rounds, args.version)
    per_py = wall / args.count
    verdict = "OK" if wall <= BUDGET_S else "OVER BUDGET"
    print(f"memory: {args.count} derivations (Flink {args.version} rules): best wall {wall:.3f} s, median wall "
          f"{median_wall:.3f} s, cpu {cpu:.3f} s (budget {BUDGET_S:.1f} s) {verdict}; {per_py * 1e6:.1f} us each")
    java = measure_bashjavautils(args.version, args.java_calls)
    if java is None:
        print("memory: BashJavaUtils not available (run `make flink`) - no ratio")
    else:
        print(f"memory: one BashJavaUtils call {java:.3f} s; ratio {java / per_py:,.0f}x per derivation; "
              f"{args.count} BashJavaUtils calls would take ~{java * args.count / 60:.0f} min")
    return {f"memory derivation x{args.count}": bench_result(
        f"<= {BUDGET_S:g} s", wall, "s", wall <= BUDGET_S, ratio=java / per_py if java else None,
        ratio_means="BashJavaUtils call / one derivation", median_wall_s=median_wall, cpu_s=cpu,
        bashjavautils_call_s=java, rounds=args.rounds)}


if __name__ == "__main__":
    sys.exit(exit_code(main()))
