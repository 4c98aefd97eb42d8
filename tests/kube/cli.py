"""Run the real `bin/flink` CLI of a FLINK_HOME without touching the distribution.

Why: the CLI writes logs next to its configuration and reads `FLINK_CONF_DIR`; tests give each run
its own copy of the distribution's conf so `.flink/` stays pristine and runs do not interfere.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path


def conf_copy(flink_home: Path, dest: Path) -> Path:
    """A private copy of `<flink_home>/conf` (idempotent)."""
    if not dest.exists():
        shutil.copytree(flink_home / "conf", dest)
    return dest


def hadoop_conf_dir(dest: Path) -> Path:
    """An empty Hadoop client configuration, enough for the CLI to ship `hadoop-config-<id>`."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("core-site.xml", "hdfs-site.xml"):
        (dest / name).write_text('<?xml version="1.0"?>\n<configuration>\n</configuration>\n')
    return dest


def run_flink(flink_home: Path, args: Sequence[str], conf_dir: Path, log_dir: Path,
              env: Mapping[str, str] | None = None, timeout: float = 180.0) -> subprocess.CompletedProcess:
    """`<flink_home>/bin/flink ARGS` with its own conf and log dir; output captured as text."""
    log_dir.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, "FLINK_CONF_DIR": str(conf_dir), "FLINK_LOG_DIR": str(log_dir), **(env or {})}
    return subprocess.run([str(flink_home / "bin" / "flink"), *args], capture_output=True, text=True,
                          env=full_env, timeout=timeout, check=False)
