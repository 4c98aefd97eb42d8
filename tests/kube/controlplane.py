"""The local Kubernetes control plane: real etcd, kube-apiserver, kube-controller-manager, kube-scheduler.

Why: everything Kubernetes-facing (Flink's HA leader election, owner-reference garbage collection, RBAC,
the service proxy, NodePort) must be proven against the real API server, not an emulation. The components
are the upstream Go programs, linked into one binary by `tools/kube-local` (built once per machine and
cached outside the checkout, keyed by the module's sources). Only the kubelet is ours (`kubelet.py`):
there is no container runtime here, so pods run as local processes, each in its own network namespace on
the bridge `klbr0` (10.244.0.1/16 on the host side).

`up()` is idempotent (a running, ready control plane is reused) and `down()` stops every process it
started, removes the pod network namespaces and the bridge, and frees every port. State lives in
`.kube-local/` of the checkout (gitignored): certificates, kubeconfigs, etcd data, logs, pid files.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
TOOL_DIR = REPO / "tools" / "kube-local"
STATE = Path(os.environ.get("KUBE_LOCAL_DIR", REPO / ".kube-local"))
CACHE = Path(os.environ.get("KUBE_LOCAL_CACHE", Path.home() / ".cache" / "flink-k8s-airflow" / "kube-local"))
KUBE_VERSION = "v1.37.2"
NODE_NAME = "kube-local-node"
BRIDGE = "klbr0"
NODE_IP = "10.244.0.1"
POD_PREFIX = 16
SERVICE_CIDR = "10.96.0.0/12"
SERVICE_IP = "10.96.0.1"  # the `kubernetes` Service's ClusterIP (first of SERVICE_CIDR)
# The components in start order; `down()` stops them in reverse (etcd last: an apiserver without it
# takes ~25 s to exit).
COMPONENTS = ("etcd", "apiserver", "controller-manager", "scheduler", "kubelet")

Say = Callable[[str], None]
# The API server's audit log records every request made as a service account (what Airflow and Flink's
# pods did, with the status code); components and the admin are left out to keep it small.
AUDIT_POLICY = """apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
    userGroups: ["system:serviceaccounts"]
  - level: None
