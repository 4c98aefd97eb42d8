"""The Flink page in a real browser: headless Debian Chromium driven by Playwright, against `airflow standalone`
(API server with the plugin, scheduler, DAG processor, triggerer) and a streaming job the real Flink CLI deployed
on the local Kubernetes cluster.

The user's path: sign in, open "Flink" from the navigation, see the streaming job RUNNING and HEALTHY with its
release, click Redeploy, see the form pre-filled with readable labels, set a new release, trigger, watch the run
succeed, and see the page show the new release. Also Airflow's own trigger form of the redeploy DAG, for its
titles and sections. Screenshots go to `$FLINK_PAGE_SCREENSHOTS` (the README's come from `docs/`), else to
the test's temporary folder. No browser is downloaded: Playwright drives `/usr/bin/chromium`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import urllib.request
from pathlib import Path

import pytest

from tests.fixtures import procs
from tests.fixtures.airflow_server import USERS, start_server

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DAG = "flink_streaming_redeploy"
RUN_TIMEOUT = 1200  # a savepoint redeploy on a busy 2-core machine


def _api(server, token, method, path, body=None):
    req = urllib.request.Request(f"{server.url}/api/v2{path}", method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read() or b"null")


def _wait_run(server, token, run_id, timeout):
    def finished():
        state = _api(server, token, "GET", f"/dags/{DAG}/dagRuns/{run_id}")["state"]
        return state if state in ("success", "failed") else None
    return procs.wait_until(finished, timeout, f"redeploy run {run_id}", interval=3.0, procs=[server.process])


@pytest.fixture
def stack(flink_env, k8s_api, tmp_path):
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: apt-get install -y chromium (scripts/system_deps.sh)", pytrace=False)
    env = {"FLINK_K8S_CATALOGUE": os.environ["FLINK_K8S_CATALOGUE"], "FLINK_HOME": os.environ["FLINK_HOME"],
           "FLINK_K8S_HEALTH_SCHEDULE": "none", "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
           **k8s_api.airflow_env()}
    server = start_server(tmp_path / "airflow", env, standalone=True, timeout=600)
    try:
        token = server.token("admin")
        procs.wait_until(lambda: _api(server, token, "GET", f"/dags/{DAG}"), 300, "the redeploy DAG to be parsed",
                         interval=2.0, procs=[server.process])
        _api(server, token, "PATCH", f"/dags/{DAG}", {"is_paused": False})
        first = _api(server, token, "POST", f"/dags/{DAG}/dagRuns",
                     {"logical_date": None, "conf": {"job": "stream", "release": "1"}})["dag_run_id"]
        assert _wait_run(server, token, first, RUN_TIMEOUT) == "success", server.process.log_tail()
        yield {"server": server, "token": token, **flink_env}
    finally:
        server.stop()


def _shots(tmp_path: Path) -> Path:
    target = Path(os.environ.get("FLINK_PAGE_SCREENSHOTS") or tmp_path / "screenshots")
    target.mkdir(parents=True, exist_ok=True)
    return target


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_flink_page_redeploy_in_a_real_browser(stack, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    server = stack["server"]
    shots = _shots(tmp_path)
    profile = tmp_path / "chromium-profile"
    with sync_playwright() as pw:
        # A fresh profile directory (Playwright passes it as --user-data-dir) and exactly the DESIGN §5 flags.
        browser = pw.chromium.launch_persistent_context(str(profile), executable_path=str(CHROMIUM), headless=True,
                                                        args=FLAGS, viewport={"width": 1600, "height": 900})
        try:
            page = browser.pages[0] if browser.pages else browser.new_page()
            page.set_default_timeout(60_000)

            # Sign in through Airflow's own login page.
            page.goto(server.url + "/")
            page.locator("input[name=username]").fill("admin")
            page.locator("input[name=password]").fill(USERS["admin"])
            page.locator("button[type=submit]").click()
            page.wait_for_url(re.compile(r"^(?!.*/auth/login).*$"), timeout=60_000)

            # Open the Flink page from the navigation: Airflow shows it in its frame at /plugin/flink.
            page.get_by_role("link", name="Flink").first.click()
            page.wait_for_url(re.compile(r".*/plugin/flink$"))
            frame = page.frame_locator("iframe").first
            row = frame.locator('tr.job[data-job="stream"]')
            expect(row.locator(".live-state")).to_have_text("RUNNING", timeout=300_000)
            _until_healthy(page, frame, "stream", "1")
            expect(frame.locator('tr.job[data-job="nightly"] .live-state')).to_have_text("PER RUN")
            page.screenshot(path=str(shots / "flink-page.png"))

            # Redeploy: the form opens pre-filled with the job, readable labels, the running release beside.
            row.locator("a.redeploy").click()
            expect(frame.locator("h1")).to_have_text("Redeploy stream")
            expect(frame.locator("#f-job")).to_have_value("stream")
            for words in ("What to deploy", "How to carry state", "Safety switches", "New release",
                          "Upgrade mode", "Allow state loss (dangerous)"):
                expect(frame.get_by_text(words, exact=True).first).to_be_visible()
            expect(frame.locator("#f-upgrade_mode option:checked")).to_have_text("catalogue default (savepoint)")
            expect(frame.locator(".running-release")).to_have_text("1")
            expect(frame.locator("#f-allow_state_loss")).not_to_be_checked()
            frame.locator("#f-release").fill("2")
            page.screenshot(path=str(shots / "flink-redeploy-form.png"))
            frame.locator("#trigger").click()
            expect(frame.locator(".run-state")).to_have_text("success", timeout=RUN_TIMEOUT * 1000)

            # Back on the page: the new release runs, healthy, and the last redeploy is linked.
            frame.get_by_text("← Flink jobs").click()
            _until_healthy(page, frame, "stream", "2")
            expect(row.locator(".last-redeploy a")).to_have_text("success")
            page.screenshot(path=str(shots / "flink-page-after-redeploy.png"))

            # Airflow's own trigger form of the DAG: the same titles, descriptions and sections (one open at a time).
            page.goto(f"{server.url}/dags/{DAG}")
            page.get_by_role("button", name=re.compile("Trigger")).first.click()
            dialog = page.get_by_role("dialog")
            for section, words in (("Safety switches", "Allow state loss (dangerous)"),
                                   ("How to carry state", "catalogue default (savepoint)"),
                                   ("What to deploy", "New release")):
                dialog.get_by_role("button", name=section).click()
                expect(dialog.get_by_text(words).first).to_be_visible()
            expect(dialog.get_by_role("combobox", name="Streaming job")).to_be_visible()
            page.screenshot(path=str(shots / "airflow-trigger-form.png"), clip=dialog.bounding_box())
        finally:
            browser.close()
    shutil.rmtree(profile, ignore_errors=True)


def _until_healthy(page, frame, job: str, release: str, timeout: float = 600) -> None:
    """The page refreshes itself every few seconds; wait until the row shows HEALTHY with `release`."""
    row = frame.locator(f'tr.job[data-job="{job}"]')
    deadline = time.monotonic() + timeout
    while True:
        try:
            verdict = row.get_attribute("data-verdict", timeout=10_000)
            shown = row.locator(".release").inner_text(timeout=10_000)
            if verdict == "HEALTHY" and shown == release:
                return
        except Exception:  # noqa: BLE001 - mid-refresh; the deadline bounds it
            verdict, shown = "?", "?"
        if time.monotonic() > deadline:
            raise AssertionError(f"{job} did not show HEALTHY with release {release} within {timeout:.0f}s "
                                 f"(last: {verdict}, release {shown}):\n{row.inner_text()}")
        page.wait_for_timeout(2000)
