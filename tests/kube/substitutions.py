"""THE list of local substitutions the kubelet makes to the configuration Flink wrote (pure).

Why: the point of the harness is to run exactly what the real CLI deployed. A pod would get its own
IP, fixed ports, in-cluster credentials, the image's `/opt/flink/usrlib` and HDFS; one machine
has none of these, so these keys — and only these — are changed before a process starts:

| key(s)                                              | in a pod                     | here (why)                                   |
|-----------------------------------------------------|------------------------------|----------------------------------------------|
| kubernetes.config.file                              | in-cluster service account   | the emulator's kubeconfig                    |
| jobmanager.rpc.address, jobmanager.bind-host        | `<id>.<ns>` Service / pod IP | 127.0.0.1 (no cluster DNS; pod IP = loopback) |
| jobmanager.rpc.port, blob.server.port,              | fixed 6123 / 6124            | free ports (all pods share one host)         |
|   high-availability.jobmanager.port                 |                              |                                              |
| kubernetes.flink.conf.dir (JobManager)              | /opt/flink/conf (the mount)  | the pod's local conf dir: Flink lists the    |
|                                                     |                              | log4j/logback files there for TM pods        |
| rest.address, rest.bind-address                     | pod IP                       | 127.0.0.1                                    |
| rest.port, rest.bind-port                           | 8081 behind the Service      | the `<id>-rest` nodePort (NodePort == REST)  |
| taskmanager.host, taskmanager.bind-host             | pod IP                       | 127.0.0.1                                    |
| taskmanager.rpc.port                                | fixed 6122                   | 0 = any free port                            |
| pipeline.jars, other `local:///opt/flink/usrlib/X`  | jar baked into the image     | `local://<jar_dir>/X` (1.15 accepts only     |
|                                                     |                              | `local:` jars in application mode)           |
| user.artifacts.base-dir                             | /opt/flink/artifacts         | a temp dir                                   |
| any `hdfs://<authority>/<path>` value               | HDFS                         | `file://<hdfs_root>/<authority>/<path>`      |
| fs.default-scheme = hdfs://…                        | HDFS                         | `file:///`                                   |
| env.java.opts (Flink 1.x only)                      | Java 11 image                | + the Java 17 `--add-opens/--add-exports`    |

Everything else (HA, checkpointing, restart strategy, memory, metrics, labels …) is Flink's own.
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
    """Where this machine keeps what a pod would find in its image, network and cluster."""
    kubeconfig: Path
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
    out["kubernetes.config.file"] = str(local.kubeconfig)
    out["user.artifacts.base-dir"] = str(local.artifacts_dir)
    if flink_major < 2:  # the key is `env.java.opts` before 1.17 (`env.java.opts.all` after)
        out["env.java.opts"] = f"{conf.get('env.java.opts', '')} {JAVA17_OPTS_FOR_1X}".strip()
    return out


def jobmanager(conf: dict[str, str], local: Local, flink_major: int, conf_dir: Path, rpc_port: int,
               blob_port: int, rest_port: int) -> dict[str, str]:
    """Overrides for the JobManager's configuration file (`conf_dir`: where it is written)."""
    return {
        **_common(conf, local, flink_major),
        "kubernetes.flink.conf.dir": str(conf_dir),
        "jobmanager.rpc.address": "127.0.0.1", "jobmanager.bind-host": "127.0.0.1",
        "jobmanager.rpc.port": str(rpc_port), "high-availability.jobmanager.port": str(rpc_port),
        "blob.server.port": str(blob_port),
        "rest.address": "127.0.0.1", "rest.bind-address": "127.0.0.1",
        "rest.port": str(rest_port), "rest.bind-port": str(rest_port),
    }


def taskmanager(conf: dict[str, str], local: Local, flink_major: int, jm_rpc_port: int | None
                ) -> dict[str, str]:
    """Overrides for a TaskManager's configuration file (the JM's ports are needed without HA)."""
    out = {
        **_common(conf, local, flink_major),
        "jobmanager.rpc.address": "127.0.0.1",
        "taskmanager.host": "127.0.0.1", "taskmanager.bind-host": "127.0.0.1",
        "taskmanager.rpc.port": "0",
    }
    if jm_rpc_port:
        out["jobmanager.rpc.port"] = out["high-availability.jobmanager.port"] = str(jm_rpc_port)
    return out


def dynamic_args(args: str, local: Local) -> str:
    """A pod's `kubernetes-taskmanager.sh -D…` command with the same value mapping applied."""
    return map_value(args, local)
