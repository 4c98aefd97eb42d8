"""DAG files: no import errors, the contract DAG ids, and no heavy client libraries at parse time."""

import json
import os
import subprocess
import sys

from tests.fixtures.paths import DAGS, PLUGINS, REPO

CONTRACT_IDS = {"flink_batch__batch-job", "flink_streaming_redeploy", "flink_health_monitor", "pushgateway_cleanup"}

PROBE = r"""
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
heavy = [m for m in ("kubernetes", "kubernetes_asyncio", "requests", "aiohttp") if m in sys.modules]
print(json.dumps({"ids": sorted(bag.dag_ids), "errors": {k: str(v) for k, v in bag.import_errors.items()},
                  "heavy": heavy}))
"""


def _parse(tmp_path, catalogue=None):
    env = dict(os.environ, AIRFLOW_HOME=str(tmp_path), AIRFLOW__CORE__LOAD_EXAMPLES="False",
               AIRFLOW__CORE__DAGS_FOLDER=str(DAGS), PYTHONPATH=f"{PLUGINS}:{REPO}")
    if catalogue:
        env["FLINK_K8S_CATALOGUE"] = str(catalogue)
    out = subprocess.run([sys.executable, "-c", PROBE, str(DAGS)], env=env, capture_output=True, text=True,
                         timeout=180, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_shipped_catalogue_dags_parse_with_contract_ids_and_no_heavy_imports(tmp_path):
    result = _parse(tmp_path)
    assert result["errors"] == {}
    assert CONTRACT_IDS <= set(result["ids"])
    assert result["heavy"] == [], f"DAG parsing imported {result['heavy']}"


def test_one_batch_dag_per_batch_job(tmp_path):
    catalogue = tmp_path / "jobs.yaml"
    catalogue.write_text(
        "defaults:\n  flink_version: '2.3'\n  image: 'img:{release}'\n"
        "jobs:\n"
        "  nightly-a:\n    kind: batch\n    jar_uri: local:///opt/flink/usrlib/a.jar\n    schedule: '@daily'\n"
        "  nightly-b:\n    kind: batch\n    jar_uri: local:///opt/flink/usrlib/b.jar\n"
        "  stream-c:\n    kind: streaming\n    upgrade_mode: stateless\n    jar_uri: local:///opt/flink/usrlib/c.jar\n")
    result = _parse(tmp_path, catalogue)
    assert result["errors"] == {}
    batch = {i for i in result["ids"] if i.startswith("flink_batch__")}
    assert batch == {"flink_batch__nightly-a", "flink_batch__nightly-b"}
