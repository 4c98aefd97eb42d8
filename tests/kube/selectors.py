"""Label and field selectors as the API server evaluates them (pure functions, no I/O).

Why: Flink lists/watches its pods and HA ConfigMaps by label selector and deletes HA ConfigMaps by
label selector; fabric8 informers select by `metadata.name` field selector. Unfiltered answers
would make Flink adopt or delete objects that are not its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Predicate = Callable[[Mapping[str, Any]], bool]

_SET_RE = re.compile(r"^\s*([^\s!=()]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


def _split_terms(selector: str) -> list[str]:
    """Split on commas that are not inside a `(…)` value set."""
    terms, depth, current = [], 0, []
    for ch in selector:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append("".join(current))
            current = []
        else:
            current.append(ch)
    terms.append("".join(current))
    return [t.strip() for t in terms if t.strip()]


def _label_term(term: str) -> Predicate:
    if m := _SET_RE.match(term):
        key, op, raw = m.group(1), m.group(2), m.group(3)
        values = {v.strip() for v in raw.split(",") if v.strip()}
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    for op in ("!=", "==", "="):
        if op in term:
            key, value = (s.strip() for s in term.split(op, 1))
            if op == "!=":
                return lambda labels: labels.get(key) != value
            return lambda labels: key in labels and labels[key] == value
    if term.startswith("!"):
        key = term[1:].strip()
        return lambda labels: key not in labels
    if re.fullmatch(r"[A-Za-z0-9_./-]+", term):
        return lambda labels: term in labels
    raise ValueError(f"labelSelector term {term!r} is not valid: expected key, !key, key=v, key!=v, "
                     "key in (…) or key notin (…)")


def label_selector(selector: str | None) -> Predicate:
    """Predicate over an object's `metadata.labels`; None or empty selects everything."""
    preds = [_label_term(t) for t in _split_terms(selector or "")]

    def match(obj: Mapping[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(p(labels) for p in preds)

    return match


def field_value(obj: Mapping[str, Any], path: str) -> str | None:
    """Value at a dotted path as the API server compares it (strings; missing is None)."""
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, Mapping) or part not in cur:
            return None
        cur = cur[part]
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return None if cur is None else str(cur)


def field_selector(selector: str | None) -> Predicate:
    """Predicate over dotted fields (`metadata.name=x`, `status.phase!=Running`)."""
    preds: list[Predicate] = []
    for term in _split_terms(selector or ""):
        for op in ("!=", "==", "="):
            if op in term:
                path, value = (s.strip() for s in term.split(op, 1))
                if op == "!=":
                    preds.append(lambda o, p=path, v=value: (field_value(o, p) or "") != v)
                else:
                    preds.append(lambda o, p=path, v=value: (field_value(o, p) or "") == v)
                break
        else:
            raise ValueError(f"fieldSelector term {term!r} is not valid: expected field=value or field!=value")

    def match(obj: Mapping[str, Any]) -> bool:
        return all(p(obj) for p in preds)

    return match
