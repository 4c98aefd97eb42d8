"""THE list of local substitutions the kubelet makes to the configuration Flink wrote (pure).

Why: the point of the harness is to run exactly what the real CLI deployed. Each pod has its own network
namespace and address, its hostname, the cluster's Service names and its service-account token, as in a
real cluster (see `kubelet.py`); what one machine still lacks is the image's files and HDFS, so these
keys — and only these — are changed before a process starts:

| key(s)                                              | in a pod                     | here (why)                                   |
|-----------------------------------------------------|------------------------------|----------------------------------------------|
| kubernetes.flink.conf.dir (JobManager)              | /opt/flink/conf (the mount)  | the pod's local conf dir: Flink lists the    |
|                                                     |                              | log4j/logback files there for TM pods        |
| pipeline.jars, other `local:///opt/flink/usrlib/X`  | jar baked into the image     | `local://<jar_dir>/X` (1.15 accepts only     |
|                                                     |                              | `local:` jars in application mode)           |
| user.artifacts.base-dir                             | /opt/flink/artifacts         | a temp dir                                   |
| any `hdfs://<authority>/<path>` value               | HDFS                         | `file://<hdfs_root>/<authority>/<path>`      |
| fs.default-scheme = hdfs://…                        | HDFS                         | `file:///`                                   |
| env.java.opts (Flink 1.x only)                      | Java 11 image                | + the Java 17 `--add-opens/--add-exports`    |

Everything else (addresses, ports, Kubernetes access, HA, checkpointing, restart strategy, memory,
metrics, labels …) is Flink's own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

USRLIB = "local:///opt/flink/usrlib/"
_HDFS_RE = re.compile(r"hdfs://([^/;]*)(/[^;]*)?")

# Flink 1.15 predates the Java 17 module flags that Flink 1.18+ ships in its default config.
JAVA17_OPTS_FOR_1X = " ".join([
    "--add-exports=java.base/sun.net.util=ALL-UNNAMED",
    "--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED",
    "--add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED",
    *(f"--add-opens=java.base/{pkg}=ALL-UNNAMED" for pkg in (
        "java.lang", "java.net", "java.io", "java.nio", "sun.nio.ch", "java.lang.reflect", "java.text",
        "java.time", "java.util", "java.util.concurrent", "java.util.concurrent.atomic",
        "java.util.concurrent.locks")),
])


@dataclass(frozen=True)
class Local:
    """Where this machine keeps what a pod would find in its image and in HDFS."""
    jar_dir: Path
    hdfs_root: Path
    artifacts_dir: Path


def map_value(value: str, local: Local) -> str:
    """`local:///opt/flink/usrlib/X` and `hdfs://…` values mapped to local files (others unchanged)."""
    value = value.replace(USRLIB, f"local://{local.jar_dir}/")
    return _HDFS_RE.sub(lambda m: f"file://{local.hdfs_root}/{m.group(1) or 'default'}{m.group(2) or '/'}",
                        value)


def _common(conf: dict[str, str], local: Local, flink_major: int) -> dict[str, str]:
    out = {k: map_value(v, local) for k, v in conf.items() if USRLIB in v or "hdfs://" in v}
    if conf.get("fs.default-scheme", "").startswith("hdfs://"):
        out["fs.default-scheme"] = "file:///"
    out["user.artifacts.base-dir"] = str(local.artifacts_dir)
    if flink_major < 2:  # the key is `env.java.opts` before 1.17 (`env.java.opts.all` after)
        out["env.java.opts"] = f"{conf.get('env.java.opts', '')} {JAVA17_OPTS_FOR_1X}".strip()
    return out


def jobmanager(conf: dict[str, str], local: Local, flink_major: int, conf_dir: Path) -> dict[str, str]:
    """Overrides for the JobManager's configuration file (`conf_dir`: where it is written)."""
    return {**_common(conf, local, flink_major), "kubernetes.flink.conf.dir": str(conf_dir)}


def taskmanager(conf: dict[str, str], local: Local, flink_major: int) -> dict[str, str]:
    """Overrides for a TaskManager's configuration file."""
    return _common(conf, local, flink_major)


def dynamic_args(args: str, local: Local) -> str:
    """A pod's `kubernetes-taskmanager.sh -D…` command with the same value mapping applied."""
    return map_value(args, local)
