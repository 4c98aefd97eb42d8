"""Shared benchmark plumbing: alternating runs, robust statistics, and the result record every bench returns.

Why alternate: the machine is shared and its load drifts by the minute; running the project's path and the
baseline in turns (ABBA order) exposes both to the same drift, so their ratio means something even when the
absolute numbers move. Medians, not means: one stall from a neighbour's JVM must not decide a result.
"""

from __future__ import annotations

import os
import statistics
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for _path in (REPO / "plugins", REPO):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))


@dataclass(frozen=True)
class Stats:
    """Median and spread (min, max, IQR) of one series of measurements."""

    median: float
    low: float
    high: float
    q1: float
    q3: float
    n: int

    @classmethod
    def of(cls, values: list[float]) -> Stats:
        if not values:
            raise ValueError("values=[]: need at least one measurement")
        ordered = sorted(values)
        if len(ordered) >= 2:
            q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
        else:
            q1 = q3 = ordered[0]
        return cls(statistics.median(ordered), ordered[0], ordered[-1], q1, q3, len(ordered))

    def describe(self, unit: str = "s", scale: float = 1.0, digits: int = 3) -> str:
        f = f"{{:.{digits}f}}"
        return (f"median {f.format(self.median * scale)} {unit} (min {f.format(self.low * scale)}, "
                f"max {f.format(self.high * scale)}, IQR {f.format(self.q1 * scale)}-{f.format(self.q3 * scale)}, "
                f"n={self.n})")

    def as_dict(self) -> dict[str, float | int]:
        return {"median": self.median, "min": self.low, "max": self.high, "q1": self.q1, "q3": self.q3, "n": self.n}


def alternate(runs: Mapping[str, Callable[[int], float]], reps: int,
              log: Callable[[str], None] = print) -> dict[str, list[float]]:
    """Run each callable `reps` times, alternating in ABBA order; each returns the seconds it measured.

    The callables time themselves so set-up and clean-up between repetitions stay out of the numbers.
    They get the repetition index (e.g. to pick a fresh name).
    """
    names = list(runs)
    times: dict[str, list[float]] = {name: [] for name in names}
    for rep in range(reps):
        order = names if rep % 2 == 0 else list(reversed(names))
        for name in order:
            value = runs[name](rep)
            times[name].append(value)
            log(f"    rep {rep + 1}/{reps} {name:<12} {value:.3f} s")
    return times


def result(target: str, value: float, unit: str, ok: bool | None, ratio: float | None = None,
           **details: object) -> dict[str, object]:
    """One benchmark result as every bench module returns it (and `latest.json` stores it).

    `target` is human-readable (e.g. "ratio <= 1.10"); `ok` is None when there is no target (information only).
    """
    return {"target": target, "value": value, "unit": unit, "ratio": ratio, "ok": ok, **details}


def verdict(ok: bool | None) -> str:
    return "INFO" if ok is None else ("PASS" if ok else "MISS")


def load_average() -> tuple[float, float, float]:
    return os.getloadavg()


def say_miss(name: str, entry: Mapping[str, object]) -> None:
    """A missed target is printed plainly, not only as a table cell."""
    if entry.get("ok") is False:
        print(f"  MISS: {name} did not meet its target ({entry['target']}); measured {fmt_value(entry)}"
              + (f", ratio {entry['ratio']:.2f}" if isinstance(entry.get("ratio"), float) else ""))


def fmt_value(entry: Mapping[str, object]) -> str:
    value, unit = entry.get("value"), entry.get("unit", "")
    if isinstance(value, float):
        return f"{value:.3f} {unit}".strip() if abs(value) < 1000 else f"{value:,.0f} {unit}".strip()
    return f"{value} {unit}".strip()


def exit_code(results: Mapping[str, Mapping[str, object]]) -> int:
    """For running one bench module directly: 1 when any result missed its target."""
    return 1 if any(e.get("ok") is False for e in results.values()) else 0


@dataclass
class BenchCluster:
    """A namespace on the local Kubernetes cluster, set up as a user's (include/k8s/ applied).

    `kubeconfig`/`api`: its flink-airflow service account (what the project and the Flink CLI run as);
    `admin`: a cluster-admin client for the bench's own set-up and clean-up.
    """

    cluster: object  # tests.kube.controlplane.Cluster
    namespace: str
    kubeconfig: Path
    api: object  # kubernetes.client.ApiClient
    admin: object  # kubernetes.client.ApiClient
    started: bool

    @classmethod
    def start(cls, work: Path) -> BenchCluster:
        import uuid

        from kubernetes import config

        from tests.fixtures.k8s import create_namespace
        from tests.kube import controlplane

        started = not controlplane.running()
        cluster = controlplane.up(say=lambda line: print(line, flush=True))
        namespace = f"bench-{uuid.uuid4().hex[:6]}"
        kubeconfig = create_namespace(cluster, namespace, work)
        return cls(cluster=cluster, namespace=namespace, kubeconfig=kubeconfig,
                   api=config.new_client_from_config(str(kubeconfig)),
                   admin=config.new_client_from_config(str(cluster.admin_kubeconfig)), started=started)

    def close(self) -> None:
        from tests.fixtures.k8s import delete_namespace
        from tests.kube import controlplane

        delete_namespace(self.cluster, self.namespace)
        self.api.close()
        self.admin.close()
        if self.started:
            controlplane.down(say=lambda line: None)
