"""Read and write Flink configuration files in both formats (pure, apart from the file helpers).

Why: the JobManager's configuration is what Flink itself wrote into `flink-config-<id>` — nested
YAML `config.yaml` in 2.x, flat `flink-conf.yaml` in 1.x — and the local kubelet must change only a
few keys of it (see `tests/kube/substitutions.py`) before starting the real process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

CONF_FILES = ("config.yaml", "flink-conf.yaml")


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested YAML mapping -> `{"a.b.c": "value"}` with Flink's string forms (lists joined by ';')."""
    flat: dict[str, str] = {}
    for key, value in tree.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{full}."))
        elif isinstance(value, list):
            flat[full] = ";".join(str(v) for v in value)
        elif isinstance(value, bool):
            flat[full] = "true" if value else "false"
        else:
            flat[full] = "" if value is None else str(value)
    return flat


def parse(name: str, text: str) -> dict[str, str]:
    """Flat keys of a Flink configuration file (`config.yaml` or legacy `flink-conf.yaml`)."""
    if name == "config.yaml":
        return flatten(yaml.safe_load(text) or {})
    flat: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and ":" in line:
            key, value = line.split(":", 1)
            flat[key.strip()] = value.strip()
    return flat


def render(name: str, flat: dict[str, str]) -> str:
    """Write flat keys back; Flink 2.x `config.yaml` accepts flattened keys as well as nested ones."""
    if name == "config.yaml":
        return yaml.safe_dump(dict(flat), sort_keys=True, default_flow_style=False, width=1 << 16)
    return "".join(f"{k}: {v}\n" for k, v in sorted(flat.items()))


def write_conf_dir(files: dict[str, str], overrides: dict[str, str], dest: Path) -> Path:
    """Write a ConfigMap's files into `dest`, applying `overrides` to the Flink configuration file."""
    dest.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        if name in CONF_FILES:
            text = render(name, {**parse(name, text), **overrides})
        (dest / name).write_text(text)
    return dest
