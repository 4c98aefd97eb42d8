"""`python -m bench [NAME …] [--strict]`: run the benchmarks, print a table, write bench/results/latest.json.

Modules are imported lazily, one at a time, so a missing or broken one is reported and the rest still run.
Results of benchmarks not run this time are kept in latest.json (each entry records when it was measured).
Exit code: 1 if a benchmark crashed (or, with --strict, missed its target), else 0.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
import traceback
from datetime import UTC, datetime

from bench.common import REPO, fmt_value, load_average, say_miss, verdict

# name -> module, cheapest first (the redeploy one starts JVMs for minutes).
BENCHMARKS = {
    "catalogue": "bench.bench_catalogue",
    "memory": "bench.bench_memory",
    "dag_parse": "bench.bench_dag_parse",
    "control": "bench.bench_control",
    "flink_page": "bench.bench_flink_page",
    "submit": "bench.bench_submit",
    "pushgateway": "bench.bench_pushgateway",
    "redeploy": "bench.bench_redeploy",
}
RESULTS = REPO / "bench" / "results" / "latest.json"


def _load_previous() -> dict:
    try:
        return json.loads(RESULTS.read_text())
    except (OSError, ValueError):
        return {}


def _save(benches: dict) -> None:
    """Merge this run's entries into latest.json under a lock, written atomically.

    Two benches run at once (e.g. `python -m bench control` beside `python -m bench redeploy`) each keep
    their own entries: the file is re-read under the lock instead of overwritten with a stale copy.
    """
    import fcntl

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with open(RESULTS.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        merged = {**_load_previous().get("benchmarks", {}), **benches}
        doc = {"written_at": datetime.now(UTC).isoformat(), "host": platform.node(), "cpus": os.cpu_count(),
               "python": platform.python_version(), "load_average_end": load_average(), "benchmarks": merged}
        tmp = RESULTS.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(doc, indent=2, default=str) + "\n")
        os.replace(tmp, RESULTS)


def _run_one(name: str, module_name: str) -> tuple[dict | None, str | None]:
    """(results, problem): problem is 'skipped: …' or 'error: …'."""
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None, f"skipped: {module_name} does not exist yet"
        return None, f"error: importing {module_name}: {exc}"
    try:
        out = module.main([])
    except Exception as exc:  # noqa: BLE001 - one crashed bench must not hide the others
        traceback.print_exc()
        return None, f"error: {type(exc).__name__}: {exc}"
    if not isinstance(out, dict):
        return None, f"error: {module_name}.main() returned {type(out).__name__}, expected a dict of results"
    return out, None


def _ratio(ratio: object) -> str:
    if not isinstance(ratio, int | float):
        return "-"
    return f"{ratio:,.0f}x" if ratio >= 100 else f"{ratio:.2f}x"


def _table(rows: list[tuple[str, dict]]) -> str:
    header = ("benchmark", "target", "measured", "ratio", "result")
    lines = [(n, str(e.get("target", "")), fmt_value(e),
              _ratio(e.get("ratio")), verdict(e.get("ok")))
             for n, e in rows]
    widths = [max(len(r[i]) for r in [header, *lines]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*header), fmt.format(*("-" * w for w in widths)), *(fmt.format(*r) for r in lines)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"benchmarks to run (default all): {', '.join(BENCHMARKS)}")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a benchmark misses its target")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    names = args.names or list(BENCHMARKS)

    benches: dict = {}  # this run's entries; merged into latest.json at the end (see _save)
    rows: list[tuple[str, dict]] = []
    problems: dict[str, str] = {}
    for name in names:
        load_before = load_average()
        print(f"\n=== {name} (load average {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}) ===",
              flush=True)
        started = time.monotonic()
        out, problem = _run_one(name, BENCHMARKS[name])
        elapsed = time.monotonic() - started
        load_after = load_average()
        if problem:
            print(f"  {name}: {problem}")
            problems[name] = problem
            if problem.startswith("error"):
                benches[name] = {"error": problem, "measured_at": datetime.now(UTC).isoformat()}
            continue
        benches[name] = {"results": out, "measured_at": datetime.now(UTC).isoformat(),
                         "seconds": round(elapsed, 1), "load_average_before": load_before,
                         "load_average_after": load_after}
        for key, entry in out.items():
            say_miss(key, entry)
            rows.append((key, entry))
        print(f"  ({name} took {elapsed:.0f} s; load average after {load_after[0]:.2f})", flush=True)

    _save(benches)

    print("\n" + _table(rows))
    for name, problem in problems.items():
        print(f"{name}: {problem}")
    la = load_average()
    print(f"\nload average {la[0]:.2f} {la[1]:.2f} {la[2]:.2f} on {os.cpu_count()} CPUs; "
          f"results written to {RESULTS.relative_to(REPO)}")
    misses = [n for n, e in rows if e.get("ok") is False]
    if misses:
        print(f"MISSED TARGETS: {', '.join(misses)}")
    crashed = any(p.startswith("error") for p in problems.values())
    return 1 if crashed or (args.strict and misses) else 0


if __name__ == "__main__":
    sys.exit(main())
