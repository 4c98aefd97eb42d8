"""The demo's local stack: the local Kubernetes cluster (real control plane + our kubelet), a real Pushgateway,
the job jars, and `airflow standalone` configured for them. `Stack.stop()` ends every process it started (also after a
partial start), so a failed or interrupted demo leaves nothing running.

Why these pieces: they are the test suite's own (tests/kube, tests/fixtures), so the demo exercises the
same native-Kubernetes path the tests prove — the real Flink CLI deploys into the real API server, and the
local kubelet runs the JobManager/TaskManager pods Flink asks for, each in its own network namespace.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fixtures import procs
from tests.fixtures.paths import DAGS, FLINK_23, FLINK_115, PLUGINS, REPO

DEMO_DIR = REPO / ".demo"
CATALOGUE = REPO / "include" / "demo" / "flink_jobs.yaml"
NAMESPACE = "flink-demo"
GATEWAY_PORT = 9091  # the port include/demo/flink_jobs.yaml names
JARS = {"Streaming-Job.jar": "streaming", "Batch-Job.jar": "batch", "Failing-Job.jar": "failing"}


class DemoError(RuntimeError):
    """A prerequisite or a start-up step failed; the message says what to do."""


def _fail_exception() -> type[BaseException]:
    import pytest  # the fixtures report missing prerequisites with pytest.fail

    return pytest.fail.Exception


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers bind: TIME_WAIT is no conflict
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def preflight() -> None:
    """Java and the Flink distribution must be there; the Pushgateway is installed when we may."""
    for tool in ("java", "javac", "jar"):
        if shutil.which(tool) is None:
            raise DemoError(f"`{tool}` is not on PATH: install a JDK 17 "
                            "(Debian/Ubuntu: sudo apt-get install -y openjdk-17-jdk-headless)")
    if not (FLINK_23 / "bin" / "flink").exists():
        raise DemoError(f"{FLINK_23} is missing: run `make flink`")
    ensure_pushgateway()


def ensure_pushgateway() -> None:
    from tests.fixtures import pushgateway

    if Path(pushgateway.PUSHGATEWAY_BINARY).exists():
        return
    debian = Path("/etc/debian_version").exists()
    if not (debian and os.geteuid() == 0):
        raise DemoError("prometheus-pushgateway is not installed. Debian/Ubuntu: "
                        "sudo apt-get install -y prometheus-pushgateway; elsewhere put the `pushgateway` "
                        "release binary on PATH as prometheus-pushgateway (https://github.com/prometheus/pushgateway)")
    print("Installing prometheus-pushgateway (apt-get) ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", "prometheus-pushgateway"]
    if subprocess.run(install, env=env).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, check=False)
        if subprocess.run(install, env=env).returncode != 0:
            raise DemoError("apt-get install prometheus-pushgateway failed (see above)")
    pushgateway.PUSHGATEWAY_BINARY = shutil.which("prometheus-pushgateway") or "/usr/bin/prometheus-pushgateway"


@dataclass
class Stack:
    """Everything the demo started; attributes stay None until their piece is up."""
    work: Path = DEMO_DIR
    cluster: Any = None  # tests.kube.controlplane.Cluster
    started_cluster: bool = False  # the demo started the control plane (and so stops it)
    kubelet: Any = None
    gateway: Any = None
    airflow: procs.ManagedProcess | None = None  # standalone, or the deployed api-server (DEMO_AIRFLOW=deployed)
    deployment: Any = None  # tests.fixtures.airflow_deployment.AirflowDeployment when DEMO_AIRFLOW=deployed
    airflow_port: int = 8080
    catalogue: Path = CATALOGUE
    jars: Any = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def airflow_home(self) -> Path:
        return self.work / "airflow"

    @property
    def cluster_dir(self) -> Path:
        return self.work / "cluster"

    @property
    def output_dir(self) -> Path:
        return self.cluster_dir / "output"

    @property
    def kubeconfig(self) -> Path:
        return self.work / "kubeconfig"

    @property
    def log_dir(self) -> Path:
        return self.work / "logs"

    @property
    def ui_url(self) -> str:
        return f"http://localhost:{self.airflow_port}"

    # -- start -------------------------------------------------------------------------------------------

    def start(self) -> None:
        self._fresh_dirs()
        self._timed("jobs compiled", self._build_jars)
        self._timed("Kubernetes control plane + local kubelet", self._start_kubernetes)
        self._timed("Pushgateway", self._start_gateway)
        deployed = os.environ.get("DEMO_AIRFLOW", "standalone") == "deployed"
        self._timed("Airflow deployed: PostgreSQL + 4 components (healthy)" if deployed else
                    "airflow standalone (API up)", self._start_airflow)

    def _timed(self, what: str, fn) -> None:
        t0 = time.monotonic()
        print(f"  starting: {what} ...", flush=True)
        try:
            fn()
        except _fail_exception() as exc:  # a fixture's pytest.fail: a missing prerequisite
            raise DemoError(str(exc)) from None
        self.timings[what] = time.monotonic() - t0

    def _fresh_dirs(self) -> None:
        """Each demo starts from scratch: its namespace is new, so old Airflow state would only confuse."""
        if self.work.exists():
            shutil.rmtree(self.work)
        for d in (self.airflow_home / "plugins", self.cluster_dir / "usrlib", self.log_dir):
            d.mkdir(parents=True)
        for plugin_file in sorted(PLUGINS.glob("*.py")):  # the Flink page (flink_k8s_plugin.py)
            (self.airflow_home / "plugins" / plugin_file.name).symlink_to(plugin_file)

    def _build_jars(self) -> None:
        from tests.fixtures.test_jobs import build_jobs

        self.jars = build_jobs(FLINK_23)

    def _start_kubernetes(self) -> None:
        from tests.fixtures.k8s import create_namespace, delete_namespace
        from tests.kube import controlplane
        from tests.kube.kubelet import LocalKubelet, jar_dir_with

        self.started_cluster = not controlplane.running()
        try:
            self.cluster = controlplane.up(say=lambda line: print(f"    {line}", flush=True))
        except controlplane.ControlPlaneError as exc:
            raise DemoError(str(exc)) from None
        delete_namespace(self.cluster, NAMESPACE)  # a previous demo's, if one was interrupted
        self._wait_namespace_gone()
        create_namespace(self.cluster, NAMESPACE, self.work).rename(self.kubeconfig)
        jar_dir = self.cluster_dir / "usrlib"
        jar_dir_with(jar_dir, {name: getattr(self.jars, attr) for name, attr in JARS.items()})
        self.kubelet = LocalKubelet(self.cluster, work_dir=self.cluster_dir, jar_dir=jar_dir, namespace=NAMESPACE,
                                    flink_homes={"config.yaml": FLINK_23, "flink-conf.yaml": FLINK_115},
                                    interval=1.0).start()  # 1 s resync: lighter on a laptop

    def _wait_namespace_gone(self, timeout: float = 120.0) -> None:
        procs.wait_until(lambda: self.cluster.kubectl("get", "namespace", NAMESPACE, check=False).returncode != 0,
                         timeout, f"namespace {NAMESPACE} of an earlier demo to be deleted", interval=1.0)

    def _start_gateway(self) -> None:
        from tests.fixtures.pushgateway import start_pushgateway
        from tests.kube.controlplane import NODE_IP

        # On the node's address: Flink's pods push to it from their own network namespaces.
        port = GATEWAY_PORT if port_free(GATEWAY_PORT, NODE_IP) else procs.free_port()
        self.gateway = start_pushgateway(self.log_dir, port=port, host=NODE_IP)
        if port != GATEWAY_PORT:  # the catalogue names :9091; run a copy that names the port we got
            self.catalogue = self.work / "flink_jobs.yaml"
            text = CATALOGUE.read_text().replace(f"http://{NODE_IP}:{GATEWAY_PORT}", self.gateway.url)
            self.catalogue.write_text(text)

    def airflow_env(self) -> dict[str, str]:
        """What every Airflow component (and so every task process) must see."""
        home = self.airflow_home
        kube_conn = {"conn_type": "kubernetes",
                     "extra": {"kube_config_path": str(self.kubeconfig), "namespace": NAMESPACE}}
        return {
            "AIRFLOW_HOME": str(home),
            "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",  # `airflow` for standalone
            "PYTHONPATH": str(PLUGINS),  # the flink_k8s package, as Airflow's plugins folder provides it
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
            # Airflow imports every .py under the plugins folder as a module: give it only top-level plugin
            # files (symlinks to plugins/*.py: the Flink page), not the package's __main__.py.
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(home / "plugins"),
            "AIRFLOW__CORE__PARALLELISM": "4",
            # Unpaused on first trigger by the demo: an unpaused scheduled DAG runs at once, and a health
            # check before the streaming job exists would only report MISSING.
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__API__PORT": str(self.airflow_port),
            "AIRFLOW__API__BASE_URL": self.ui_url,
            "AIRFLOW__API__WORKERS": "1",
            # A laptop (or a busy CI box) can be slow to answer the task processes: the 5 s default lets the
            # supervisor kill a healthy task when the API server is busy for a moment.
            "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "30",
            "FLINK_K8S_CATALOGUE": str(self.catalogue),
            "FLINK_HOME": str(FLINK_23),
            "AIRFLOW_CONN_KUBERNETES_DEFAULT": json.dumps(kube_conn),
            "AIRFLOW_CONN_PUSHGATEWAY_DEFAULT": self.gateway.url,
        }

    def _start_airflow(self) -> None:
        if not port_free(self.airflow_port):
            requested = os.environ.get("DEMO_PORT")
            if requested:
                raise DemoError(f"DEMO_PORT={requested}: port is in use; choose another")
            self.airflow_port = procs.free_port()
            print(f"  port 8080 is in use: the Airflow UI will be on {self.airflow_port}", flush=True)
        airflow_bin = Path(sys.executable).parent / "airflow"
        if not airflow_bin.exists():
            raise DemoError(f"{airflow_bin} is missing: run `make install`")
        if os.environ.get("DEMO_AIRFLOW", "standalone") == "deployed":
            self._start_deployed_airflow()
            return
        self.airflow = procs.start("airflow-standalone", [str(airflow_bin), "standalone"], self.log_dir,
                                   env=self.airflow_env(), cwd=REPO)
        procs.wait_until(self._api_up, 300, f"the Airflow API on {self.ui_url}", interval=1.0,
                         procs=[self.airflow])

    def _start_deployed_airflow(self) -> None:
        """`DEMO_AIRFLOW=deployed`: Airflow as docker-compose.yaml runs it (PostgreSQL, api-server, scheduler,
        dag-processor, triggerer; tests/fixtures/airflow_deployment.py) instead of `airflow standalone`."""
        from tests.fixtures.airflow_deployment import AirflowDeployment
        from tests.fixtures.postgres import PostgresError

        self.deployment = AirflowDeployment(state=self.work / "airflow-deployed", kubeconfig=self.kubeconfig,
                                            namespace=NAMESPACE, catalogue=self.catalogue,
                                            pushgateway_url=self.gateway.url, api_port=self.airflow_port)
        try:
            self.deployment.up()
        except PostgresError as exc:
            raise DemoError(str(exc)) from None
        self.airflow = self.deployment.processes["api-server"]

    def admin_password(self) -> str:
        if self.deployment is not None:
            return self.deployment.credentials()[1]
        from demo_airflow import admin_password

        return admin_password(self.airflow_home)

    def _api_up(self) -> bool:
        pw = self.airflow_home / "simple_auth_manager_passwords.json.generated"
        try:
            with urllib.request.urlopen(f"{self.ui_url}/api/v2/monitor/health", timeout=2) as resp:
                return resp.status == 200 and pw.exists()
        except OSError:
            return False

    # -- stop --------------------------------------------------------------------------------------------

    def stop(self) -> None:
        """Airflow first (no new tasks), then the Flink pods (namespace deleted while the kubelet still runs, so
        they stop as on a real node), the gateway, and the control plane if the demo started it."""
        if self.deployment is not None:
            self.deployment.down()
            self.airflow = None
        if self.airflow is not None:
            # Task processes run in their own sessions: the process-group kill misses them. Collect every
            # descendant first (they are re-parented once their supervisor dies) and end them too.
            tasks = descendants(self.airflow.pid)
            self.airflow.stop(grace=20.0)
            terminate_pids(tasks)
        if self.kubelet is not None:
            from tests.fixtures.k8s import delete_namespace

            delete_namespace(self.cluster, NAMESPACE)
            try:
                self._wait_namespace_gone(timeout=60)
            except AssertionError as exc:
                print(f"  {exc}; stopping its processes anyway", flush=True)
            self.kubelet.stop()
        if self.gateway is not None:
            self.gateway.stop()
        if self.cluster is not None and self.started_cluster:
            from tests.kube import controlplane

            controlplane.down(say=lambda line: None)
        procs.stop_all()  # anything else started through procs (all already stopped: idempotent)


def descendants(root: int) -> list[int]:
    """Every process below `root` (children, grandchildren, ...), from /proc; empty where /proc is missing."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rfind(")") + 2:].split()  # after "pid (comm) ": state ppid ...
        children.setdefault(int(fields[1]), []).append(int(text.split(" ", 1)[0]))
    found: list[int] = []
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rfind(")") + 2:].split()[0] != "Z"  # a zombie has ended


def terminate_pids(pids: list[int], grace: float = 10.0) -> None:
    """SIGTERM the processes still running, SIGKILL what is left after `grace` seconds."""
    alive = [p for p in pids if _running(p)]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in alive:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while alive and time.monotonic() < deadline:
            alive = [p for p in alive if _running(p)]
            time.sleep(0.2)
        if not alive:
            return
