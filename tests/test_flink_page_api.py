"""The Flink page's HTTP API in a real `airflow api-server` with the plugin, on the real local Kubernetes cluster.

One server for the module: its catalogue has a streaming job in a namespace of the local control plane (read as
the least-privilege `flink-airflow` service account; no Flink cluster runs there, so it is MISSING), a streaming
job behind a connection whose API server is down, and a batch job. Checked: anonymous and forged callers are
refused (401/403 as JSON, not the UI's index page), any signed-in user may read, the JSON has the documented
shape, the down cluster is an error row while the others are still reported, the HTML page and the redeploy
form render, and no secret of the connections appears anywhere.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import jsonschema
import pytest

from tests.fixtures.airflow_server import start_server
from tests.fixtures.k8s import airflow_kubernetes_conn_env, create_namespace, delete_namespace

DOWN_TOKEN = "down-cluster-token-" + uuid.uuid4().hex  # must never be shown

ROW_SCHEMA = {
    "type": "object",
    "required": ["name", "kind", "cluster_id", "namespace", "flink_version", "kubernetes_conn_id", "live", "image",
                 "health", "checkpoint", "savepoints", "last_redeploy", "flink_ui_url", "error"],
    "properties": {
        "name": {"type": "string"}, "kind": {"enum": ["batch", "streaming"]},
        "cluster_id": {"type": "string"}, "namespace": {"type": "string"}, "flink_version": {"type": "string"},
        "live": {"type": "object", "required": ["state", "job_id", "jobmanager", "pods"],
                 "properties": {"state": {"type": "string"}, "job_id": {"type": ["string", "null"]}}},
        "image": {"type": "object", "required": ["catalogue", "running", "release", "matches_catalogue"],
                  "properties": {"matches_catalogue": {"type": ["boolean", "null"]}}},
        "health": {"type": "object", "required": ["verdict", "reasons", "figures"],
                   "properties": {"verdict": {"enum": ["HEALTHY", "DEGRADED", "UNHEALTHY", "MISSING", None]},
                                  "reasons": {"type": "array", "items": {
                                      "type": "object", "required": ["severity", "code", "message"]}},
                                  "figures": {"type": "array", "items": {
                                      "type": "object", "required": ["key", "value", "limit", "unit", "text"]}}}},
        "checkpoint": {"type": "object", "required": ["id", "completed_at", "age_s"]},
        "savepoints": {"type": "array", "items": {"type": "object", "required": ["path", "recorded_at", "source"]}},
        "last_redeploy": {"type": ["object", "null"]},
        "flink_ui_url": {"type": ["string", "null"]},
        "error": {"type": ["string", "null"]},
    },
}
DOC_SCHEMA = {"type": "object", "required": ["generated_at", "timeout_s", "count", "jobs"],
              "properties": {"jobs": {"type": "array", "items": ROW_SCHEMA}, "count": {"type": "integer"}}}


@pytest.fixture(scope="module")
def page(kube_cluster, tmp_path_factory):
    work = tmp_path_factory.mktemp("flink-page")
    namespace = f"t-{uuid.uuid4().hex[:8]}"
    kubeconfig = create_namespace(kube_cluster, namespace, work)
    down = work / "down.kubeconfig"
    down.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "down", "cluster": {"server": "https://127.0.0.1:9"}}],
        "users": [{"name": "u", "user": {"token": DOWN_TOKEN}}],
        "contexts": [{"name": "c", "context": {"cluster": "down", "user": "u", "namespace": "flink"}}]}))
    catalogue = work / "flink_jobs.yaml"
    catalogue.write_text(f"""
defaults:
  flink_version: "2.3"
  namespace: {namespace}
  image: "flink-test:{{release}}"
jobs:
  live:
    kind: streaming
    upgrade_mode: stateless
    cluster_id: live-{namespace[-6:]}
    jar_uri: local:///opt/flink/usrlib/s.jar
  faraway:
    kind: streaming
    upgrade_mode: stateless
    namespace: flink
    kubernetes_conn_id: kube_down
    jar_uri: local:///opt/flink/usrlib/s.jar
  nightly:
    kind: batch
    schedule: "@daily"
    jar_uri: local:///opt/flink/usrlib/b.jar
