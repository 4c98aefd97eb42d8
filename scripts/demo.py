"""`make demo`: the project's real flows on a local stack, through a real `airflow standalone`.

Starts the local Kubernetes cluster (`make kube-up`: real etcd, kube-apiserver, controller-manager and scheduler,
plus the project's local kubelet; the real Flink 2.3.0 CLI deploys into it, and real JobManager/TaskManager
processes run what it deployed, each pod in its own network namespace), a real Pushgateway,
and `airflow standalone` on the repository's DAGs with the demo catalogue (include/demo/flink_jobs.yaml).
Then it triggers, through the Airflow REST API: a batch run, a streaming deployment, a savepoint redeploy
to a new release (state continuity shown), a health-monitor run and a Pushgateway cleanup; prints a
summary, the UI URL and the admin password, and keeps everything running until Ctrl-C (or SIGTERM).

Environment: DEMO_EXIT=1 exits after the summary (non-zero if a flow failed); DEMO_PORT=<port> for the UI
(default 8080, else a free port); DEMO_RUN_TIMEOUT seconds per DAG run (default 900); DEMO_AIRFLOW=deployed runs
Airflow as docker-compose.yaml does (PostgreSQL + api-server, scheduler, dag-processor, triggerer; `make airflow-up`'s
harness, state in .demo/airflow-deployed/) instead of the default `airflow standalone` with SQLite.
State lives in .demo/ (recreated on every start): airflow/ (AIRFLOW_HOME), cluster/ (pods' files, job
output, "hdfs"), logs/ (every process's log), kubeconfig (the flink-demo/flink-airflow service account).
The control plane is left running if it was already up, and stopped at the end if the demo started it.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "plugins")]  # `tests.kube`, `tests.fixtures`, `flink_k8s`

from demo_airflow import AirflowApi  # noqa: E402
from demo_flows import FlowResult, Flows, push_stale_groups  # noqa: E402
from demo_stack import NAMESPACE, DemoError, Stack, preflight  # noqa: E402

PATH_LABEL = "native-Kubernetes path on the local cluster (real control plane + real Flink processes)"


def _terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds into main()'s finally: everything is stopped


def _wants_exit() -> bool:
    return os.environ.get("DEMO_EXIT", "").strip().lower() not in ("", "0", "false", "no")


def print_summary(results: list[FlowResult], stack: Stack, password: str, wall_s: float) -> None:
    print()
    print("=" * 100)
    print(f"flink-k8s-airflow demo — {PATH_LABEL}")
    print("=" * 100)
    for r in results:
        duration = f"{r.duration_s:.0f}s" if r.duration_s is not None else "-"
        print(f"{'OK  ' if r.ok else 'FAIL'} {r.title:<34} {r.state:<8} {duration:>6}   {r.dag_id} {r.run_id}")
        for fact in r.facts:
            print(f"       - {fact}")
    print("-" * 100)
    startup = ", ".join(f"{k} {v:.0f}s" for k, v in stack.timings.items())
    print(f"start-up: {startup}; total so far {wall_s:.0f}s")
    print(f"Airflow UI:  {stack.ui_url}   user: admin   password: {password}")
    print(f"Flink page:  {stack.ui_url}/plugin/flink   (JSON: {stack.ui_url}/flink/api/jobs)")
    print(f"Kubernetes:  {stack.cluster.state / 'bin' / 'kubectl'} --kubeconfig {stack.cluster.admin_kubeconfig} "
          f"get deploy,pods,svc,configmaps -n {NAMESPACE}   (Airflow runs as {stack.kubeconfig})")
    print(f"Job output:  {stack.output_dir}    process logs: {stack.log_dir}")
    print(f"Catalogue:   {stack.catalogue}")
    print("=" * 100)


def main() -> int:
    t0 = time.monotonic()
    signal.signal(signal.SIGTERM, _terminate)
    stack = Stack()
    code = 1
    try:
        print(f"flink-k8s-airflow demo: {PATH_LABEL}", flush=True)
        preflight()
        stack.start()
        stale = push_stale_groups(stack.gateway.url)
        pushed_at = time.time()
        password = stack.admin_password()
        api = AirflowApi(stack.ui_url, "admin", password)
        api.login()
        flows = Flows(api, stack, stale, pushed_at)
        flows.wait_for_dags()
        results = flows.run_all()
        print_summary(results, stack, password, time.monotonic() - t0)
        code = 0 if all(r.ok for r in results) else 1
        if _wants_exit():
            return code
        print("The demo keeps running; press Ctrl-C to stop everything.", flush=True)
        while stack.airflow is not None and stack.airflow.alive():
            time.sleep(1.0)
        print(f"airflow standalone exited; see {stack.airflow.log_path if stack.airflow else stack.log_dir}")
        return 1
    except DemoError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nCtrl-C: stopping", flush=True)
        return code
    except AssertionError as exc:  # procs.wait_until deadlines: name what did not come up
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not abort the clean-up
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("Stopping Airflow, Flink pods, Pushgateway and (if the demo started it) Kubernetes ...", flush=True)
        stack.stop()
        print(f"Stopped everything (demo ran {time.monotonic() - t0:.0f}s).", flush=True)


if __name__ == "__main__":
    sys.exit(main())
