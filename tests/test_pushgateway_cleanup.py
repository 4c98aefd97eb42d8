"""Stale-group cleanup against the real `prometheus-pushgateway` (client, `run_cleanup`, CLI).

Groups become stale by real time passing: a small max age, and polling until the gateway's own push
timestamps are older than it (no fixed sleeps). Job names are unique per test, filters are limited to
them, and every test compares against the groups that were on the gateway before it started.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterable, Iterator, Mapping

import pytest

from flink_k8s.clients.pushgateway import (
    PushgatewayClient,
    PushgatewayUnavailable,
    RetryPolicy,
    grouping_key_path,
    run_cleanup,
)
from flink_k8s.core.stale_groups import Criteria, job_pattern, parse_keep, parse_matcher
from tests.fixtures import procs
from tests.fixtures.paths import REPO

MAX_AGE = 1.5  # seconds; small so that tests wait little


def push(url: str, labels: Mapping[str, str], value: float = 1.0) -> None:
    body = f"# TYPE cleanup_test_metric gauge\ncleanup_test_metric {value}\n".encode()
    req = urllib.request.Request(url + grouping_key_path(labels), data=body, method="PUT")
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.status in (200, 202), resp.status


def key(labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def keys_on(client: PushgatewayClient) -> set[tuple[tuple[str, str], ...]]:
    return {g.key() for g in client.list_groups()}


def push_all(url: str, groups: Iterable[Mapping[str, str]]) -> None:
    for labels in groups:
        push(url, labels)


def wait_until_older_than(client: PushgatewayClient, groups: list[dict[str, str]], age: float) -> None:
    """Poll until the gateway's last push time of every group in `groups` is older than `age`."""
    wanted = {key(g) for g in groups}

    def old_enough() -> bool:
        times = {g.key(): g.push_time for g in client.list_groups() if g.key() in wanted}
        return len(times) == len(wanted) and all(time.time() - t > age for t in times.values())

    procs.wait_until(old_enough, 30, f"{len(groups)} groups older than {age}s", interval=0.1)


def wait_gone(client: PushgatewayClient, groups: list[dict[str, str]]) -> None:
    """Deletes are queued by the gateway (202): poll until they are applied."""
    wanted = {key(g) for g in groups}
    procs.wait_until(lambda: not (keys_on(client) & wanted), 10, "deleted groups to disappear", interval=0.05)


