"""Pure parts of the Airflow glue: wait decisions, run-time input checks, per-run cluster ids, trigger wire format."""

import pytest

from flink_k8s import jobs
from flink_k8s.core.errors import ValidationError
from flink_k8s.core.job_wait import Outcome, Want, decide
from flink_k8s.core.run_inputs import validate_redeploy, validate_submit_overrides


@pytest.mark.parametrize(
    ("want", "state", "present", "expected"),
    [
        (Want.FINISHED, "FINISHED", True, Outcome.SUCCESS),
        (Want.FINISHED, "FAILED", True, Outcome.FAILURE),
        (Want.FINISHED, "CANCELED", True, Outcome.FAILURE),
        (Want.FINISHED, "RUNNING", True, Outcome.WAIT),
        (Want.FINISHED, None, True, Outcome.WAIT),
        (Want.FINISHED, None, False, Outcome.FAILURE),
        (Want.RUNNING, "RUNNING", True, Outcome.SUCCESS),
        (Want.RUNNING, "CREATED", True, Outcome.WAIT),
        (Want.RUNNING, "RESTARTING", True, Outcome.WAIT),
        (Want.RUNNING, "FINISHED", True, Outcome.FAILURE),
        (Want.RUNNING, "FAILED", True, Outcome.FAILURE),
        (Want.RUNNING, None, False, Outcome.FAILURE),
        (Want.TERMINAL, "FAILED", True, Outcome.SUCCESS),
        (Want.TERMINAL, "RUNNING", True, Outcome.WAIT),
    ],
)
def test_wait_decision_matrix(want, state, present, expected):
    assert decide(want, state, present).outcome is expected


@pytest.fixture(scope="module")
def catalogue():
    return jobs.load()


def test_redeploy_conf_defaults_upgrade_mode_from_catalogue(catalogue):
    inp = validate_redeploy({"job": "streaming-job", "release": "43"}, catalogue)
    assert (inp.upgrade_mode, inp.allow_state_loss, inp.dry_run, inp.parallelism) == ("savepoint", False, False, None)


@pytest.mark.parametrize(
    ("conf", "field"),
    [
        ({"job": "batch-job", "release": "1"}, "job"),  # not a streaming job
        ({"job": "nope", "release": "1"}, "job"),
        ({"job": "streaming-job"}, "release"),
        ({"job": "streaming-job", "release": "1;reboot"}, "release"),
        ({"job": "streaming-job", "release": "1\n2"}, "release"),
        ({"job": "streaming-job", "release": "-Dfoo=bar"}, "release"),
        ({"job": "streaming-job", "release": "1", "upgrade_mode": "yolo"}, "upgrade_mode"),
        ({"job": "streaming-job", "release": "1", "allow_state_loss": "true"}, "allow_state_loss"),
        ({"job": "streaming-job", "release": "1", "parallelism": 0}, "parallelism"),
        ({"job": "streaming-job", "release": "1", "parallelism": 10**9}, "parallelism"),
        ({"job": "streaming-job", "release": "1", "restore_from": "../../etc/passwd"}, "restore_from"),
        ({"job": "streaming-job", "release": "1", "surprise": 1}, "conf.surprise"),
    ],
)
def test_redeploy_conf_refused_naming_the_field(catalogue, conf, field):
    with pytest.raises(ValidationError) as err:
        validate_redeploy(conf, catalogue)
    assert any(p.field == field for p in err.value.problems), str(err.value)


def test_submit_overrides_checked(catalogue):
    spec = catalogue.job("batch-job")
    assert validate_submit_overrides(spec, "7", "3", ["--date", "2024-01-01"]) == ("7", 3, ("--date", "2024-01-01"))
    with pytest.raises(ValidationError) as err:
        validate_submit_overrides(spec, "$(id)", "x", ["ok", "bad\x00"])
    assert {p.field for p in err.value.problems} == {"release", "parallelism", "program_args[1]"}


def test_run_cluster_id_is_deterministic_unique_and_a_valid_cluster_id():
    from flink_k8s.core.validation import cluster_id as check_cluster_id
    from flink_k8s.operators.flink import run_cluster_id

    a = run_cluster_id("batch-job", "flink_batch__batch-job", "scheduled__2024-01-01")
    assert a == run_cluster_id("batch-job", "flink_batch__batch-job", "scheduled__2024-01-01")
    assert a != run_cluster_id("batch-job", "flink_batch__batch-job", "scheduled__2024-01-02")
    long = run_cluster_id("x" * 45, "d", "r")
    assert len(long) <= 45
    check_cluster_id(a)
    check_cluster_id(long)


def test_trigger_serialization_round_trips_and_carries_no_secrets():
    from airflow.sdk.serde import deserialize, serialize

    from flink_k8s.triggers.flink import FlinkHealthTrigger, FlinkJobTrigger

    for cls, check in ((FlinkJobTrigger, {"want": "finished"}), (FlinkHealthTrigger, {"job": "streaming-job"})):
        trigger = cls(cluster_id="c-1", namespace="flink", kubernetes_conn_id="k8s", poll_interval=2.0,
                      deadline=1.5e9, rest_access={"mode": "proxy"}, check=check)
        classpath, kwargs = trigger.serialize()
        assert classpath == f"flink_k8s.triggers.flink.{cls.__name__}"
        rebuilt = cls(**deserialize(serialize(kwargs)))
        assert rebuilt.serialize() == (classpath, kwargs)
        assert set(kwargs) == {"cluster_id", "namespace", "kubernetes_conn_id", "poll_interval", "deadline",
                               "rest_access", "check"}