""")
    env = {"FLINK_K8S_CATALOGUE": str(catalogue), "FLINK_K8S_UI_TIMEOUT": "2",
           **airflow_kubernetes_conn_env(kubeconfig, namespace),
           "AIRFLOW_CONN_KUBE_DOWN": json.dumps({"conn_type": "kubernetes",
                                                 "extra": {"kube_config_path": str(down), "namespace": "flink"}})}
    server = start_server(work / "airflow", env)
    try:
        yield {"server": server, "namespace": namespace, "cluster": kube_cluster, "kubeconfig": kubeconfig,
               "token": server.token("admin"), "work": work}
    finally:
        server.stop()
        delete_namespace(kube_cluster, namespace)


def _json(server, path, token):
    status, headers, body = server.get(path, token)
    assert status == 200, (status, body[:500])
    assert headers.get("content-type", "").startswith("application/json"), headers
    return json.loads(body)


@pytest.mark.parametrize("path", ["/flink/api/jobs", "/flink/", "/flink/redeploy/live"])
def test_anonymous_and_forged_callers_are_refused(page, path):
    server = page["server"]
    status, headers, body = server.get(path)
    assert status in (401, 403), (status, body[:300])
    assert headers.get("content-type", "").startswith("application/json")  # the plugin, not the UI's index.html
    forged = page["token"][:-4] + ("AAAA" if not page["token"].endswith("AAAA") else "BBBB")
    status, _, body = server.get(path, forged)
    assert status in (401, 403), (status, body[:300])
    status, headers, body = server.get(path, headers={"Accept": "text/html"})  # a browser
    assert status in (401, 403) and b"<table" not in body and b"jobs" not in body.lower().replace(b"flink jobs", b"")
    if not path.endswith("/api/jobs"):
        assert b"Sign in" in body


def test_a_signed_in_viewer_may_read_and_the_ui_cookie_works(page):
    server = page["server"]
    assert _json(server, "/flink/api/jobs", server.token("viewer"))["count"] == 3
    status, _, body = server.get("/flink/api/jobs", headers={"Cookie": f"_token={page['token']}"})
    assert status == 200 and json.loads(body)["count"] == 3


def test_json_shape_and_a_down_cluster_is_one_error_row(page):
    started = time.monotonic()
    doc = _json(page["server"], "/flink/api/jobs", page["token"])
    elapsed = time.monotonic() - started
    jsonschema.validate(doc, DOC_SCHEMA)
    rows = {r["name"]: r for r in doc["jobs"]}
    assert list(rows) == ["faraway", "live", "nightly"]  # streaming first, then batch, by name

    faraway = rows["faraway"]
    assert faraway["live"]["state"] == "UNKNOWN" and faraway["health"]["verdict"] == "UNHEALTHY"
    assert faraway["health"]["reasons"][0]["code"] == "observation_failed"
    assert "kube_down" in faraway["error"] and "could not be read" in faraway["error"]

    live = rows["live"]  # read from the real API server as flink-airflow: no cluster there yet
    assert (live["namespace"], live["error"], live["live"]["state"]) == (page["namespace"], None, "NO CLUSTER")
    assert live["health"]["verdict"] == "MISSING" and live["health"]["reasons"][0]["code"] == "cluster_missing"
    assert live["image"] == {"catalogue": "flink-test:{release}", "running": None, "release": None,
                             "matches_catalogue": None}
    assert live["flink_version"] == "2.3" and live["kubernetes_conn_id"] == "kubernetes_default"

    nightly = rows["nightly"]
    assert (nightly["kind"], nightly["live"]["state"], nightly["health"]["verdict"]) == ("batch", "PER RUN", None)
    assert elapsed < 2 * 2 + 5, f"one down cluster held the page for {elapsed:.1f}s"


def test_savepoint_history_from_the_redeploy_configmap(page):
    from kubernetes import client, config

    api = config.new_client_from_config(str(page["cluster"].admin_kubeconfig))
    cluster_id = f"live-{page['namespace'][-6:]}"
    try:
        client.CoreV1Api(api).create_namespaced_config_map(page["namespace"], client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name=f"flink-k8s-airflow-{cluster_id}",
                                         labels={"app.kubernetes.io/managed-by": "flink-k8s-airflow"}),
            data={"savepoints": json.dumps([["hdfs://nn/sp/savepoint-1", "2026-12-01T10:00:00+00:00"],
                                            ["hdfs://nn/sp/savepoint-2", "2026-12-02T10:00:00+00:00"]])}))
        rows = {r["name"]: r for r in _json(page["server"], "/flink/api/jobs", page["token"])["jobs"]}
        assert [(s["path"], s["source"]) for s in rows["live"]["savepoints"]] == [
            ("hdfs://nn/sp/savepoint-2", "redeploy"), ("hdfs://nn/sp/savepoint-1", "redeploy")]
    finally:
        client.CoreV1Api(api).delete_namespaced_config_map(f"flink-k8s-airflow-{cluster_id}", page["namespace"])
        api.close()


def test_html_page_and_redeploy_form(page):
    server = page["server"]
    status, headers, body = server.get("/flink/", page["token"])
    text = body.decode()
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert '<meta http-equiv="refresh" content="5">' in text
    for job, verdict in (("faraway", "UNHEALTHY"), ("live", "MISSING"), ("nightly", "")):
        assert f'data-job="{job}" data-verdict="{verdict}"' in text
    assert text.count('class="button redeploy"') == 2  # streaming jobs only
    assert 'href="redeploy/live"' in text and "flink_batch__nightly" in text

    status, _, body = server.get("/flink/redeploy/live", page["token"])
    form = body.decode()
    assert status == 200
    for words in ("What to deploy", "How to carry state", "Safety switches", "New release",
                  "Allow state loss (dangerous)", "catalogue default (stateless)", "Running now: release"):
        assert words in form, words
    assert '<option value="live" selected>' in form
    status, _, _ = server.get("/flink/redeploy/nightly", page["token"])
    assert status == 404


def test_no_secret_is_shown(page):
    server = page["server"]
    token_in_kubeconfig = next(line.split(":", 1)[1].strip() for line in page["kubeconfig"].read_text().splitlines()
                               if line.strip().startswith("token:"))
    bodies = [server.get(p, page["token"])[2] for p in ("/flink/api/jobs", "/flink/", "/flink/redeploy/live",
                                                        "/api/v2/plugins")]
    for body in bodies:
        for secret in (DOWN_TOKEN, token_in_kubeconfig, page["token"]):
            assert secret.encode() not in body
        assert b"kube_config_path" not in body and str(page["kubeconfig"]).encode() not in body


def test_plugin_registered_with_a_nav_entry(page):
    plugins = _json(page["server"], "/api/v2/plugins", page["token"])["plugins"]
    ours = next(p for p in plugins if p["name"] == "flink_k8s")
    assert ours["fastapi_apps"] == [{"app": "flink_k8s_plugin.LazyFlinkApp", "url_prefix": "/flink",
                                     "name": "Flink jobs"}]
    view = ours["external_views"][0]
    assert (view["name"], view["href"], view["destination"], view["url_route"]) == ("Flink", "/flink/", "nav", "flink")
    status, headers, _ = page["server"].get("/flink/static/flink.svg")
    assert status == 200 and headers["content-type"].startswith("image/svg")
    assert Path(page["server"].home, "plugins", "flink_k8s_plugin.py").is_symlink()


PROBE = r"""
import json, sys, time
t0 = time.perf_counter()
import flink_k8s_plugin
elapsed = time.perf_counter() - t0
heavy = [m for m in ("kubernetes", "requests", "fastapi", "flink_k8s", "flink_k8s.ui.app") if m in sys.modules]
print(json.dumps({"heavy": heavy, "seconds": elapsed, "plugin": flink_k8s_plugin.FlinkK8sPlugin.name}))
"""


def test_plugin_module_imports_nothing_heavy(tmp_path):
    """Every Airflow component (each task process too) imports the plugin module: it must stay thin."""
    import os
    import subprocess
    import sys

    from tests.fixtures.paths import PLUGINS, REPO

    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(AIRFLOW_HOME=str(tmp_path), PYTHONPATH=f"{PLUGINS}:{REPO}", AIRFLOW__CORE__LOAD_EXAMPLES="False")
    warm = subprocess.run([sys.executable, "-c", "import airflow.plugins_manager"], env=env, timeout=180, check=True)
    assert warm.returncode == 0
    out = subprocess.run([sys.executable, "-c", "import airflow.plugins_manager\n" + PROBE], env=env,
                         capture_output=True, text=True, timeout=180, check=True)
    probe = json.loads(out.stdout.strip().splitlines()[-1])
    assert probe["plugin"] == "flink_k8s" and probe["heavy"] == [], probe
    assert probe["seconds"] < 0.05, probe
