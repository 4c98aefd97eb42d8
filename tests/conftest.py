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


_STARTED_CONTROL_PLANE = "_flink_k8s_started_control_plane"


def _parallel_controller(config) -> bool:
    """The pytest-xdist controller of a parallel run (`-n N`): it runs no test itself."""
    return bool(getattr(config.option, "numprocesses", None)) and not hasattr(config, "workerinput")


def pytest_configure(config):
    """With `-n N`, start the control plane once, before the workers: each worker's `kube_cluster` fixture then
    finds it running and leaves it up (workers racing to start or stop one control plane would break each
    other). Stopped again at the end if this run started it."""
    if not _parallel_controller(config):
        return
    from tests.kube import controlplane

    if not controlplane.running():
        controlplane.up(say=lambda line: print(line, flush=True))
        setattr(config, _STARTED_CONTROL_PLANE, True)


def pytest_unconfigure(config):
    if getattr(config, _STARTED_CONTROL_PLANE, False):
        from tests.kube import controlplane

        controlplane.down(say=lambda line: None)
