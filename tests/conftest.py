"""Shared test configuration: fixture plugins of the real local stack, and process logs on failure."""

from __future__ import annotations

import time

import pytest

from tests.fixtures import procs

pytest_plugins = [
    "tests.fixtures.airflow_env",
    "tests.fixtures.flink_cluster",
    "tests.fixtures.test_jobs",
    "tests.fixtures.pushgateway",
    "tests.fixtures.k8s",
    "tests.fixtures.native_catalogue",
    "tests.fixtures.deployed_airflow",
]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "setup":
        item._t0 = getattr(item, "_t0", time.monotonic())
    if report.failed:
        # Attach logs of the processes that this test (and the fixtures it uses) could have touched.
        for proc in procs.all_processes():
            tail = proc.log_tail()
            if tail:
                report.sections.append((f"process log: {proc.name} (pid {proc.pid})", tail))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    item._t0 = time.monotonic()


def pytest_sessionfinish(session, exitstatus):
    procs.stop_all()
