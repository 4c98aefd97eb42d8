"""`history JOB [--json]`: the job's release history from its ledger (every first deploy, redeploy and rollback).

Read-only; reads one ConfigMap (no Flink REST). Entries the code cannot read (hand-edited, or written by a newer
record version) are shown as far as they go and listed under `problems` — never a crash. Exit codes as the other
operating commands: 0 ok, 1 the Kubernetes API could not be read, 2 invalid input.
"""

from __future__ import annotations

import argparse
from typing import Any

COLUMNS = ("started", "ended", "action", "release", "outcome", "mode", "restored from", "savepoint taken", "run")


def register(subparsers: Any) -> None:
    from flink_k8s.cli.ops_cmds import add_common_args

    help_text = "release history of a job: deploys, redeploys and rollbacks with their outcome (newest last)"
    p = subparsers.add_parser("history", help=help_text, description=help_text + ".")
    p.add_argument("job", metavar="JOB", help="job name in the catalogue")
    add_common_args(p)
    p.set_defaults(func=run_history)


def run_history(args: argparse.Namespace) -> int:
    from flink_k8s.cli.ops_cmds import EXIT_OK, print_json, run_guarded, to_plain

    def body(cp: Any, job: Any) -> int:
        from flink_k8s.core.ledger import current_release

        cluster_id = job.cluster_id or job.name
        ledger = cp.ledger(cluster_id)
        current = current_release(ledger)
        if args.json:
            print_json({"job": job.name, "cluster_id": cluster_id, "namespace": cp.namespace,
                         "current_release": current.release if current else None,
                         "releases": [to_plain(r) for r in ledger.releases], "problems": list(ledger.problems)})
            return EXIT_OK
        print(format_history(job.name, cluster_id, ledger.releases, current, ledger.problems))
        return EXIT_OK
    return run_guarded(args, body)


def format_history(job: str, cluster_id: str, releases: Any, current: Any, problems: Any) -> str:
    """The table (pure): one row per entry, oldest first, then the reasons of failed entries."""
    lines = [f"release history of {job} (cluster {cluster_id}; the last 50 kept): "
             + (f"current release {current.release}" if current else "no release succeeded yet")]
    rows = [COLUMNS] + [(_when(r.started_at), _when(r.ended_at), _text(r.action), _text(r.release),
                         _text(r.outcome), _text(r.upgrade_mode), _text(r.restore_source),
                         _text(r.savepoint_taken), _text(r.dag_run_id)) for r in releases]
    if not releases:
        lines.append("  (no entries: the job was never deployed through a redeploy run since release history exists)")
    else:
        widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
        for row in rows:
            lines.append("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    for r in releases:
        if r.reason:
            lines.append(f"  {_text(r.release)} {_text(r.outcome)}: {r.reason}")
    for problem in problems:
        lines.append(f"  problem: {problem}")
    return "\n".join(lines)


def _when(at: Any) -> str:
    return at.isoformat(timespec="seconds") if at else "-"


def _text(value: Any) -> str:
    return "-" if value in (None, "") else str(value).replace("\n", " ")[:200]
