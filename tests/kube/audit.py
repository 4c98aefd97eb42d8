"""Read the API server's audit log (requests made as service accounts, see controlplane.AUDIT_POLICY).

Why: "bad input touches nothing" and "Flink's pods are authorized by include/k8s/" are claims about what
reached the real API server; its audit log is the record of that, with the authorizer's decision.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class AuditEvent:
    user: str  # e.g. system:serviceaccount:<ns>:flink-airflow
    verb: str
    resource: str  # "pods", "configmaps", "services/proxy" …
    namespace: str
    name: str
    code: int
    decision: str  # "allow" | "forbid" | ""


def mark(log: Path) -> int:
    """The current end of the log: pass it as `since` to see only what comes after."""
    try:
        return log.stat().st_size
    except FileNotFoundError:
        return 0


def events(log: Path, since: int = 0, namespace: str | None = None) -> list[AuditEvent]:
    """Audit events after byte offset `since`, optionally of one namespace."""
    out: list[AuditEvent] = []
    try:
        with open(log, "rb") as fh:
            fh.seek(since)
            lines = fh.read().decode(errors="replace").splitlines()
    except FileNotFoundError:
        return out
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a line being written right now
        ref = entry.get("objectRef") or {}
        resource = ref.get("resource", "") + (f"/{ref['subresource']}" if ref.get("subresource") else "")
        if namespace is not None and ref.get("namespace") != namespace:
            continue
        out.append(AuditEvent(
            user=(entry.get("user") or {}).get("username", ""), verb=entry.get("verb", ""), resource=resource,
            namespace=ref.get("namespace", ""), name=ref.get("name", ""),
            code=int((entry.get("responseStatus") or {}).get("code") or 0),
            decision=(entry.get("annotations") or {}).get("authorization.k8s.io/decision", "")))
    return out
