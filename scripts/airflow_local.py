"""`make airflow-up` / `make airflow-down` / `make airflow-status`: Airflow as docker-compose.yaml deploys it,
as local processes (tests/fixtures/airflow_deployment.py): PostgreSQL, api-server, scheduler, dag-processor,
triggerer, LocalExecutor, on this checkout's dags/ and plugins/ and the local Kubernetes cluster.

State in `.airflow-local/`: `api-url`, `admin-credentials` (user:password), `logs/`, `home/` (AIRFLOW_HOME),
`postgres/` (the database). Environment: FLINK_K8S_CATALOGUE (default include/flink_jobs.yaml), FLINK_HOME
(default .flink/flink-1.15.2, the catalogue's version), AIRFLOW_LOCAL_KUBECONFIG + AIRFLOW_LOCAL_NAMESPACE
(default: `make kube-up`'s flink/flink-airflow kubeconfig, namespace flink), PUSHGATEWAY_CONN_URI
(default http://10.244.0.1:9091), AIRFLOW_LOCAL_PORT (default 8080 if free; 0: any free port), AIRFLOW_LOCAL_STATE (default .airflow-local).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "plugins")]

from tests.fixtures.airflow_deployment import AirflowDeployment, running_pids, stop_deployment  # noqa: E402
from tests.fixtures.paths import CATALOGUE, FLINK_115, REPO  # noqa: E402

STATE = Path(os.environ.get("AIRFLOW_LOCAL_STATE") or REPO / ".airflow-local")


def _deployment() -> AirflowDeployment:
    from scripts.demo_stack import port_free
    from tests.kube import controlplane

    kubeconfig = Path(os.environ.get("AIRFLOW_LOCAL_KUBECONFIG") or controlplane.cluster().airflow_kubeconfig)
    if not kubeconfig.exists():
        raise SystemExit(f"{kubeconfig} is missing: run `make kube-up` first (or set AIRFLOW_LOCAL_KUBECONFIG)")
    requested = os.environ.get("AIRFLOW_LOCAL_PORT")
    port = (int(requested) if requested else (8080 if port_free(8080) else 0)) or None  # None: a free port
    return AirflowDeployment(
        state=STATE, kubeconfig=kubeconfig, namespace=os.environ.get("AIRFLOW_LOCAL_NAMESPACE", "flink"),
        catalogue=Path(os.environ.get("FLINK_K8S_CATALOGUE", CATALOGUE)).resolve(),
        pushgateway_url=os.environ.get("PUSHGATEWAY_CONN_URI", "http://10.244.0.1:9091"),
        flink_home=Path(os.environ.get("FLINK_HOME", FLINK_115)), api_port=port)


def main() -> int:
    parser = argparse.ArgumentParser(prog="airflow_local")
    parser.add_argument("action", choices=["up", "down", "status"])
    action = parser.parse_args().action
    if action == "down":
        stopped = stop_deployment(STATE)
        print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
        return 0
    alive = running_pids(STATE)
    if action == "status" or alive:
        if not alive:
            print("the local Airflow is not running (make airflow-up)")
            return 1
        print(f"running: {', '.join(f'{n} (pid {p})' for n, p in sorted(alive.items()))}")
        print(f"API/UI: {(STATE / 'api-url').read_text().strip()}   admin login: {STATE / 'admin-credentials'}")
        return 0
    deployment = _deployment()
    print(f"starting PostgreSQL, airflow db migrate, {', '.join(('api-server', 'scheduler', 'dag-processor', 'triggerer'))}"
          f" (logs: {deployment.log_dir}) ...", flush=True)
    deployment.up()
    print(json.dumps(deployment.health(), indent=1))
    print(f"ready in {deployment.timings['healthy']:.1f} s: {deployment.api_url}  "
          f"(user:password in {STATE / 'admin-credentials'}; `make airflow-down` stops it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