@contextlib.contextmanager
def live_reporter(url: str, groups: list[dict[str, str]], interval: float = 0.2) -> Iterator[None]:
    """Keep `groups` fresh the way a live Flink reporter does: push them every `interval` seconds."""
    push_all(url, groups)
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(interval):
            with contextlib.suppress(OSError):
                push_all(url, groups)

    thread = threading.Thread(target=loop, name="live-reporter", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


@pytest.fixture
def run_id() -> str:
    return uuid.uuid4().hex[:8]


def flink_job(base: str) -> str:
    """A job name as Flink's reporter makes it: <jobName> + AbstractID (32 lowercase hex)."""
    return base + uuid.uuid4().hex


def tricky_groups(base: str) -> list[dict[str, str]]:
    return [
        {"job": flink_job(base)},  # a JobManager as Flink pushes it
        {"job": flink_job(base), "path": "/var/tmp/a b"},  # '/' and space
        {"job": flink_job(base), "empty": ""},  # empty value, last in the path
        {"job": flink_job(base), "a": "", "b": "after"},  # empty value inside the path ('//' would vanish)
        {"job": flink_job(base), "name": "Προμηθεύς", "emoji": "🚀"},  # unicode
        {"job": flink_job(base), "instance": "tm-1", "cluster": "prod", "zone": "eu/west-1", "q": "a?b#c&d=e%f"},
    ]


@pytest.mark.parametrize("pipeline", [1, 4])
def test_grouping_keys_round_trip_and_delete_is_idempotent(pushgateway, run_id, pipeline):
    client = PushgatewayClient(pushgateway.url)
    groups = tricky_groups(f"rt{run_id}-") + [{"job": f"rt/{run_id}", "x": "y"}]  # '/' in the job itself
    before = keys_on(client)
    push_all(pushgateway.url, groups)
    assert keys_on(client) - before == {key(g) for g in groups}  # labels exactly as intended
    assert client.delete_groups(groups, parallelism=3, pipeline=pipeline) == []
    wait_gone(client, groups)
    assert keys_on(client) == before
    assert client.delete_groups(groups) == []  # already gone: fine


def test_many_pipelined_deletes_remove_exactly_their_groups(pushgateway, run_id):
    client = PushgatewayClient(pushgateway.url)
    doomed = [{"job": flink_job(f"many{run_id}"), "instance": f"tm-{i}", "path": f"/p/{i}"} for i in range(150)]
    survivors = [{"job": flink_job(f"many{run_id}"), "instance": f"tm-{i}"} for i in range(5)]
    push_all(pushgateway.url, doomed + survivors)
    before = keys_on(client)
    assert client.delete_groups(doomed, parallelism=4, pipeline=16) == []  # ~38 per connection, 3 windows
    wait_gone(client, doomed)
    assert keys_on(client) == before - {key(g) for g in doomed}


def test_deletes_against_a_dead_gateway_fail_after_bounded_retries(pushgateway, run_id):
    pushgateway.stop()
    slept: list[float] = []
    client = PushgatewayClient(pushgateway.url, retry=RetryPolicy(attempts=3, backoff=0.01), sleep=slept.append)
    groups = [{"job": flink_job(f"dead{run_id}"), "instance": str(i)} for i in range(100)]
    failures = client.delete_groups(groups, parallelism=2, pipeline=8)
    assert sorted(key(f.labels) for f in failures) == sorted(map(key, groups))
    assert all("no success after 3 attempts" in f.error or "not attempted" in f.error for f in failures)
    assert "ConnectionRefusedError" in failures[0].error
    assert len(slept) <= 2 * 2  # per connection: attempts - 1 backoffs, then the rest is abandoned


def test_exactly_the_stale_matching_groups_are_deleted(pushgateway, run_id):
    client = PushgatewayClient(pushgateway.url)
    base = f"flink{run_id}"
    stale = tricky_groups(base)
    kept_by_keep = {"job": flink_job(base), "instance": "tm-keep"}
    kept_by_match = {"job": flink_job(base), "cluster": "dev"}
    other_job = {"job": f"node_exporter_{run_id}"}  # not a Flink reporter group
    other_prefix = {"job": flink_job(f"other{run_id}")}
    old = stale + [kept_by_keep, kept_by_match, other_job, other_prefix]
    before = keys_on(client)
    push_all(pushgateway.url, old)
    wait_until_older_than(client, old, MAX_AGE)
    fresh = [{"job": flink_job(base)}, {"job": flink_job(base), "path": "/fresh"}]  # same prefix, alive
    with live_reporter(pushgateway.url, fresh):
        criteria = Criteria(max_age=MAX_AGE, job_regex=job_pattern(job_prefix=base),
                            matchers=(parse_matcher("cluster!=dev"),),
                            keep=(parse_keep(f"job={kept_by_keep['job']},instance=tm-keep"),), max_share=1.0)
        report = run_cleanup(client, criteria, parallelism=4)

        assert report.failures == [] and report.refused is None
        assert report.deleted == len(stale) == report.stale
        assert sorted(map(key, report.deleted_groups)) == sorted(map(key, stale))
        assert report.kept_by_keep_list == 1
        assert report.kept_fresh == len(fresh)
        assert report.kept_by_filter == report.scanned - len(stale) - 1 - len(fresh)
        wait_gone(client, stale)
        assert keys_on(client) == before | {key(g) for g in old + fresh} - {key(g) for g in stale}


def test_dry_run_cli_reports_and_deletes_nothing(pushgateway, run_id):
    client = PushgatewayClient(pushgateway.url)
    base = f"dry{run_id}"
    stale = tricky_groups(base)
    push_all(pushgateway.url, stale)
    wait_until_older_than(client, stale, MAX_AGE)
    before = keys_on(client)
    out = run_cli("--url", pushgateway.url, "--max-age", f"{MAX_AGE}s", "--job-prefix", base,
                  "--max-share", "1", "--dry-run", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["dry_run"] is True and report["deleted"] == 0 and report["stale"] == len(stale)
    assert sorted(map(key, report["would_delete"])) == sorted(map(key, stale))
    assert keys_on(client) == before  # nothing deleted: the gateway applies deletes in ms, the list is stable


def test_guard_refuses_mass_deletion_until_forced(pushgateway, run_id):
    client = PushgatewayClient(pushgateway.url)
    base = f"guard{run_id}"
    stale = [{"job": flink_job(base), "instance": f"tm-{i}"} for i in range(6)]
    push_all(pushgateway.url, stale)
    wait_until_older_than(client, stale, MAX_AGE)
    fresh = [{"job": flink_job(base)}]  # alive: its reporter keeps pushing
    with live_reporter(pushgateway.url, fresh):
        before = keys_on(client)
        args = ("--url", pushgateway.url, "--max-age", f"{MAX_AGE}s", "--job-prefix", base, "--max-share", "0.01")

        refused = run_cli(*args, "--json")
        assert refused.returncode == 3, refused.stderr
        report = json.loads(refused.stdout)
        assert report["deleted"] == 0 and report["kept_by_guard"] == 6 and "max_share=0.01" in report["refused"]
        assert keys_on(client) == before  # refusal deletes nothing

        forced = run_cli(*args, "--force")
        assert forced.returncode == 0, forced.stderr
        assert "deleted 6" in forced.stdout
        wait_gone(client, stale)
        assert keys_on(client) == before - {key(g) for g in stale}


def test_gateway_down_bounded_retries_then_clear_failure_then_recovers(pushgateway, run_id, tmp_path):
    from tests.fixtures.pushgateway import start_pushgateway

    base = f"down{run_id}"
    stale = [{"job": flink_job(base)}]
    push_all(pushgateway.url, stale)
    pushgateway.stop()
    slept: list[float] = []
    client = PushgatewayClient(pushgateway.url, retry=RetryPolicy(attempts=3, backoff=0.05), sleep=slept.append)
    criteria = Criteria(max_age=MAX_AGE, job_regex=job_pattern(job_prefix=base), max_share=1)
    with pytest.raises(PushgatewayUnavailable) as err:
        run_cleanup(client, criteria)
    message = str(err.value)
    assert pushgateway.url in message and "3 attempts" in message and "Connection" in message
    assert slept == [0.05, 0.1]  # bounded: attempts - 1 backoffs, doubling

    cli = run_cli("--url", pushgateway.url, "--max-age", "1s", "--retries", "2")
    assert cli.returncode == 1 and "no success after 2 attempts" in cli.stderr

    back = start_pushgateway(tmp_path, port=pushgateway.port, name="pushgateway-restarted")
    try:
        client = PushgatewayClient(back.url)
        push_all(back.url, stale)
        wait_until_older_than(client, stale, MAX_AGE)
        report = run_cleanup(client, criteria)
        assert report.ok and report.deleted == 1
        wait_gone(client, stale)
    finally:
        back.stop()


def test_unreachable_url_in_cli_and_bad_arguments_exit_2(pushgateway):
    bad = run_cli("--url", pushgateway.url, "--max-age", "P1M")
    assert bad.returncode == 2 and "--max-age='P1M'" in bad.stderr
    bad = run_cli("--url", "ftp://x", "--max-age", "1h")
    assert bad.returncode == 2 and "url='ftp://x'" in bad.stderr
    bad = run_cli("--url", pushgateway.url, "--max-age", "1h", "--match", "no-operator")
    assert bad.returncode == 2 and "--match='no-operator'" in bad.stderr


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), str(REPO)])}
    return subprocess.run([sys.executable, "-m", "flink_k8s", "pushgateway-cleanup", *args], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=120)


