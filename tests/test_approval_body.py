"""The approval prompt (core/approval.py) and `require_approval` in the catalogue and the redeploy conf: pure."""

from __future__ import annotations

import pytest

from flink_k8s.core.approval import approval_body, savepoint_line
from flink_k8s.core.catalogue import parse_catalogue
from flink_k8s.core.errors import ValidationError
from flink_k8s.core.form_params import redeploy_param_specs
from flink_k8s.core.run_inputs import validate_redeploy

CATALOGUE = """
defaults: {flink_version: "2.3", namespace: ns, image: "img:{release}", jar_uri: "local:///opt/j.jar"}
jobs:
  gated: {kind: streaming, upgrade_mode: savepoint, savepoint_dir: "s3://b/sp", require_approval: true}
  open: {kind: streaming, upgrade_mode: savepoint, savepoint_dir: "s3://b/sp"}
"""


def _body(**over):
    args = dict(job="gated", cluster_id="gated", namespace="ns", running_release="1", release="2", mode="savepoint",
                parallelism=None, catalogue_parallelism=2, restore_from=None, savepoint_dir="s3://b/sp",
                steps=["STOP_WITH_SAVEPOINT", "WAIT_CLUSTER_GONE", "DELETE_HA_CONFIGMAPS", "SUBMIT"],
                safety="state kept", plan_table="1  STOP_WITH_SAVEPOINT  job x",
                changes=[{"key": "deployment.image", "catalogue": "img:2", "running": "img:1"}])
    args.update(over)
    return approval_body(**args)


def test_body_shows_releases_mode_savepoint_parallelism_deletions_and_changes():
    body = _body()
    assert "| **Release** | 1 → 2 |" in body and "| **Upgrade mode** | savepoint |" in body
    assert "| **Savepoint** | stop the job with a new savepoint into s3://b/sp, restore it |" in body
    assert "| **Parallelism** | 2 (catalogue) |" in body
    assert "the HA ConfigMaps" in body and "the JobManager Deployment" not in body
    assert "```\n1  STOP_WITH_SAVEPOINT  job x\n```" in body
    assert "| deployment.image | img:1 | img:2 |" in body


def test_body_edge_cases():
    body = _body(running_release=None, parallelism=4, changes=[], steps=["SUBMIT"], plan_table=None,
                 restore_from="s3://b/sp/savepoint-1")
    assert "not running → 2" in body and "4 (form override; catalogue 2)" in body
    assert "nothing in the configuration" in body and "| **Will be deleted** | nothing |" in body
    assert "restore from s3://b/sp/savepoint-1" in body
    hostile = _body(changes=[{"key": "a|b", "catalogue": "x\n| injected |", "running": "```"}])
    assert "| a\\|b | ''' | x \\| injected \\| |" in hostile


@pytest.mark.parametrize(("steps", "restore", "line"), [
    (["STRIP_JOB_GRAPH", "SUBMIT"], None, "none: the latest HA checkpoint is restored"),
    (["SUBMIT"], None, "none"), (["AWAIT_SAVEPOINT"], None, "stop the job with a new savepoint into d, restore it"),
])
def test_savepoint_line(steps, restore, line):
    assert savepoint_line(steps, restore, "d") == line


def test_require_approval_from_catalogue_or_form():
    cat = parse_catalogue(CATALOGUE.encode())
    assert cat.job("gated").require_approval is True and cat.job("open").require_approval is False
    assert validate_redeploy({"job": "gated", "release": "2"}, cat).require_approval is True
    assert validate_redeploy({"job": "gated", "release": "2", "require_approval": False}, cat).require_approval
    assert validate_redeploy({"job": "open", "release": "2"}, cat).require_approval is False
    assert validate_redeploy({"job": "open", "release": "2", "require_approval": True}, cat).require_approval
    with pytest.raises(ValidationError, match="require_approval"):
        validate_redeploy({"job": "open", "release": "2", "require_approval": "yes please"}, cat)
    spec = redeploy_param_specs(cat)["require_approval"]
    assert spec["type"] == "boolean" and spec["default"] is False
    assert "gated: always" in spec["description"] and "open: when ticked" in spec["description"]


def test_require_approval_is_checked_and_streaming_only():
    bad = CATALOGUE.replace("require_approval: true", "require_approval: maybe")
    with pytest.raises(ValidationError, match="require_approval"):
        parse_catalogue(bad.encode())
    batch = CATALOGUE + "  b: {kind: batch, require_approval: true}\n"
    with pytest.raises(ValidationError, match="require_approval"):
        parse_catalogue(batch.encode())
