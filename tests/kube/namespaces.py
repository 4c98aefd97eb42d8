"""A test namespace set up as a user's `flink` namespace: include/k8s/ applied to it, unchanged but renamed.

Why: tests isolate themselves by namespace on one shared control plane, and the Roles of include/k8s/
must be what authorizes both Airflow (service account `flink-airflow`) and Flink's pods (`flink-sa`) in
every end-to-end test — if a verb is missing there, the test fails as production would.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "include" / "k8s"
SHIPPED_NAMESPACE = "flink"


def manifests_for(namespace: str) -> list[dict[str, Any]]:
    """include/k8s/ with `flink` replaced by `namespace` (cluster-scoped bindings get their own name)."""
    docs: list[dict[str, Any]] = []
    for path in sorted(MANIFESTS.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc:
                continue
            doc = copy.deepcopy(doc)
            meta = doc.setdefault("metadata", {})
            if doc["kind"] == "Namespace":
                meta["name"] = namespace
            elif doc["kind"] == "ClusterRole":
                pass  # shared, identical for every namespace
            elif doc["kind"] == "ClusterRoleBinding":
                meta["name"] = f"{meta['name']}-{namespace}"
            else:
                meta["namespace"] = namespace
            for subject in doc.get("subjects", []):
                if subject.get("namespace") == SHIPPED_NAMESPACE:
                    subject["namespace"] = namespace
            docs.append(doc)
    return docs


def manifest_text(namespace: str) -> str:
    return yaml.safe_dump_all(manifests_for(namespace), sort_keys=False)
