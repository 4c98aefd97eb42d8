"""`python -m flink_k8s …`: the command line, usable without Airflow.

Each subcommand lives in its own module exposing `register(subparsers)`; the module sets
`func(args) -> int` as the parser default. Modules are imported lazily so one command's
dependencies never slow down another.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# module name -> the subcommands it registers (for the help text before importing it)
COMMAND_MODULES = (
    "flink_k8s.cli.catalogue_cmds",  # plan, validate
    "flink_k8s.cli.memory_cmd",  # memory
    "flink_k8s.cli.pushgateway_cmd",  # pushgateway-cleanup
    "flink_k8s.cli.ops_cmds",  # status, health, list, savepoints
    "flink_k8s.cli.diff_cmd",  # diff
    "flink_k8s.cli.history_cmd",  # history
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m flink_k8s",
        description="Plan, validate and operate Flink jobs on native Kubernetes.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # command not built yet
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
