"""Parity with the real BashJavaUtils of Flink 2.3.0 and 1.15.2 on a seeded random grid.

Each configuration goes through both `flink_k8s.core.memory` and Flink's own code (one JVM per
version via tests/memory_oracle): both must fail, or both succeed with the identical JVM args line
and identical `-D` pairs. A few direct BashJavaUtils CLI calls prove the batch driver prints what
the real tool prints.
"""

from __future__ import annotations

import random
import subprocess
import sys

import pytest

from flink_k8s.core.memory import MemoryConfigError, derive_jobmanager, derive_taskmanager
from tests import memory_oracle
from tests.fixtures.paths import REPO

pytestmark = pytest.mark.slow

SEED = 20261129
GRID_SIZE = {"taskmanager": 500, "jobmanager": 220}  # random grid per version
REALISTIC_SIZE = {"taskmanager": 700, "jobmanager": 200}  # valid-looking production configs per version


# ---------------------------------------------------------------- value generators


def size(rng: random.Random, lo_mib: float = 1, hi_mib: float = 96 * 1024) -> str:
    """A memory size in a random unit spelling (log-uniform between lo and hi MiB)."""
    mib = lo_mib * (hi_mib / lo_mib) ** rng.random()
    form = rng.randrange(9)
    if form == 0:
        return str(int(mib * 1024 * 1024))
    if form == 1:
        return f"{int(mib * 1024)}k"
    if form == 2:
        return f"{int(mib * 1024)} kb"
    if form == 3:
        return f"{int(mib)}m"
    if form == 4:
        return f"{int(mib)}mb"
    if form == 5:
        return f"{max(1, int(mib / 1024))}g"
    if form == 6:
        return f"{int(mib)} MB"
    if form == 7:
        return f"{int(mib)} mebibytes"
    return f"{int(mib * 1024 * 1024)}b"


