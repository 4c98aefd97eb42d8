"""Catalogue access for the Airflow glue: load once per file version (path + mtime), look a job up."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from flink_k8s import settings


@lru_cache(maxsize=8)
def _load(path: str, mtime_ns: int, size: int):
    from flink_k8s.core.catalogue import load_catalogue

    return load_catalogue(path)


def load(path: str | os.PathLike | None = None):
    """The catalogue at `path` (default: `settings.catalogue_path()`), cached until the file changes."""
    p = Path(path or settings.catalogue_path())
    st = p.stat()
    return _load(str(p), st.st_mtime_ns, st.st_size)


def load_job(name: str, path: str | os.PathLike | None = None):
    return load(path).job(name)