def reporter_groups(url: str) -> dict[str, str]:
    """job label -> 'jobmanager'/'taskmanager' for the groups Flink's reporter pushed (by metric names)."""
    with urllib.request.urlopen(f"{url}/api/v1/metrics", timeout=5) as resp:
        data = json.load(resp)["data"]
    roles = {}
    for entry in data:
        for role in ("jobmanager", "taskmanager"):
            if any(name.startswith(f"flink_{role}_") for name in entry):
                roles[entry["labels"]["job"]] = role
    return roles


@pytest.mark.slow
def test_groups_of_a_dead_flink_taskmanager_are_cleaned_and_the_live_jobmanager_kept(
    pushgateway, flink_cluster_factory, run_id
):
    client = PushgatewayClient(pushgateway.url)
    before = {g.job for g in client.list_groups()}
    cluster = flink_cluster_factory(reporter_url=pushgateway.url, name=f"flink-reporter-{run_id}")

    def both_pushed() -> dict[str, str] | None:
        roles = {job: role for job, role in reporter_groups(pushgateway.url).items() if job not in before}
        return roles if sorted(roles.values()) == ["jobmanager", "taskmanager"] else None

    roles = procs.wait_until(both_pushed, 60, "JobManager and TaskManager groups on the gateway", interval=0.5)
    by_role = {role: job for job, role in roles.items()}
    assert all(job.startswith("flink") and len(job) == len("flink") + 32 for job in roles)  # <jobName><AbstractID>

    cluster.taskmanagers[0].stop()  # the TaskManager dies; deleteOnShutdown=false leaves its group behind
    tm_group = [{"job": by_role["taskmanager"]}]
    max_age = 5.0  # the live JobManager pushes every second
    wait_until_older_than(client, tm_group, max_age)
    report = run_cleanup(client, Criteria(max_age=max_age, job_regex=job_pattern(job_prefix="flink"), max_share=1))

    deleted = {g["job"] for g in report.deleted_groups}
    assert by_role["taskmanager"] in deleted and by_role["jobmanager"] not in deleted
    assert deleted <= before | {by_role["taskmanager"]}  # nothing else of this test's making
    wait_gone(client, tm_group)
    assert by_role["jobmanager"] in {g.job for g in client.list_groups()}