"""


class ControlPlaneError(RuntimeError):
    """A prerequisite is missing or a component did not start; the message says which and what to do."""


@dataclass(frozen=True)
class Ports:
    etcd_client: int
    etcd_peer: int
    apiserver: int
    kubelet: int  # the local kubelet's HTTPS port on NODE_IP (pod logs through the API server)


@dataclass(frozen=True)
class Cluster:
    """Where a started control plane is, for clients: the API URL and the kubeconfigs."""
    state: Path
    ports: Ports

    @property
    def server(self) -> str:
        return f"https://{NODE_IP}:{self.ports.apiserver}"

    @property
    def pki(self) -> Path:
        return self.state / "pki"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.state / "admin.kubeconfig"

    @property
    def airflow_kubeconfig(self) -> Path:
        return self.state / "airflow.kubeconfig"

    @property
    def audit_log(self) -> Path:
        """JSON lines, one per request of a service account (see AUDIT_POLICY): who did what, and the answer."""
        return self.state / "logs" / "audit.log"

    @property
    def node_kubeconfig(self) -> Path:
        return self.state / "node.kubeconfig"

    @property
    def proxy_kubeconfig(self) -> Path:
        return self.state / "kube-proxy.kubeconfig"

    def kubectl(self, *args: str, kubeconfig: Path | None = None, check: bool = True,
                input_text: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run the matching kubectl (argv, never a shell)."""
        argv = [str(binary_path()), "kubectl", "--kubeconfig", str(kubeconfig or self.admin_kubeconfig), *args]
        done = subprocess.run(argv, capture_output=True, text=True, input=input_text, timeout=timeout)
        if check and done.returncode != 0:
            raise ControlPlaneError(f"kubectl {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
        return done


# ---- the binary ----------------------------------------------------------------------------------------

def _source_key() -> str:
    digest = hashlib.sha256(KUBE_VERSION.encode())
    for path in sorted(TOOL_DIR.glob("*")):
        if path.suffix in (".go", ".mod", ".sum"):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def binary_path() -> Path:
    """The cached binary for the current sources (it may not be built yet)."""
    return CACHE / _source_key() / "kube-local"


def _ldflags() -> str:
    major, minor = KUBE_VERSION.lstrip("v").split(".")[:2]
    stamps = []
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        stamps += [f"-X {pkg}.gitVersion={KUBE_VERSION}", f"-X {pkg}.gitMajor={major}",
                   f"-X {pkg}.gitMinor={minor}", f"-X {pkg}.gitTreeState=clean"]
    return " ".join(["-s", "-w", *stamps])


def ensure_binary(say: Say = print) -> Path:
    """Build `tools/kube-local` unless the cache has it (cold: minutes; a cached one: nothing to do)."""
    target = binary_path()
    if target.exists():
        return target
    go = shutil.which("go")
    if go is None:
        raise ControlPlaneError("`go` is not on PATH: install Go >= 1.26 to build the local Kubernetes "
                                "control plane (tools/kube-local)")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"kube-local.{os.getpid()}.tmp")
    log_path = target.with_name("build.log")
    say(f"building the Kubernetes control plane {KUBE_VERSION} (tools/kube-local) into {target.parent}; "
        "the first build downloads the Go modules and takes several minutes on 2 cores ...")
    env = {**os.environ, "GOFLAGS": "-mod=mod", "CGO_ENABLED": os.environ.get("CGO_ENABLED", "0")}
    t0 = time.monotonic()
    with open(log_path, "w") as log:
        proc = subprocess.Popen([go, "build", "-trimpath", "-ldflags", _ldflags(), "-o", str(tmp), "."],
                                cwd=TOOL_DIR, stdout=log, stderr=subprocess.STDOUT, env=env)
        next_note = t0 + 30
        while proc.poll() is None:
            time.sleep(1)
            if time.monotonic() >= next_note:
                say(f"  ... still building ({time.monotonic() - t0:.0f} s)")
                next_note += 30
    if proc.returncode != 0:
        raise ControlPlaneError(f"building tools/kube-local failed ({proc.returncode}); "
                                f"last lines of {log_path}:\n{log_path.read_text()[-3000:]}")
    tmp.rename(target)
    say(f"built {target} in {time.monotonic() - t0:.0f} s")
    return target


# ---- processes -----------------------------------------------------------------------------------------

def _pid_file(name: str) -> Path:
    return STATE / "run" / f"{name}.pid"


_CHILDREN: dict[str, subprocess.Popen[bytes]] = {}  # started by this process (its pid file may predate exec)


def _alive(name: str) -> int | None:
    """The pid of our running component `name`, or None (a recycled pid of another program is not ours)."""
    child = _CHILDREN.get(name)
    if child is not None:
        return child.pid if child.poll() is None else None
    try:
        pid = int(_pid_file(name).read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except (OSError, ValueError):
        return None
    marker = "tests.kube.kubelet" if name == "kubelet" else "kube-local"
    return pid if marker in cmdline and "<defunct>" not in cmdline else None


def _spawn(name: str, argv: list[str], env: dict[str, str] | None = None) -> int:
    (STATE / "logs").mkdir(parents=True, exist_ok=True)
    (STATE / "run").mkdir(parents=True, exist_ok=True)
    with open(STATE / "logs" / f"{name}.log", "ab") as log:
        popen = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 cwd=REPO, env={**os.environ, **(env or {})}, start_new_session=True)
    _pid_file(name).write_text(str(popen.pid))
    _CHILDREN[name] = popen
    return popen.pid


def _stop(name: str, grace: float) -> None:
    pid = _alive(name)
    if pid is not None:
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
                try:  # reap it if it is our child (kube-up and kube-down in one process: the tests)
                    if os.waitpid(pid, os.WNOHANG)[0] == pid:
                        break
                except ChildProcessError:
                    pass
                time.sleep(0.1)
            if not Path(f"/proc/{pid}").exists():
                break
    _pid_file(name).unlink(missing_ok=True)
    child = _CHILDREN.pop(name, None)
    if child is not None:
        child.poll()


