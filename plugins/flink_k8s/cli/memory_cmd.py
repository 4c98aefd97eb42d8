"""`python -m flink_k8s memory`: Flink's memory derivation for a TaskManager or JobManager, no JVM.

Semantics: exactly `BashJavaUtils GET_TM_RESOURCE_PARAMS|GET_JM_RESOURCE_PARAMS --configDir <dir
with an EMPTY config file> -D key=value …` of the selected Flink version — only the `-D` pairs count,
not the distribution's shipped config.yaml (which sets process sizes 1728m/1600m).
`-D key` without `=value` means `key=true`, as Flink's command line parser does.

Exit codes: 0 derived, 2 invalid configuration (the message names the violated constraint) or
invalid arguments.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from flink_k8s.core.memory import (
    DEFAULT_VERSION,
    SUPPORTED_VERSIONS,
    JobManagerMemory,
    MemoryConfigError,
    TaskManagerMemory,
    derive_jobmanager,
    derive_taskmanager,
)
from flink_k8s.core.memory_size import human_readable


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "memory",
        help="derive TaskManager/JobManager memory exactly as Flink's BashJavaUtils does",
        description="Derive Flink process memory from -D options (as BashJavaUtils with an empty "
                    "config file would). Exit 2 names the violated constraint.",
    )
    p.add_argument("--role", required=True, choices=("taskmanager", "jobmanager"))
    p.add_argument("-D", dest="dynamic", action="append", default=[], metavar="KEY=VALUE",
                   help="a Flink option, repeatable (later wins)")
    p.add_argument("--flink-version", default=DEFAULT_VERSION,
                   help=f"rules of this Flink minor: {', '.join(SUPPORTED_VERSIONS)} (default %(default)s)")
    p.add_argument("--format", choices=("table", "json", "bashjavautils"), default="table",
                   help="table (default), json, or the two BASH_JAVA_UTILS_EXEC_RESULT lines")
    p.add_argument("--json", action="store_true", help="same as --format json")
    p.set_defaults(func=run)


def parse_dynamic(pairs: list[str]) -> dict[str, str]:
    """['k=v', 'flag'] -> {'k': 'v', 'flag': 'true'} (commons-cli's -D semantics)."""
    conf: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        conf[key] = value if sep else "true"
    return conf


def normalise_version(text: str) -> str:
    """'2.3', '2.3.0' -> '2.3'."""
    parts = text.strip().split(".")
    return ".".join(parts[:2]) if len(parts) >= 2 else text


def run(args: argparse.Namespace) -> int:
    version = normalise_version(args.flink_version)
    fmt = "json" if args.json and args.format == "table" else args.format
    conf = parse_dynamic(args.dynamic)
    derive = derive_taskmanager if args.role == "taskmanager" else derive_jobmanager
    try:
        result = derive(conf, version)
    except MemoryConfigError as exc:
        message = f"invalid {args.role} memory configuration (Flink {version} rules): {exc}"
        if fmt == "json":
            print(json.dumps({"ok": False, "error": message}))
        print(f"error: {message}", file=sys.stderr)
        return 2
    if fmt == "bashjavautils":
        for line in result.bashjavautils_lines():
            print(line)
        for warning in result.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    elif fmt == "json":
        data = dataclasses.asdict(result)
        data["dynamic_configs"] = dict(result.dynamic_configs)
        data["ok"] = True
        print(json.dumps(data, indent=2))
    else:
        print(render_table(result))
    return 0


def _rows_tm(m: TaskManagerMemory) -> list[tuple[int, str, int]]:
    return [
        (0, "Total Process Memory", m.total_process),
        (1, "Total Flink Memory", m.total_flink),
        (2, "JVM Heap", m.jvm_heap),
        (3, "Framework Heap", m.framework_heap),
        (3, "Task Heap", m.task_heap),
        (2, "Managed Memory", m.managed),
        (2, "JVM Direct Memory", m.jvm_direct),
        (3, "Framework Off-Heap", m.framework_off_heap),
        (3, "Task Off-Heap", m.task_off_heap),
        (3, "Network", m.network),
        (1, "JVM Metaspace", m.jvm_metaspace),
        (1, "JVM Overhead", m.jvm_overhead),
    ]


def _rows_jm(m: JobManagerMemory) -> list[tuple[int, str, int]]:
    return [
        (0, "Total Process Memory", m.total_process),
        (1, "Total Flink Memory", m.total_flink),
        (2, "JVM Heap", m.jvm_heap),
        (2, "Off-Heap", m.off_heap),
        (1, "JVM Metaspace", m.jvm_metaspace),
        (1, "JVM Overhead", m.jvm_overhead),
    ]


def render_table(m: TaskManagerMemory | JobManagerMemory) -> str:
    """Human-readable component tree with exact byte counts, JVM args and warnings."""
    is_tm = isinstance(m, TaskManagerMemory)
    rows = _rows_tm(m) if is_tm else _rows_jm(m)  # type: ignore[arg-type]
    title = "TaskManager" if is_tm else "JobManager"
    out = [f"{title} memory (Flink {m.flink_version} rules)"]
    for depth, name, size in rows:
        label = "  " * depth + name
        out.append(f"  {label:<28} {size:>15,d} bytes  {human_readable(size).split(' (')[0]}")
    if is_tm:
        out.append(f"  {'CPU cores':<28} {m.cpu_cores:>15}")  # type: ignore[union-attr]
        out.append(f"  {'Task slots':<28} {m.num_slots:>15}")  # type: ignore[union-attr]
    out.append(f"JVM args: {m.jvm_args}")
    out.extend(f"warning: {w}" for w in m.warnings)
    return "\n".join(out)
