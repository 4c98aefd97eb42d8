"""A deferred batch wait survives a triggerer crash, with the real `airflow triggerer`.

The task runs in this process until it defers (as a worker would: it submits the job once, then hands the
wait to `FlinkJobTrigger`). Triggerer A takes the trigger and polls Flink; it is SIGKILLed while the job
still runs. Triggerer B takes the orphaned trigger over once A's heartbeat is stale (Airflow's own
reassignment), sees the job finish and hands the event back; the task then resumes in `execute_complete`.
The job runs once, to its end, and its real outcome reaches XCom.

`dag.test()` cannot show this (it runs triggers inline, in its own process), so the run is driven with the
same in-process task runner `dag.test()` uses, minus the inline trigger.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from tests.fixtures import procs
from tests.fixtures.native_catalogue import append_jobs
from tests.fixtures.procs import wait_until
from tests.fixtures.test_jobs import read_batch_result

pytestmark = pytest.mark.slow

RECORDS, RATE = 1800, 20  # ~90 s of job: time to start one triggerer, crash it and start another, even loaded


def _add_slow_batch_job(out: Path) -> None:
    append_jobs(f"""
        slow:
          kind: batch
          jar_uri: local:///opt/flink/usrlib/batch.jar
          program_args: [--output, "{out}", --records, "{RECORDS}", --rate, "{RATE}"]
        """)


def _new_run(dag, conf: dict):
    """A DagRun with its task instances in the metadata DB, as `dag.test()` creates it."""
    from airflow import settings
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.models.dagrun import DagRun, get_or_create_dagrun
    from airflow.sdk import timezone
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.utils.types import DagRunTriggeredByType, DagRunType

    from tests.fixtures.airflow_env import serialize_dag

    DagBundlesManager().sync_bundles_to_db()
    serialize_dag(dag, "dags-folder")
    scheduler_dag = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
    now = timezone.utcnow()
    session = settings.Session()
    run_id = DagRun.generate_run_id(run_type=DagRunType.MANUAL, logical_date=now, run_after=now)
    dr = get_or_create_dagrun(dag=scheduler_dag, start_date=now, logical_date=now, data_interval=None,
                              run_after=now, run_id=run_id, session=session, conf=conf,
                              triggered_by=DagRunTriggeredByType.TEST, triggering_user_name="test")
    session.commit()
    return dr


def _ti(dr, task_id: str):
    from airflow import settings

    session = settings.Session()
    session.expire_all()
    return dr.get_task_instance(task_id, session=session)


def _trigger_owner(trigger_id: int) -> int | None:
    from airflow import settings
    from airflow.models.trigger import Trigger

    session = settings.Session()
    session.expire_all()
    row = session.get(Trigger, trigger_id)
    return None if row is None else row.triggerer_id


def _triggerer(name: str, log_dir: Path) -> procs.ManagedProcess:
    # Heartbeat every second, judged dead after 4 s without one: B takes over quickly after A's crash.
    env = {"AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1", "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "4"}
    return procs.start(name, [sys.executable, "-m", "airflow", "triggerer", "--skip-serve-logs"], log_dir, env=env)


def _trigger_logs() -> str:
    from tests.fixtures.airflow_env import AIRFLOW_HOME

    return "\n".join(p.read_text(errors="replace") for p in (AIRFLOW_HOME / "logs").rglob("*trigger*")
                     if p.is_file())


def test_deferred_batch_wait_survives_a_triggerer_crash(flink_env, airflow_db, tmp_path):
    from airflow.models.trigger import Trigger
    from airflow.sdk.definitions.dag import _run_task

    from flink_k8s.hooks.flink import FlinkKubernetesHook
    from tests.fixtures.airflow_env import collect_result, load_dag

    out = flink_env["out"] / "slow"
    _add_slow_batch_job(out)
    dag = load_dag("flink_batch__slow")
    task = dag.task_dict["run"]
    dr = _new_run(dag, {"release": "1"})

    # 1. The worker's part: validate, submit once, defer.
    ti = _ti(dr, "run")
    ti.try_number += 1
    _run_task(ti=ti, task=task, run_triggerer=False)
    ti = _ti(dr, "run")
    assert ti.state == "deferred", f"the task should have deferred, not ended {ti.state}"
    trigger_id = ti.trigger_id
    from airflow import settings

    row = settings.Session().get(Trigger, trigger_id)
    assert row.classpath == "flink_k8s.triggers.flink.FlinkJobTrigger"
    cluster_id = row.kwargs["cluster_id"]
    cp = FlinkKubernetesHook("kubernetes_default", flink_env["ns"]).control_plane

    # 2. Triggerer A takes the trigger and polls; it crashes while the job still runs.
    a = _triggerer("triggerer-a", tmp_path)
    owner_a = wait_until(lambda: _trigger_owner(trigger_id), 120, "triggerer A to take the trigger", procs=[a])
    wait_until(lambda: cluster_id in _trigger_logs(), 120, "triggerer A's trigger to poll the cluster", procs=[a])
    os.killpg(a.pid, signal.SIGKILL)
    a.popen.wait(timeout=30)
    assert _ti(dr, "run").state == "deferred"
    assert cp.check_job(cluster_id, "finished").done is False, "the job ended before the crash: nothing proven"

    # 3. Triggerer B adopts the orphaned trigger, sees the job finish, and hands the event to the task.
    b = _triggerer("triggerer-b", tmp_path)
    owners = {owner_a}

    def event_delivered() -> bool:
        owner = _trigger_owner(trigger_id)
        if owner is not None:
            owners.add(owner)
        return _ti(dr, "run").state == "scheduled"

    wait_until(event_delivered, 240, "triggerer B to deliver the job's end to the task", interval=0.5, procs=[b])
    assert len(owners) == 2, f"the trigger was never reassigned after the crash (owners {owners})"
    ti = _ti(dr, "run")
    assert ti.next_method == "execute_complete"
    event = ti.next_kwargs["event"]
    assert "'done'" in str(event) or '"done"' in str(event)
    b.stop()

    # 4. The worker resumes: no second submission, the job's real outcome in XCom, its output complete.
    _run_task(ti=ti, task=task, run_triggerer=False)
    ti = _ti(dr, "run")
    assert ti.state == "success"
    pushed = collect_result(dr.dag_id, dr.run_id).xcoms["run"]
    assert pushed["final_state"] == "FINISHED" and pushed["job_id"]
    totals = read_batch_result(out)
    assert sum(count for count, _ in totals.values()) == RECORDS
    assert sum(s for _, s in totals.values()) == RECORDS * (RECORDS - 1) // 2