def _log_tail(name: str, chars: int = 3000) -> str:
    try:
        return (STATE / "logs" / f"{name}.log").read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def _port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ports() -> Ports:
    """Ports chosen once (free at the time) and kept in `.kube-local/ports.json`."""
    path = STATE / "ports.json"
    if path.exists():
        return Ports(**json.loads(path.read_text()))
    ports = Ports(etcd_client=_free_port(), etcd_peer=_free_port(), apiserver=_free_port(), kubelet=_free_port())
    STATE.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(ports.__dict__))
    return ports


# ---- the pod network -----------------------------------------------------------------------------------

def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and done.returncode != 0:
        raise ControlPlaneError(f"ip {' '.join(args)} failed: {done.stderr.strip()}")
    return done


def ensure_bridge() -> None:
    """The host side of the pod network: bridge klbr0 with NODE_IP (idempotent)."""
    if _ip("link", "show", BRIDGE, check=False).returncode != 0:
        _ip("link", "add", BRIDGE, "type", "bridge")
    if f"{NODE_IP}/" not in _ip("-o", "addr", "show", "dev", BRIDGE).stdout:
        _ip("addr", "add", f"{NODE_IP}/{POD_PREFIX}", "dev", BRIDGE)
    _ip("link", "set", BRIDGE, "up")


def remove_pod_network() -> None:
    """Every pod network namespace (`kl-*`) and the bridge."""
    names = [line.split()[0] for line in _ip("netns", "list", check=False).stdout.splitlines() if line.strip()]
    for name in names:
        if name.startswith("kl-"):
            _ip("netns", "del", name, check=False)
            shutil.rmtree(Path("/etc/netns") / name, ignore_errors=True)
    if _ip("link", "show", BRIDGE, check=False).returncode == 0:
        _ip("link", "del", BRIDGE, check=False)


# ---- configuration -------------------------------------------------------------------------------------

def _kubeconfig(cluster: Cluster, user: dict[str, str], namespace: str = "default",
                name: str = "kube-local") -> dict:
    return {"apiVersion": "v1", "kind": "Config", "current-context": name, "preferences": {},
            "clusters": [{"name": "kube-local", "cluster": {
                "server": cluster.server, "certificate-authority": str(cluster.pki / "ca.crt")}}],
            "users": [{"name": name, "user": user}],
            "contexts": [{"name": name, "context": {"cluster": "kube-local", "user": name,
                                                    "namespace": namespace}}]}


def _cert_user(cluster: Cluster, stem: str) -> dict[str, str]:
    return {"client-certificate": str(cluster.pki / f"{stem}.crt"), "client-key": str(cluster.pki / f"{stem}.key")}


def write_kubeconfig(path: Path, content: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(content, sort_keys=False))
    os.chmod(tmp, 0o600)
    tmp.rename(path)
    return path


def token_kubeconfig(cluster: Cluster, path: Path, token: str, namespace: str, name: str) -> Path:
    """A kubeconfig that authenticates with a service-account token (from the TokenRequest API)."""
    return write_kubeconfig(path, _kubeconfig(cluster, {"token": token}, namespace, name))


def request_token(cluster: Cluster, namespace: str, service_account: str, duration: str = "48h") -> str:
    return cluster.kubectl("create", "token", service_account, "-n", namespace,
                           f"--duration={duration}").stdout.strip()


def _ssl_context(cluster: Cluster) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(cluster.pki / "ca.crt"))
    ctx.load_cert_chain(str(cluster.pki / "admin.crt"), str(cluster.pki / "admin.key"))
    return ctx


def api_get(cluster: Cluster, path: str, timeout: float = 5) -> tuple[int, str]:
    """GET on the API server as the admin (for readiness checks)."""
    try:
        with urllib.request.urlopen(cluster.server + path, timeout=timeout,
                                    context=_ssl_context(cluster)) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def _ready(cluster: Cluster) -> bool:
    try:
        return api_get(cluster, "/readyz", timeout=2)[0] == 200
    except OSError:
        return False


