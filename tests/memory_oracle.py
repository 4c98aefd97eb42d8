"""The real Flink memory derivation as a test oracle: BashJavaUtils of a Flink distribution.

Two ways in, both with an EMPTY config file in `--configDir` so only the `-D` pairs count (the
semantics `python -m flink_k8s memory` promises):
- `bashjavautils(...)`: one real `BashJavaUtils` CLI call (0.5-0.9 s each), exactly as Flink's
  scripts run it — used to prove the batch driver prints the same lines.
- `batch(...)`: `tests/memory_oracle/MemoryOracle.java`, compiled once per source hash into
  tests/jobs/build/, loops over many configurations in ONE JVM through BashJavaUtils' own methods.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.fixtures.paths import FLINK_23, FLINK_115, REPO

SOURCE = Path(__file__).with_name("memory_oracle") / "MemoryOracle.java"
BUILD_ROOT = REPO / "tests" / "jobs" / "build" / "memory_oracle"
PREFIX = "BASH_JAVA_UTILS_EXEC_RESULT:"
HOMES = {"2.3": FLINK_23, "1.15": FLINK_115}
_LEGACY_ENV = ("FLINK_TM_HEAP", "FLINK_JM_HEAP", "FLINK_CONF_DIR")  # 1.x reads these; keep them out


@dataclass(frozen=True)
class OracleResult:
    """What Flink said about one configuration."""

    ok: bool
    jvm_args: str = ""
    dynamic: str = ""  # the `-D key=valueb …` line, without the prefix
    error: str = ""

    def dynamic_pairs(self) -> dict[str, str]:
        tokens = self.dynamic.split(" ")
        assert tokens[::2] == ["-D"] * (len(tokens) // 2), self.dynamic
        return dict(token.split("=", 1) for token in tokens[1::2])


def classpath(version: str) -> str:
    home = HOMES[version]
    dist = next((home / "lib").glob("flink-dist*.jar"))
    return f"{home / 'bin' / 'bash-java-utils.jar'}:{dist}"


def available(version: str) -> bool:
    home = HOMES[version]
    return (home / "bin" / "bash-java-utils.jar").exists() and any((home / "lib").glob("flink-dist*.jar"))


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in _LEGACY_ENV}


def empty_config_dir(version: str, parent: Path) -> Path:
    """A configDir whose config file is empty (config.yaml for 2.x, flink-conf.yaml for 1.x)."""
    conf_dir = parent / f"conf-{version}"
    conf_dir.mkdir(parents=True, exist_ok=True)
    (conf_dir / ("flink-conf.yaml" if version.startswith("1.") else "config.yaml")).write_text("")
    return conf_dir


def _d_args(conf: Mapping[str, str]) -> list[str]:
    args: list[str] = []
    for key, value in conf.items():
        args += ["-D", f"{key}={value}"]
    return args


def _run_cli(version: str, role: str, conf: Mapping[str, str], timeout: float) -> subprocess.CompletedProcess:
    command = {"taskmanager": "GET_TM_RESOURCE_PARAMS", "jobmanager": "GET_JM_RESOURCE_PARAMS"}[role]
    with tempfile.TemporaryDirectory(prefix="memory-oracle-") as tmp:
        conf_dir = empty_config_dir(version, Path(tmp))
        argv = ["java", "-Xmx128m", "-cp", classpath(version), "org.apache.flink.runtime.util.bash.BashJavaUtils",
                command, "--configDir", str(conf_dir), *_d_args(conf)]
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=_env(), check=False)


def raw_result_lines(version: str, role: str, conf: Mapping[str, str], timeout: float = 60) -> list[str]:
    """One real BashJavaUtils call: the exact BASH_JAVA_UTILS_EXEC_RESULT lines (prefix kept), [] on failure."""
    proc = _run_cli(version, role, conf, timeout)
    lines = [line for line in proc.stdout.splitlines() if line.startswith(PREFIX)]
    return lines if proc.returncode == 0 else []


def bashjavautils(version: str, role: str, conf: Mapping[str, str], timeout: float = 60) -> OracleResult:
    """One real `BashJavaUtils GET_TM_RESOURCE_PARAMS|GET_JM_RESOURCE_PARAMS` call as an OracleResult."""
    proc = _run_cli(version, role, conf, timeout)
    lines = [line[len(PREFIX):] for line in proc.stdout.splitlines() if line.startswith(PREFIX)]
    if proc.returncode == 0 and len(lines) == 2:
        return OracleResult(True, lines[0], lines[1])
    return OracleResult(False, error=(proc.stderr or proc.stdout)[-2000:])


def compiled_driver() -> Path:
    """Compile MemoryOracle.java once per source hash (against the 2.3.0 jars; runs on both)."""
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:16]
    out = BUILD_ROOT / digest
    if not (out / "MemoryOracle.class").exists():
        out.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["javac", "-nowarn", "--release", "11", "-d", str(out), str(SOURCE)],
            check=True, capture_output=True, text=True, timeout=300,
        )
    return out


def batch(version: str, items: Sequence[tuple[str, Mapping[str, str]]], timeout: float = 300) -> list[OracleResult]:
    """Run many (role, conf) pairs through the version's BashJavaUtils code in one JVM."""
    for _role, conf in items:
        for key, value in conf.items():
            assert not any(c in key + value for c in "\t\n\r"), (key, value)
    driver = compiled_driver()
    lines = []
    for role, conf in items:
        tag = {"taskmanager": "TM", "jobmanager": "JM"}[role]
        lines.append("\t".join([tag, *(f"{k}={v}" for k, v in conf.items())]))
    with tempfile.TemporaryDirectory(prefix="memory-oracle-") as tmp:
        conf_dir = empty_config_dir(version, Path(tmp))
        results_file = Path(tmp) / "results.tsv"
        quiet = Path(tmp) / "log4j2-off.properties"  # Flink's INFO logging would dominate the run time
        quiet.write_text("rootLogger.level = OFF\n")
        argv = ["java", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", f"-Dlog4j.configurationFile={quiet}",
                "-cp", f"{driver}:{classpath(version)}", "MemoryOracle", str(conf_dir), str(results_file)]
        proc = subprocess.run(argv, input="\n".join(lines) + "\n", stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, timeout=timeout, env=_env(), check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"memory oracle failed (exit {proc.returncode}): {proc.stderr[-3000:]}")
        out_lines = results_file.read_text().splitlines()
    assert len(out_lines) == len(items), (len(out_lines), len(items))
    results = []
    for line in out_lines:
        status, *rest = line.split("\t")
        if status == "OK":
            results.append(OracleResult(True, rest[0], rest[1]))
        else:
            results.append(OracleResult(False, error=rest[0] if rest else ""))
    return results
