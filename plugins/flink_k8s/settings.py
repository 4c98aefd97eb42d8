"""Where things are, from the environment, with defaults that work in this repository and in the images.

Read at call time (never at import), so tests and deployments can point them elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

_REPO = Path(__file__).resolve().parents[2]


def catalogue_path() -> Path:
    """`FLINK_K8S_CATALOGUE`, else `include/flink_jobs.yaml` beside `plugins/` (repo and compose layout)."""
    return Path(os.environ.get("FLINK_K8S_CATALOGUE") or _REPO / "include" / "flink_jobs.yaml")


def flink_home() -> str | None:
    """The Flink client distribution (`FLINK_HOME`); None means `flink` on PATH."""
    return os.environ.get("FLINK_HOME") or None


def rest_access_default() -> dict:
    """`FLINK_K8S_REST_ACCESS`: proxy (default), nodeport, or a URL template such as
    `http://{cluster_id}-rest.{namespace}:8081` (in-cluster DNS)."""
    raw = os.environ.get("FLINK_K8S_REST_ACCESS", "proxy").strip()
    if raw in ("proxy", "nodeport"):
        return {"mode": raw}
    return {"mode": "url", "url_template": raw}


def schedule_from_env(name: str, default: str) -> str | None:
    """A DAG schedule from env var `name` (cron or preset); empty or `none` means manual runs only."""
    value = os.environ.get(name, default).strip()
    return None if value.lower() in ("", "none") else value


def flag_from_env(name: str, default: bool = False) -> bool:
    """A boolean env var: true/false, 1/0, yes/no (any case); anything else is an error naming it."""
    raw = os.environ.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in ("true", "1", "yes"):
        return True
    if raw in ("false", "0", "no"):
        return False
    raise ValueError(f"{name}={raw!r}: expected true or false")
