"""PATCH bodies the way the API server applies them (pure functions, no I/O).

Why: kubectl sends strategic-merge patches, fabric8 (inside Flink) sends JSON patches from
`edit()`, the Python client sends merge patches; each must change the stored object exactly once.
Strategic merge is approximated by a JSON merge patch whose lists of named items (containers,
ports, env, …) are merged by `name`, and whose `$`-directives are dropped.
"""

from __future__ import annotations

import copy
from typing import Any

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


def merge_patch(target: Any, patch: Any, strategic: bool = False) -> Any:
    """RFC 7386 merge patch; with `strategic`, lists of dicts with `name` merge item by item."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if strategic and key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        elif strategic and _named_list(value) and _named_list(result.get(key)):
            result[key] = _merge_named(result[key], value)
        else:
            result[key] = merge_patch(result.get(key), value, strategic)
    return result


def _named_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(i, dict) and "name" in i for i in value)


def _merge_named(current: list[dict], patch: list[dict]) -> list[dict]:
    by_name = {item["name"]: item for item in current}
    merged = []
    for item in patch:
        if item.get("$patch") == "delete":
            by_name.pop(item["name"], None)
            continue
        merged.append(merge_patch(by_name.pop(item["name"], {}), item, strategic=True))
    return merged + list(by_name.values())  # items the patch does not name are kept


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise ValueError(f"JSON patch path {path!r} is not valid: it must start with '/'")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, parts: list[str]) -> Any:
    cur = doc
    for part in parts[:-1]:
        cur = cur[int(part)] if isinstance(cur, list) else cur[part]
    return cur


def _get(doc: Any, parts: list[str]) -> Any:
    cur = doc
    for part in parts:
        cur = cur[int(part)] if isinstance(cur, list) else cur[part]
    return cur


def _add(doc: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    parent = _parent(doc, parts)
    key = parts[-1]
    if isinstance(parent, list):
        parent.insert(len(parent) if key == "-" else int(key), value)
    else:
        parent[key] = value
    return doc


def _remove(doc: Any, parts: list[str]) -> Any:
    parent = _parent(doc, parts)
    key = parts[-1]
    if isinstance(parent, list):
        del parent[int(key)]
    else:
        del parent[key]
    return doc


def json_patch(target: Any, ops: list[dict[str, Any]]) -> Any:
    """RFC 6902 JSON patch (add, remove, replace, move, copy, test)."""
    doc = copy.deepcopy(target)
    for op in ops:
        kind, parts = op.get("op"), _pointer(op.get("path", ""))
        if kind == "add":
            doc = _add(doc, parts, copy.deepcopy(op["value"]))
        elif kind == "remove":
            doc = _remove(doc, parts)
        elif kind == "replace":
            if parts:
                _get(doc, parts)  # must exist
                parent = _parent(doc, parts)
                key = parts[-1]
                parent[int(key) if isinstance(parent, list) else key] = copy.deepcopy(op["value"])
            else:
                doc = copy.deepcopy(op["value"])
        elif kind in ("move", "copy"):
            source = _pointer(op["from"])
            value = copy.deepcopy(_get(doc, source))
            if kind == "move":
                doc = _remove(doc, source)
            doc = _add(doc, parts, value)
        elif kind == "test":
            if _get(doc, parts) != op.get("value"):
                raise ValueError(f"JSON patch test failed at {op.get('path')!r}")
        else:
            raise ValueError(f"JSON patch op {kind!r} is not valid: expected add/remove/replace/move/copy/test")
    return doc


def apply_patch(target: dict[str, Any], body: Any, content_type: str) -> dict[str, Any]:
    """Apply a PATCH body of the given content type to a copy of `target`."""
    ctype = content_type.split(";")[0].strip().lower()
    if ctype == JSON_PATCH:
        if not isinstance(body, list):
            raise ValueError(f"JSON patch body must be a list of operations, got {type(body).__name__}")
        return json_patch(target, body)
    if ctype in (STRATEGIC_PATCH, APPLY_PATCH):
        return merge_patch(target, body, strategic=True)
    return merge_patch(target, body)
