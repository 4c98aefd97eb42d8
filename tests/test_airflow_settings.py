"""docker-compose.yaml and the local deployment (`make airflow-up`, the tests' deployed Airflow) run with the same
Airflow settings: both read include/airflow/airflow.env, and each sets only the keys on its documented list
(tests/fixtures/airflow_settings.py). These tests fail when the two drift apart.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.fixtures.airflow_settings import (
    COMPOSE_ONLY,
    LOCAL_ONLY,
    SHARED_ENV_FILE,
    local_env,
    read_env_file,
)
from tests.fixtures.paths import REPO
from tests.test_deploy_artifacts import (
    AIRFLOW_SERVICES,
    COMPOSE_FILE,
    _compose_command,
    _compose_env,
    _run_compose,
)


def _local(tmp_path: Path) -> dict[str, str]:
    return local_env(home=tmp_path / "home", db_url="postgresql+psycopg2://airflow:pw@127.0.0.1:1/airflow",
                     api_port=2, ports={"worker_log": 3, "trigger_log": 4, "scheduler_health": 5}, jwt_secret="j",
                     api_secret="a", fernet_key="f", admin_user="admin", passwords_file=tmp_path / "pw.json",
                     kubeconfig=tmp_path / "kubeconfig", namespace="flink", catalogue=tmp_path / "c.yaml",
                     pushgateway_url="http://127.0.0.1:9091")


@pytest.fixture(scope="module")
def resolved_compose(tmp_path_factory) -> dict:
    cmd = _compose_command()
    if cmd is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    home = tmp_path_factory.mktemp("home")
    kubeconfig = home / "config"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    done = _run_compose(cmd, _compose_env(home, KUBECONFIG_PATH=str(kubeconfig)), "config")
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


def test_shared_file_is_plain_and_names_the_executor():
    shared = read_env_file()
    assert shared["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert not set(shared) & set(LOCAL_ONLY), "a per-deployment key in the shared file"
    assert not set(shared) & set(COMPOSE_ONLY), "a per-deployment key in the shared file"


def test_shared_file_refuses_what_compose_would_pass_literally(tmp_path):
    bad = tmp_path / "bad.env"
    bad.write_text('AIRFLOW__CORE__PARALLELISM="4"\n')
    with pytest.raises(ValueError, match="quotes"):
        read_env_file(bad)


def test_compose_reads_the_shared_file_and_sets_only_its_own_keys():
    raw = yaml.safe_load(COMPOSE_FILE.read_text())
    common = raw["x-airflow-common"]
    assert [str((REPO / p).resolve()) for p in common["env_file"]] == [str(SHARED_ENV_FILE)]
    own = set(common["environment"])
    assert not own & set(read_env_file()), f"compose overrides shared settings: {sorted(own & set(read_env_file()))}"
    assert own <= set(COMPOSE_ONLY), f"compose sets keys not on COMPOSE_ONLY: {sorted(own - set(COMPOSE_ONLY))}"


def test_every_compose_airflow_service_runs_with_the_shared_settings(resolved_compose):
    shared = read_env_file()
    for name in AIRFLOW_SERVICES:
        env = {k: str(v) for k, v in resolved_compose["services"][name]["environment"].items()}
        assert {k: env.get(k) for k in shared} == shared, name


def test_local_deployment_equals_compose_except_the_documented_keys(resolved_compose, tmp_path):
    local = _local(tmp_path)
    compose = {k: str(v) for k, v in resolved_compose["services"]["airflow-scheduler"]["environment"].items()}
    compared = (set(compose) - set(COMPOSE_ONLY)) | (set(local) - set(LOCAL_ONLY))
    diverging = {k: (compose.get(k), local.get(k)) for k in sorted(compared) if compose.get(k) != local.get(k)}
    assert not diverging, f"compose vs local (value in compose, value locally): {diverging}"
    assert set(COMPOSE_ONLY) <= set(compose), "compose lost a per-deployment key"
    assert set(LOCAL_ONLY) <= set(local)