def _wait(what: str, predicate: Callable[[], object], timeout: float, component: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if _alive(component) is None:
            raise ControlPlaneError(f"{component} exited while waiting for {what}; "
                                    f"log tail ({STATE / 'logs' / component}.log):\n{_log_tail(component)}")
        if time.monotonic() > deadline:
            raise ControlPlaneError(f"timed out after {timeout:.0f} s waiting for {what}; "
                                    f"log tail of {component}:\n{_log_tail(component)}")
        time.sleep(0.2)


def _preflight() -> None:
    if os.geteuid() != 0:
        raise ControlPlaneError("the local Kubernetes node needs root (network namespaces, a bridge, mount "
                                "namespaces for service-account tokens): run `make kube-up` / `make test` as root")
    missing = [tool for tool in ("ip", "unshare", "mount") if shutil.which(tool) is None]
    if missing:
        raise ControlPlaneError(f"missing {', '.join(missing)}: apt-get install -y iproute2 util-linux mount")


def cluster() -> Cluster:
    return Cluster(state=STATE, ports=_ports())


def running() -> bool:
    c = cluster()
    return all(_alive(n) for n in COMPONENTS) and _ready(c)


def up(say: Say = print) -> Cluster:
    """Start (or reuse) the control plane and the local kubelet; return where it is."""
    _preflight()
    binary = ensure_binary(say)
    c = cluster()
    link = c.state / "bin" / "kubectl"  # the binary answers as kubectl under that name
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.is_symlink() or os.readlink(link) != str(binary):
        link.unlink(missing_ok=True)
        link.symlink_to(binary)
    if running() and c.airflow_kubeconfig.exists():
        say(f"kube-local already running: {c.server}")
        return c
    t0 = time.monotonic()
    ensure_bridge()
    pki = c.pki
    done = subprocess.run([str(binary), "pki", "--dir", str(pki), "--node", NODE_NAME,
                           "--ip", f"{NODE_IP},127.0.0.1,{SERVICE_IP}",
                           "--dns", "kubernetes,kubernetes.default,kubernetes.default.svc,"
                                    "kubernetes.default.svc.cluster.local,localhost," + NODE_NAME],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise ControlPlaneError(f"kube-local pki failed: {done.stderr.strip()}")
    audit_policy = c.state / "audit-policy.yaml"
    audit_policy.write_text(AUDIT_POLICY)
    p = c.ports
    if _alive("etcd") is None:
        for port in (p.etcd_client, p.etcd_peer):
            if not _port_free(port):
                raise ControlPlaneError(f"port {port} (etcd) is taken by another program; "
                                        f"remove {STATE / 'ports.json'} to choose new ports")
        _spawn("etcd", [str(binary), "etcd", "--data-dir", str(STATE / "etcd"),
                        "--client-port", str(p.etcd_client), "--peer-port", str(p.etcd_peer)])
    _wait("etcd", lambda: not _port_free(p.etcd_client), 60, "etcd")
    if _alive("apiserver") is None:
        _spawn("apiserver", [
            str(binary), "apiserver",
            f"--etcd-servers=http://127.0.0.1:{p.etcd_client}",
            f"--bind-address={NODE_IP}", f"--secure-port={p.apiserver}", f"--advertise-address={NODE_IP}",
            f"--tls-cert-file={pki / 'apiserver.crt'}", f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            "--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}", "--service-node-port-range=30000-32767",
            f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
            f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
            f"--kubelet-certificate-authority={pki / 'ca.crt'}",
            "--kubelet-preferred-address-types=InternalIP",
            f"--audit-policy-file={audit_policy}", f"--audit-log-path={c.audit_log}", "--audit-log-format=json",
            "--audit-log-maxsize=200", "--audit-log-maxbackup=1",
            "--allow-privileged=true", "--profiling=false", "--event-ttl=1h", "--v=0",
        ])
    _wait("the API server's /readyz", lambda: _ready(c), 90, "apiserver")
    write_kubeconfig(c.admin_kubeconfig, _kubeconfig(c, _cert_user(c, "admin")))
    for component, stem in (("controller-manager", "controller-manager"), ("scheduler", "scheduler")):
        write_kubeconfig(c.state / f"{component}.kubeconfig", _kubeconfig(c, _cert_user(c, stem)))
    write_kubeconfig(c.node_kubeconfig, _kubeconfig(c, _cert_user(c, f"node-{NODE_NAME}")))
    write_kubeconfig(c.proxy_kubeconfig, _kubeconfig(c, _cert_user(c, "kube-proxy")))
    cm_conf, sched_conf = c.state / "controller-manager.kubeconfig", c.state / "scheduler.kubeconfig"
    if _alive("controller-manager") is None:
        _spawn("controller-manager", [
            str(binary), "controller-manager", f"--kubeconfig={cm_conf}",
            f"--authentication-kubeconfig={cm_conf}", f"--authorization-kubeconfig={cm_conf}",
            "--controllers=*", "--use-service-account-credentials", "--leader-elect=false",
            f"--service-account-private-key-file={pki / 'sa.key'}", f"--root-ca-file={pki / 'ca.crt'}",
            f"--cluster-signing-cert-file={pki / 'ca.crt'}", f"--cluster-signing-key-file={pki / 'ca.key'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}", "--bind-address=127.0.0.1", "--secure-port=0",
            "--profiling=false", "--v=0",
        ])
    if _alive("scheduler") is None:
        _spawn("scheduler", [
            str(binary), "scheduler", f"--kubeconfig={sched_conf}",
            f"--authentication-kubeconfig={sched_conf}", f"--authorization-kubeconfig={sched_conf}",
            "--leader-elect=false", "--bind-address=127.0.0.1", "--secure-port=0", "--profiling=false", "--v=0",
        ])
    if _alive("kubelet") is None:
        _spawn("kubelet", [sys.executable, "-m", "tests.kube.kubelet", "--state", str(STATE)],
               env={"PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "plugins")]),
                    "PYTHONUNBUFFERED": "1"})
    c.kubectl("apply", "-f", str(REPO / "include" / "k8s"))
    _wait("the ServiceAccount flink/flink-airflow",
          lambda: c.kubectl("get", "serviceaccount", "flink-airflow", "-n", "flink", check=False).returncode == 0,
          30, "apiserver")
    token_kubeconfig(c, c.airflow_kubeconfig, request_token(c, "flink", "flink-airflow"), "flink", "flink-airflow")
    # The controllers work once their informers synced: the serviceaccount controller made `default` and the
    # root-CA publisher `kube-root-ca.crt` in the namespace just created (a test starting earlier would see its
    # first Deployment get no ReplicaSet for a while).
    _wait("the controller-manager to sync (default ServiceAccount and kube-root-ca.crt in namespace flink)",
          lambda: c.kubectl("get", "serviceaccount/default", "configmap/kube-root-ca.crt", "-n", "flink",
                            check=False).returncode == 0, 60, "controller-manager")
    _wait(f"node {NODE_NAME} Ready", lambda: _node_ready(c), 60, "kubelet")
    for component in COMPONENTS:
        if _alive(component) is None:
            raise ControlPlaneError(f"{component} exited during start-up:\n{_log_tail(component)}")
    say(f"kube-local {KUBE_VERSION} ready in {time.monotonic() - t0:.1f} s")
    return c


def _node_ready(c: Cluster) -> bool:
    done = c.kubectl("get", "node", NODE_NAME, "-o",
                     "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}", check=False)
    return done.returncode == 0 and done.stdout.strip() == "True"


def down(say: Say = print, keep_data: bool = False) -> None:
    """Stop everything `up()` started (kubelet first, etcd last), remove the pod network, free the ports."""
    for name in reversed(COMPONENTS):
        _stop(name, grace=30.0 if name == "kubelet" else 15.0)
    if os.geteuid() == 0:
        remove_pod_network()
    if not keep_data:
        shutil.rmtree(STATE / "etcd", ignore_errors=True)
    say("kube-local stopped")


def describe(c: Cluster) -> str:
    kubectl = c.state / "bin" / "kubectl"
    return "\n".join([
        f"API server     {c.server}  (Kubernetes {KUBE_VERSION}; etcd on 127.0.0.1:{c.ports.etcd_client})",
        f"admin          {c.admin_kubeconfig}  (cluster-admin: setup only)",
        f"airflow        {c.airflow_kubeconfig}  (service account flink/flink-airflow, include/k8s/ Roles)",
        f"kubectl        {kubectl} --kubeconfig {c.admin_kubeconfig} get pods -A",
        f"node           {NODE_NAME} at {NODE_IP} (pods: network namespaces kl-*, bridge {BRIDGE})",
        f"logs           {STATE / 'logs'}",
        "stop           make kube-down",
    ])
