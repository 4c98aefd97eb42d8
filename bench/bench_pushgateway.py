"""Benchmark: stale-group cleanup of 10,000 groups (5,000 stale) on the real Pushgateway.

Ours (`run_cleanup`: keep-alive connections, bounded parallelism) against a sequential cleaner that
opens one connection per request (what the usual shell/curl or urllib scripts do). Both list the
gateway, apply the same pure selection and delete by full grouping key; rounds alternate between the
two so machine noise hits both alike. Each round starts from a freshly populated gateway and checks
that exactly the 5,000 fresh groups survive.

The gateway runs with `--push.disable-consistency-check`: with the check on, every PUT re-gathers all
groups (O(N) per push), which only slows down populating 10,000 groups; DELETEs never run the check,
so the measured cleanup is unaffected.

Staleness without waiting: the old half is pushed first, then `split = time.time()`, then the fresh
half; both cleaners get `now = split + max_age` through the injected clock.

Run: `.venv/bin/python -m bench.bench_pushgateway [--groups 10000] [--rounds 3] [--parallelism 8]`
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "plugins") not in sys.path:
    sys.path.insert(0, str(REPO / "plugins"))

from bench.common import Stats, exit_code  # noqa: E402
from bench.common import result as bench_result  # noqa: E402
from flink_k8s.clients.pushgateway import PushgatewayClient, grouping_key_path, run_cleanup  # noqa: E402
from flink_k8s.core.stale_groups import Criteria, parse_groups, select_stale  # noqa: E402

MAX_AGE = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gateway:
    """The real binary, in-memory only (`--persistence.file=` overrides Debian's default file)."""

    FLAGS = ("--persistence.file=", "--push.disable-consistency-check")

    def __init__(self, log_dir: Path) -> None:
        binary = shutil.which("prometheus-pushgateway") or "/usr/bin/prometheus-pushgateway"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(log_dir / "pushgateway.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [binary, f"--web.listen-address=127.0.0.1:{self.port}", *self.FLAGS],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"pushgateway did not become ready; see {log_dir}/pushgateway.log") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def push_many(url: str, groups: Sequence[dict[str, str]], parallelism: int = 8) -> None:
    """Populate the gateway quickly: PUT each group over per-thread keep-alive connections."""
    host, port = url.removeprefix("http://").split(":")
    local = threading.local()
    body = b"# TYPE bench_metric gauge\nbench_metric 1\n"

    def put(labels: dict[str, str]) -> None:
        conn = getattr(local, "conn", None) or http.client.HTTPConnection(host, int(port), timeout=30)
        local.conn = conn
        conn.request("PUT", grouping_key_path(labels), body=body)
        resp = conn.getresponse()
        resp.read()
        if resp.status not in (200, 202):
            raise RuntimeError(f"push {labels}: HTTP {resp.status}")

    with ThreadPoolExecutor(parallelism) as pool:
        list(pool.map(put, groups))


def sequential_cleanup(url: str, criteria: Criteria, now: float) -> int:
    """The baseline: same listing and selection, then one new connection per DELETE, one at a time."""
    with urllib.request.urlopen(f"{url}/api/v1/metrics", timeout=60) as resp:
        groups = parse_groups(json.load(resp))
    selection = select_stale(groups, now, criteria)
    for group in selection.stale:
        req = urllib.request.Request(url + grouping_key_path(group.labels), method="DELETE")
        with urllib.request.urlopen(req, timeout=30) as resp:
            resp.read()
    return len(selection.stale)


def populate(url: str, total: int) -> float:
    """Push total/2 old groups, mark the split time, push total/2 fresh ones; return the split."""
    half = total // 2
    old = [{"job": "flink" + uuid.uuid4().hex, "instance": f"tm-{i}", "path": f"/pod/{i}"} for i in range(half)]
    fresh = [{"job": "flink" + uuid.uuid4().hex, "instance": f"tm-{i}", "path": f"/pod/{i}"}
             for i in range(total - half)]
    push_many(url, old)
    split = time.time()
    time.sleep(0.01)  # strictly after the split on the gateway's clock
    push_many(url, fresh)
    return split


def wait_count(url: str, expected: int, timeout: float = 60) -> None:
    """Deletes are applied asynchronously by the gateway: wait until the group count settles."""
    client = PushgatewayClient(url)
    deadline = time.monotonic() + timeout
    while True:
        count = len(client.list_groups())
        if count == expected:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"gateway holds {count} groups, expected {expected}")
        time.sleep(0.2)


def one_round(name: str, cleaner: Callable[[str, Criteria, float], int], total: int, log_dir: Path) -> float:
    gateway = Gateway(log_dir)
    try:
        split = populate(gateway.url, total)
        wait_count(gateway.url, total)
        criteria = Criteria(max_age=MAX_AGE, max_share=0.6)
        started = time.perf_counter()
        deleted = cleaner(gateway.url, criteria, split + MAX_AGE)
        elapsed = time.perf_counter() - started
        if deleted != total // 2:
            raise AssertionError(f"{name}: deleted {deleted}, expected {total // 2}")
        wait_count(gateway.url, total - total // 2)
        return elapsed
    finally:
        gateway.stop()


def run(total: int = 10_000, rounds: int = 3, parallelism: int = 8) -> dict:
    def ours(url: str, criteria: Criteria, now: float) -> int:
        with PushgatewayClient(url) as client:
            report = run_cleanup(client, criteria, parallelism=parallelism, clock=lambda: now)
        if not report.ok:
            raise AssertionError(report.summary())
        return report.deleted

    times: dict[str, list[float]] = {"ours": [], "sequential": []}
    with tempfile.TemporaryDirectory(prefix="bench-pushgateway-") as tmp:
        for i in range(rounds):
            order = [("ours", ours), ("sequential", sequential_cleanup)]
            for name, cleaner in order if i % 2 == 0 else reversed(order):
                times[name].append(one_round(name, cleaner, total, Path(tmp)))
                print(f"  round {i + 1} {name:<10} {times[name][-1]:.2f} s", flush=True)
    med = {name: statistics.median(ts) for name, ts in times.items()}
    return {"groups": total, "stale": total // 2, "rounds": rounds, "parallelism": parallelism,
            "median_seconds": med, "ratio_sequential_over_ours": med["sequential"] / med["ours"],
            "all_seconds": times}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--parallelism", type=int, default=8)
    args = parser.parse_args(argv)
    print(f"pushgateway cleanup: {args.groups} groups, {args.groups // 2} stale, {args.rounds} rounds")
    result = run(args.groups, args.rounds, args.parallelism)
    med = result["median_seconds"]
    print(f"pushgateway cleanup median: ours {med['ours']:.2f} s, sequential one-connection-per-request "
          f"{med['sequential']:.2f} s, ratio {result['ratio_sequential_over_ours']:.1f}x "
          f"(target: ours <= 10 s)")
    spread = {name: Stats.of(ts).as_dict() for name, ts in result["all_seconds"].items()}
    return {f"pushgateway cleanup {args.groups} groups": bench_result(
        "<= 10 s", med["ours"], "s", med["ours"] <= 10, ratio=result["ratio_sequential_over_ours"],
        ratio_means="sequential one-connection-per-request / ours", baseline_s=med["sequential"], spread=spread,
        rounds=args.rounds)}


if __name__ == "__main__":
    sys.exit(exit_code(main()))
