"""When is a wait for a Flink job over? One pure decision shared by operators, sensors and triggers."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Want(StrEnum):
    FINISHED = "finished"  # batch: the job ends FINISHED; any other end is a failure
    RUNNING = "running"  # streaming: the job is RUNNING
    TERMINAL = "terminal"  # any end state is the answer (sensors that report, not judge)


class Outcome(StrEnum):
    WAIT = "wait"
    SUCCESS = "success"
    FAILURE = "failure"


TERMINAL = frozenset({"FINISHED", "FAILED", "CANCELED"})


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    message: str


def decide(want: Want, job_state: str | None, cluster_present: bool, rest_error: str | None = None,
           rest_refused: str | None = None) -> Decision:
    """`job_state` None: no job seen (yet); `cluster_present`: the JobManager Deployment/pod exists;
    `rest_refused`: Flink REST refused us for good (401/403, certificate), so waiting cannot help."""
    if job_state is None:
        if not cluster_present:
            return Decision(Outcome.FAILURE, "the cluster is gone and no job outcome was observed"
                            + (f" (last REST error: {rest_refused or rest_error})"
                               if rest_refused or rest_error else ""))
        if rest_refused:
            return Decision(Outcome.FAILURE, f"cannot read the job's state: {rest_refused}. Waiting does not "
                            "change that: check the connection's credentials and CA, and that its identity may "
                            "get services/proxy in the namespace (include/k8s/30-role-flink-airflow.yaml)")
        return Decision(Outcome.WAIT, "cluster starting, no job yet" + (f" ({rest_error})" if rest_error else ""))
    if want is Want.TERMINAL:
        return Decision(Outcome.SUCCESS if job_state in TERMINAL else Outcome.WAIT, f"job is {job_state}")
    if want is Want.FINISHED:
        if job_state == "FINISHED":
            return Decision(Outcome.SUCCESS, "job FINISHED")
        if job_state in TERMINAL:
            return Decision(Outcome.FAILURE, f"job ended {job_state}")
        return Decision(Outcome.WAIT, f"job is {job_state}")
    if job_state == "RUNNING":
        return Decision(Outcome.SUCCESS, "job RUNNING")
    if job_state in TERMINAL:
        return Decision(Outcome.FAILURE, f"job ended {job_state} instead of running")
    return Decision(Outcome.WAIT, f"job is {job_state}")