def fraction(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.55:
        return rng.choice(["0", "0.05", "0.1", "0.15", "0.2", "0.25", "0.3", "0.4", "0.5", "0.6", "0.75", "0.9"])
    if roll < 0.85:
        return f"{rng.random():.{rng.randint(1, 5)}f}"
    return rng.choice(["1", "1.0", "-0.1", "0.999", "1e-1", ".3", "0.05f", "abc", "0,1", " 0.2 "])


def maybe_bad(rng: random.Random, good: str) -> str:
    """Mostly the good value, sometimes something Flink must reject (or tolerate)."""
    if rng.random() < 0.04:
        return rng.choice(["1.5g", "12x", "", " 64m ", "-1m", "9223372036854775807k", "m", "64 M", "1tb"])
    return good


def tm_config(rng: random.Random) -> dict[str, str]:
    conf: dict[str, str] = {}
    shape = rng.random()
    if shape < 0.55:
        conf["taskmanager.memory.process.size"] = size(rng, 256, 128 * 1024)
    elif shape < 0.7:
        conf["taskmanager.memory.flink.size"] = size(rng, 128, 96 * 1024)
    elif shape < 0.8:
        conf["taskmanager.memory.task.heap.size"] = size(rng, 16, 32 * 1024)
        conf["taskmanager.memory.managed.size"] = size(rng, 1, 32 * 1024)
    elif shape < 0.88:
        conf["taskmanager.memory.process.size"] = size(rng, 512, 96 * 1024)
        conf["taskmanager.memory.flink.size"] = size(rng, 256, 64 * 1024)
    elif shape < 0.93:
        conf["taskmanager.heap.size" if rng.random() < 0.6 else "taskmanager.heap.mb"] = (
            size(rng, 256, 16 * 1024) if rng.random() < 0.5 else str(rng.randint(-5, 16000))
        )
    elif shape < 0.97:
        conf["taskmanager.memory.process.size"] = size(rng, 1024, 8192)
        conf["taskmanager.memory.task.heap.size"] = size(rng, 64, 4096)
    # else: nothing explicit -> Flink's "need to be configured explicitly" error
    optional = [
        ("taskmanager.memory.managed.fraction", lambda: fraction(rng)),
        ("taskmanager.memory.managed.size", lambda: size(rng, 0.5, 16 * 1024)),
        ("taskmanager.memory.size", lambda: size(rng, 1, 8192)),
        ("taskmanager.memory.network.fraction", lambda: fraction(rng)),
        ("taskmanager.memory.network.min", lambda: size(rng, 1, 4096)),
        ("taskmanager.memory.network.max", lambda: size(rng, 32, 16 * 1024)),
        ("taskmanager.network.memory.fraction", lambda: fraction(rng)),
        ("taskmanager.network.memory.min", lambda: size(rng, 1, 2048)),
        ("taskmanager.network.memory.max", lambda: size(rng, 64, 8192)),
        ("taskmanager.network.numberOfBuffers", lambda: str(rng.choice([0, 1024, 2048, 4096, 65536, -3]))),
        ("taskmanager.memory.segment-size", lambda: rng.choice(["32kb", "64kb", "4k", "1kb", "48kb"])),
        ("taskmanager.memory.framework.heap.size", lambda: size(rng, 16, 1024)),
        ("taskmanager.memory.framework.off-heap.size", lambda: size(rng, 16, 1024)),
        ("taskmanager.memory.task.off-heap.size", lambda: size(rng, 0.01, 4096)),
        ("taskmanager.memory.jvm-metaspace.size", lambda: size(rng, 32, 2048)),
        ("taskmanager.memory.jvm-overhead.min", lambda: size(rng, 16, 2048)),
        ("taskmanager.memory.jvm-overhead.max", lambda: size(rng, 64, 8192)),
        ("taskmanager.memory.jvm-overhead.fraction", lambda: fraction(rng)),
        ("taskmanager.cpu.cores", lambda: rng.choice(["1", "2.5", "0.5", "4", "0", "-1", "0.123456789", "16.0", "x"])),
        ("taskmanager.numberOfTaskSlots", lambda: rng.choice(["1", "2", "4", "16", "0", "-2", " 3", "1.5"])),
    ]
    for key, make in optional:
        if rng.random() < 0.14:
            conf[key] = make()
    if rng.random() < 0.03:
        conf["external-resources"] = rng.choice(["gpu", "gpu;fpga", "none", "a;b;c"])
        for name in ("gpu", "fpga", "a", "b", "c"):
            if rng.random() < 0.7:
                conf[f"external-resource.{name}.amount"] = rng.choice(["1", "2", "0", "-1", "8"])
    return {key: maybe_bad(rng, value) for key, value in conf.items()}


def jm_config(rng: random.Random) -> dict[str, str]:
    conf: dict[str, str] = {}
    shape = rng.random()
    if shape < 0.6:
        conf["jobmanager.memory.process.size"] = size(rng, 256, 64 * 1024)
    elif shape < 0.72:
        conf["jobmanager.memory.flink.size"] = size(rng, 64, 32 * 1024)
    elif shape < 0.82:
        conf["jobmanager.memory.heap.size"] = size(rng, 32, 32 * 1024)
    elif shape < 0.9:
        conf["jobmanager.memory.process.size"] = size(rng, 512, 16 * 1024)
        conf["jobmanager.memory.flink.size"] = size(rng, 128, 8 * 1024)
    elif shape < 0.96:
        conf["jobmanager.heap.size" if rng.random() < 0.6 else "jobmanager.heap.mb"] = (
            size(rng, 64, 8192) if rng.random() < 0.5 else str(rng.randint(-5, 8000))
        )
    optional = [
        ("jobmanager.memory.heap.size", lambda: size(rng, 32, 8192)),
        ("jobmanager.memory.flink.size", lambda: size(rng, 128, 8192)),
        ("jobmanager.memory.off-heap.size", lambda: size(rng, 1, 2048)),
        ("jobmanager.memory.jvm-metaspace.size", lambda: size(rng, 32, 2048)),
        ("jobmanager.memory.jvm-overhead.min", lambda: size(rng, 16, 2048)),
        ("jobmanager.memory.jvm-overhead.max", lambda: size(rng, 64, 8192)),
        ("jobmanager.memory.jvm-overhead.fraction", lambda: fraction(rng)),
        ("jobmanager.memory.enable-jvm-direct-memory-limit", lambda: rng.choice(["true", "false", "TRUE", "yes"])),
    ]
    for key, make in optional:
        if rng.random() < 0.15:
            conf[key] = make()
    return {key: maybe_bad(rng, value) for key, value in conf.items()}


def realistic_tm(rng: random.Random) -> dict[str, str]:
    """What operators actually write: a process size plus some fractions/sizes (rounding stress)."""
    conf = {"taskmanager.memory.process.size": rng.choice(
        [f"{rng.randrange(1024, 131072, rng.choice([1, 64, 100, 256]))}m", f"{rng.randint(1, 128)}g",
         f"{rng.randrange(1 << 30, 64 << 30)}b", f"{rng.randint(1, 64)}gb"])}
    for key in ("managed", "network", "jvm-overhead"):
        if rng.random() < 0.6:
            conf[f"taskmanager.memory.{key}.fraction"] = f"{rng.randint(0, 60) / 100:g}" if rng.random() < 0.7 else (
                f"{rng.random() * 0.6:.{rng.randint(2, 6)}f}")
    if rng.random() < 0.2:
        conf["taskmanager.memory.managed.size"] = f"{rng.randint(0, 8192)}m"
    if rng.random() < 0.2:
        conf["taskmanager.memory.network.max"] = rng.choice(["1g", "2g", "512m", "4gb"])
    if rng.random() < 0.1:
        conf["taskmanager.memory.network.min"] = rng.choice(["64m", "128m", "256mb"])
    if rng.random() < 0.2:
        conf["taskmanager.memory.task.off-heap.size"] = f"{rng.randint(0, 1024)}m"
    if rng.random() < 0.3:
        conf["taskmanager.numberOfTaskSlots"] = str(rng.randint(1, 32))
    if rng.random() < 0.15:
        conf["taskmanager.memory.jvm-metaspace.size"] = rng.choice(["128m", "256m", "512m", "1g"])
    return conf


def realistic_jm(rng: random.Random) -> dict[str, str]:
    conf = {"jobmanager.memory.process.size": rng.choice(
        [f"{rng.randrange(512, 65536, rng.choice([1, 50, 100, 128]))}m", f"{rng.randint(1, 32)}g",
         f"{rng.randrange(600 << 20, 32 << 30)}"])}
    if rng.random() < 0.4:
        conf["jobmanager.memory.jvm-overhead.fraction"] = f"{rng.randint(0, 50) / 100:g}"
    if rng.random() < 0.3:
        conf["jobmanager.memory.off-heap.size"] = rng.choice(["64m", "128m", "256m", "1g"])
    if rng.random() < 0.5:
        conf["jobmanager.memory.enable-jvm-direct-memory-limit"] = rng.choice(["true", "false"])
    return conf


def edge_cases() -> list[tuple[str, dict[str, str]]]:
    """Java literal corners: float/double/int/boolean grammar, units, zero ranges, external resources."""
    base = {"taskmanager.memory.process.size": "4g"}
    items: list[tuple[str, dict[str, str]]] = []
    for f in ["0x1p-3", "Infinity", "NaN", "1e-50", "0.3d", "+0.2", "-0", "  .5", "1E0", "0.1F", "0.99999999",
              "0.9999999999", "1e-45", "3.4e38", "-0.0", "0x.8p0", "1e999999999"]:
        for key in ("managed", "network", "jvm-overhead"):
            items.append(("taskmanager", {**base, f"taskmanager.memory.{key}.fraction": f}))
        items.append(("jobmanager", {"jobmanager.memory.process.size": "2g", "jobmanager.memory.jvm-overhead.fraction": f}))
    for cores in ["NaN", "Infinity", "1e-9", "1e10", "3.999999999", "1e300", "0x10p0", "2d", "-0.0", "+1", "0.001",
                  "1234567.0", "12345678.9"]:
        items.append(("taskmanager", {**base, "taskmanager.cpu.cores": cores}))
    for slots in ["+2", "-0", "00", "2147483647", "2147483648"]:
        items.append(("taskmanager", {**base, "taskmanager.numberOfTaskSlots": slots}))
    for mem in ["0", "0b", "01m", "1 m", "1\x0bm", "1M", "1 Mb", "1 KIBIBYTES", "8388607t", "8388608t", "4g ",
                "\x014g", "4 g b", "4gB", "4\u00a0g", "\uff104g", "4096 mebibytes", "+4g", "1" * 60 + "m"]:
        items.append(("taskmanager", {"taskmanager.memory.process.size": mem}))
        items.append(("jobmanager", {"jobmanager.memory.process.size": mem}))
        items.append(("taskmanager", {**base, "taskmanager.memory.task.off-heap.size": mem}))
    for flag in ["True", "fAlSe", "1", "on"]:
        items.append(("jobmanager", {"jobmanager.memory.process.size": "2g",
                                     "jobmanager.memory.enable-jvm-direct-memory-limit": flag}))
    items += [
        ("taskmanager", {**base, "taskmanager.memory.network.min": "0", "taskmanager.memory.network.max": "0"}),
        ("taskmanager", {**base, "taskmanager.memory.jvm-overhead.min": "0", "taskmanager.memory.jvm-overhead.max": "0"}),
        ("taskmanager", {"taskmanager.memory.flink.size": "1g", "taskmanager.memory.managed.size": "0",
                         "taskmanager.memory.task.heap.size": "0"}),
        ("jobmanager", {"jobmanager.memory.heap.size": "0"}),
        ("jobmanager", {"jobmanager.memory.flink.size": "128m"}),
        ("jobmanager", {"jobmanager.memory.flink.size": "129m", "jobmanager.memory.process.size": "1g"}),
        ("taskmanager", {**base, "external-resources": "[gpu, fpga]", "external-resource.gpu.amount": "1"}),
        ("taskmanager", {**base, "external-resources": "gpu", "external-resource.gpu.amount": " 1"}),
    ]
    # many external resources, including the hash collision Aa/BB: Java's HashMap/HashSet ordering
    rng = random.Random(SEED)
    pool = ["gpu", "fpga", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "tpu", "Aa", "BB"]
    for n in (1, 2, 5, 11, 12, 13, 19):
        names = rng.sample(pool, n)
        conf = {**base, "external-resources": ";".join(names)}
        conf.update({f"external-resource.{name}.amount": rng.choice(["1", "2", "0"]) for name in names})
        items.append(("taskmanager", conf))
    return items


def grid(version: str) -> list[tuple[str, dict[str, str]]]:
    rng = random.Random(f"{SEED}-{version}")
    items = [("taskmanager", tm_config(rng)) for _ in range(GRID_SIZE["taskmanager"])]
    items += [("jobmanager", jm_config(rng)) for _ in range(GRID_SIZE["jobmanager"])]
    items += [("taskmanager", realistic_tm(rng)) for _ in range(REALISTIC_SIZE["taskmanager"])]
    items += [("jobmanager", realistic_jm(rng)) for _ in range(REALISTIC_SIZE["jobmanager"])]
    items += edge_cases()
    # fixed anchors: the seed's settings and the DESIGN.md 32 GB / network 0.1 example
    items += [
        ("taskmanager", {"taskmanager.memory.process.size": "4096m", "taskmanager.memory.managed.fraction": "0.05",
                         "taskmanager.memory.network.fraction": "0.05",
                         "taskmanager.memory.jvm-overhead.fraction": "0.05"}),
        ("jobmanager", {"jobmanager.memory.process.size": "700mb",
                        "jobmanager.memory.enable-jvm-direct-memory-limit": "true"}),
        ("taskmanager", {"taskmanager.memory.process.size": "32g", "taskmanager.memory.network.fraction": "0.1"}),
        ("taskmanager", {"taskmanager.memory.process.size": "64g"}),
        ("taskmanager", {"taskmanager.memory.process.size": "1t"}),
    ]
    return items


# ---------------------------------------------------------------- comparison


def ours(version: str, role: str, conf: dict[str, str]):
    derive = derive_taskmanager if role == "taskmanager" else derive_jobmanager
    try:
        return derive(conf, version)
    except MemoryConfigError as exc:
        return exc


def compare(version: str, items, results) -> tuple[list[str], dict[str, int]]:
    mismatches: list[str] = []
    stats = {"both_ok": 0, "both_fail": 0, "same_order": 0}
    for (role, conf), real in zip(items, results, strict=True):
        mine = ours(version, role, conf)
        if isinstance(mine, MemoryConfigError) or not real.ok:
            if isinstance(mine, MemoryConfigError) and not real.ok:
                stats["both_fail"] += 1
                continue
            detail = f"ours: {mine}" if isinstance(mine, MemoryConfigError) else f"flink: {real.error[:400]}"
            mismatches.append(f"{role} {conf}: only one side failed; {detail}")
            continue
        jvm_line, dyn_line = (line.split(":", 1)[1] for line in mine.bashjavautils_lines())
        ours_pairs = dict(pair.split("=", 1) for pair in dyn_line.split(" ")[1::2])
        if jvm_line != real.jvm_args or ours_pairs != real.dynamic_pairs():
            mismatches.append(f"{role} {conf}:\n  ours  {jvm_line} {dyn_line}\n  flink {real.jvm_args} {real.dynamic}")
            continue
        stats["both_ok"] += 1
        # the contract allows any -D order; we reproduce Java's HashMap order, so the lines are identical
        stats["same_order"] += dyn_line == real.dynamic
    return mismatches, stats


@pytest.mark.parametrize("version", ["2.3", "1.15"])
def test_parity_on_random_grid(version: str) -> None:
    if not memory_oracle.available(version):
        pytest.skip(f"Flink {version} distribution not assembled (make flink)")
    items = grid(version)
    results = memory_oracle.batch(version, items)
    mismatches, stats = compare(version, items, results)
    assert not mismatches, f"{len(mismatches)} of {len(items)} differ:\n" + "\n".join(mismatches[:15])
    # the grid must exercise both outcomes for both roles
    assert stats["both_ok"] >= 800 and stats["both_fail"] >= 200, stats
    assert stats["same_order"] == stats["both_ok"], stats


DIRECT_CASES = [
    ("taskmanager", {"taskmanager.memory.process.size": "4096m", "taskmanager.memory.managed.fraction": "0.05",
                     "taskmanager.memory.network.fraction": "0.05"}),
    ("jobmanager", {"jobmanager.memory.process.size": "700mb", "jobmanager.memory.enable-jvm-direct-memory-limit": "true"}),
    ("taskmanager", {"taskmanager.memory.process.size": "100m"}),
]


@pytest.mark.parametrize("version", ["2.3", "1.15"])
def test_batch_driver_matches_real_cli_and_ours_prints_same_lines(version: str) -> None:
    if not memory_oracle.available(version):
        pytest.skip(f"Flink {version} distribution not assembled (make flink)")
    batch_results = memory_oracle.batch(version, DIRECT_CASES)
    for (role, conf), from_batch in zip(DIRECT_CASES, batch_results, strict=True):
        real_lines = memory_oracle.raw_result_lines(version, role, conf)
        if not from_batch.ok:
            assert real_lines == []
            assert isinstance(ours(version, role, conf), MemoryConfigError)
            continue
        prefix = memory_oracle.PREFIX
        assert real_lines == [prefix + from_batch.jvm_args, prefix + from_batch.dynamic]
        assert list(ours(version, role, conf).bashjavautils_lines()) == real_lines


@pytest.mark.parametrize("version", ["2.3", "1.15"])
def test_cli_contract_equals_real_bashjavautils(version: str) -> None:
    """`python -m flink_k8s memory … --format bashjavautils` prints what BashJavaUtils prints; exit 2 where it fails."""
    if not memory_oracle.available(version):
        pytest.skip(f"Flink {version} distribution not assembled (make flink)")
    for role, conf in DIRECT_CASES:
        argv = [sys.executable, "-m", "flink_k8s", "memory", "--role", role, "--flink-version", version,
                "--format", "bashjavautils"]
        for key, value in conf.items():
            argv += ["-D", f"{key}={value}"]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=REPO, check=False,
                              env={"PYTHONPATH": str(REPO / "plugins"), "PATH": "/usr/bin:/bin"})
        real_lines = memory_oracle.raw_result_lines(version, role, conf)
        if real_lines:
            assert proc.returncode == 0, proc.stderr
            assert proc.stdout.splitlines() == real_lines
        else:
            assert proc.returncode == 2 and proc.stdout == ""
            assert "exceed configured Total Process Memory" in proc.stderr
