"""The approval prompt of a redeploy: what a person must see before saying yes (pure, Markdown out).

Why here and not in the operator: the text decides what the approver knows — releases, mode, which
savepoint, parallelism, what gets deleted, which keys change — so it is a tested function of plain data
(the plan task's XCom), not string building inside Airflow glue.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# What each destructive plan step removes (StepKind values of core.redeploy).
DELETES = {
    "DELETE_DEPLOYMENT": "the JobManager Deployment (and with it the TaskManager pods)",
    "DELETE_HA_CONFIGMAPS": "the HA ConfigMaps (job graph and checkpoint pointers: the new job starts from the savepoint)",
    "STRIP_JOB_GRAPH": "the job-graph keys of the HA ConfigMaps (checkpoint pointers are kept)",
    "DISPOSE_OLD_SAVEPOINTS": "savepoints beyond the newest ones the catalogue keeps",
}


def _cell(value: object) -> str:
    """One Markdown table cell: single line, no column breaks, no inline code escapes."""
    text = " ".join(str(value).split())
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("`", "'")[:300] or "-"


def savepoint_line(steps: Sequence[str], restore_from: str | None, savepoint_dir: str | None) -> str:
    if restore_from:
        return f"restore from {restore_from}"
    if "STOP_WITH_SAVEPOINT" in steps or "AWAIT_SAVEPOINT" in steps:
        return f"stop the job with a new savepoint into {savepoint_dir or 'the cluster default directory'}, restore it"
    if "STRIP_JOB_GRAPH" in steps:
        return "none: the latest HA checkpoint is restored"
    return "none"


def approval_body(*, job: str, cluster_id: str, namespace: str, running_release: str | None, release: str,
                  mode: str, parallelism: int | None, catalogue_parallelism: int | None,
                  restore_from: str | None, savepoint_dir: str | None, steps: Sequence[str], safety: str,
                  plan_table: str | None, changes: Sequence[Mapping[str, Any]]) -> str:
    """Markdown: a summary table, the plan's steps, and the keys the redeploy changes."""
    deleted = [DELETES[s] for s in steps if s in DELETES]
    shown_parallelism = (f"{parallelism} (form override; catalogue {catalogue_parallelism})"
                         if parallelism is not None else f"{catalogue_parallelism} (catalogue)")
    rows = [("Job", f"{job} — cluster {cluster_id} in {namespace}"),
            ("Release", f"{running_release or 'not running'} → {release}"),
            ("Upgrade mode", mode), ("Savepoint", savepoint_line(steps, restore_from, savepoint_dir)),
            ("Parallelism", shown_parallelism), ("Will be deleted", "; ".join(deleted) or "nothing"),
            ("Safety", safety)]
    parts = ["| | |", "|---|---|", *(f"| **{_cell(k)}** | {_cell(v)} |" for k, v in rows), ""]
    parts += ["**Plan**", "", "```", (plan_table or "\n".join(steps)).replace("```", "'''"), "```", ""]
    if changes:
        parts += [f"**What changes** ({len(changes)} keys, running → after the redeploy)", "",
                  "| key | running | after |", "|---|---|---|"]
        parts += [f"| {_cell(c['key'])} | {_cell(c['running'])} | {_cell(c['catalogue'])} |" for c in changes]
    else:
        parts += ["**What changes**: nothing in the configuration (same release and settings)."]
    parts += ["", "Approve to run the plan; Reject leaves the cluster untouched."]
    return "\n".join(parts)
