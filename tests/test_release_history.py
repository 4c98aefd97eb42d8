"""Release history (issue 18.1): one entry per deployment in the job's ledger, completed by the same writes the
executor already makes; bounded; tolerant of hand-edited entries; `python -m flink_k8s history` on the real API
server. Pure parts first (fast), then the command line against a ledger ConfigMap as the product writes it."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from flink_k8s.cli.history_cmd import format_history
from flink_k8s.core import ledger as L
from flink_k8s.core.ledger import ReleaseAction, ReleaseOutcome, ReleaseRecord

T0 = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
RUN = "flink_streaming_redeploy/manual__1"


def _rec(release: str, run: str = RUN, action: ReleaseAction = ReleaseAction.REDEPLOY, **kw) -> ReleaseRecord:
    return ReleaseRecord(release=release, cluster_id="c", dag_run_id=run, action=action.value, started_at=T0, **kw)


def test_start_appends_in_flight_and_a_retry_of_the_same_run_reopens_its_entry():
    led = L.start_release(L.JobLedger(), _rec("1", run="r0", action=ReleaseAction.DEPLOY))
    led = L.finish_release(led, "r0", "deploy", ReleaseOutcome.SUCCEEDED, T0)
    led = L.start_release(led, _rec("2", savepoint_taken=None))
    led = L.update_release(led, RUN, "redeploy", savepoint_taken="s3://sp/1", restore_source="s3://sp/1")
    led = L.finish_release(led, RUN, "redeploy", ReleaseOutcome.FAILED, T0 + timedelta(minutes=1), "boom")
    assert [(r.release, r.outcome) for r in led.releases] == [("1", "succeeded"), ("2", "failed")]
    # the task retried in the same DAG run: the same entry again, in flight, keeping its savepoint and start
    again = L.start_release(led, replace(_rec("2"), started_at=T0 + timedelta(minutes=5)))
    assert len(again.releases) == 2
    entry = again.releases[-1]
    assert (entry.outcome, entry.savepoint_taken, entry.started_at, entry.reason, entry.ended_at) == \
        ("in-flight", "s3://sp/1", T0, None, None)


def test_a_rollback_that_succeeds_marks_the_release_it_replaced_rolled_back():
    led = L.start_release(L.JobLedger(), _rec("2"))
    led = L.finish_release(led, RUN, "redeploy", ReleaseOutcome.FAILED, T0, "job FAILED at start")
    led = L.start_release(led, _rec("1", action=ReleaseAction.ROLLBACK, savepoint_taken="s3://sp/1"))
    assert L.current_release(led) is None
    led = L.finish_release(led, RUN, "rollback", ReleaseOutcome.SUCCEEDED, T0)
    assert [(r.release, r.action, r.outcome) for r in led.releases] == [
        ("2", "redeploy", "rolled-back"), ("1", "rollback", "succeeded")]
    assert led.releases[0].reason == "job FAILED at start"  # why it was rolled back survives
    assert L.current_release(led).release == "1"


def test_updates_outside_a_dag_run_touch_no_entry():
    led = L.start_release(L.JobLedger(), _rec("2"))
    assert L.update_release(led, None, None, restore_source="x") == led
    assert L.finish_release(led, "other/run", "redeploy", ReleaseOutcome.FAILED, T0) == led


def test_history_is_bounded_to_the_last_50_and_round_trips():
    led = L.JobLedger()
    for n in range(L.RELEASES_KEPT + 7):
        led = L.start_release(led, _rec(str(n), run=f"r{n}", parallelism=2))
        led = L.finish_release(led, f"r{n}", "redeploy", ReleaseOutcome.SUCCEEDED, T0 + timedelta(seconds=n))
    assert len(led.releases) == L.RELEASES_KEPT and led.releases[0].release == "7"
    back = L.parse_ledger(L.serialize_ledger(led))
    assert back.releases == led.releases and back.problems == ()
    doc = json.loads(L.serialize_ledger(led)["ledger"])
    assert doc["releases"][-1]["record_version"] == L.RELEASE_RECORD_VERSION
    assert doc["releases"][-1]["outcome"] == "succeeded" and doc["releases"][-1]["parallelism"] == 2


def test_hand_edited_or_newer_entries_are_read_as_far_as_they_go():
    raw = {"ledger": json.dumps({"schema_version": 2, "releases": [
        {"release": "1", "cluster_id": "c", "outcome": "succeeded", "parallelism": "many", "image": 7},
        {"release": "x y!", "cluster_id": "c", "outcome": "succeeded", "future_field": {"a": 1},
         "record_version": 9},
        {"cluster_id": "c"}, "junk"]})}
    led = L.parse_ledger(raw)
    assert [r.release for r in led.releases] == ["1", "x y!"]
    assert led.releases[0].image is None and led.releases[0].parallelism is None
    assert led.releases[1].record_version == 9
    assert any("releases[0].image" in p for p in led.problems)
    assert sum("skipped" in p for p in led.problems) == 2
    text = format_history("job", "c", led.releases, L.current_release(led), led.problems)
    assert "current release x y!" in text and "problem: releases[0].image" in text


def test_history_table_lists_every_entry_and_the_reasons():
    led = L.start_release(L.JobLedger(), _rec("1", run="r0", action=ReleaseAction.DEPLOY))
    led = L.finish_release(led, "r0", "deploy", ReleaseOutcome.SUCCEEDED, T0)
    led = L.start_release(led, _rec("2", savepoint_taken="s3://sp/9", upgrade_mode="savepoint"))
    led = L.finish_release(led, RUN, "redeploy", ReleaseOutcome.FAILED, T0, "WaitTimeout: no checkpoint")
    text = format_history("stream", "c", led.releases, L.current_release(led), ())
    lines = text.splitlines()
    assert "current release 1" in lines[0]
    assert lines[1].split()[:5] == ["started", "ended", "action", "release", "outcome"]
    assert "deploy" in lines[2] and "succeeded" in lines[2]
    assert "s3://sp/9" in lines[3] and "failed" in lines[3] and RUN in lines[3]
    assert lines[4].strip() == "2 failed: WaitTimeout: no checkpoint"
    empty = format_history("stream", "c", (), None, ())
    assert "no release succeeded yet" in empty and "no entries" in empty


# -- the command line on the real API server -------------------------------------------------------------------

def test_history_cli_table_and_json_on_the_real_api_server(k8s_api, tmp_path, capsys):
    from flink_k8s.control_plane import FlinkControlPlane
    from tests.test_control_plane import kube_view, ops_in_process, write_catalogue

    catalogue = write_catalogue(tmp_path / "flink_jobs.yaml", k8s_api.namespace, """
        stream:
          kind: streaming
          upgrade_mode: savepoint
          savepoint_dir: file:///tmp/savepoints
          cluster_id: stream-1
          jar_uri: local:///opt/flink/usrlib/stream.jar
        """)
    common = ["--catalogue", str(catalogue), "--kubeconfig", str(k8s_api.kubeconfig)]
    code, out, err = ops_in_process(capsys, "history", "stream", *common)
    assert code == 0, err
    assert "no entries" in out

    store = FlinkControlPlane(kube_view(k8s_api)).ledger_store
    store.update("stream-1", lambda led: L.finish_release(L.start_release(led, _rec("7", run="r0", action=ReleaseAction.DEPLOY)),
                                                          "r0", "deploy", ReleaseOutcome.SUCCEEDED, T0))
    store.update("stream-1", lambda led: L.start_release(led, _rec("8", savepoint_taken="file:///sp/1")))
    code, out, err = ops_in_process(capsys, "history", "stream", *common, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["current_release"] == "7"
    assert [(r["release"], r["outcome"]) for r in data["releases"]] == [("7", "succeeded"), ("8", "in-flight")]
    assert data["releases"][1]["savepoint_taken"] == "file:///sp/1" and data["releases"][1]["dag_run_id"] == RUN
    code, out, err = ops_in_process(capsys, "history", "stream", *common)
    assert code == 0 and "in-flight" in out and "current release 7" in out

    code, _, err = ops_in_process(capsys, "history", "nope", *common)
    assert code == 2 and "nope" in err
