"""The node side of the local kubelet daemon: the Node object and its Lease, NodePorts, and pod logs.

Why each piece exists:
- Node + Lease: the scheduler binds pods only to a Ready node, the node-lifecycle controller taints and
  evicts from a node whose Lease stops being renewed, and the Flink CLI reads node addresses to find a
  NodePort REST endpoint. Registered as `system:node:<name>` (NodeRestriction lets a node create and
  update only itself and its Lease).
- NodePorts (the kube-proxy role, userspace): `flink list/cancel --target kubernetes-application` and the
  project's `nodeport` REST mode connect to `<node ExternalIP>:<nodePort>`; each NodePort is served on the
  node address and forwarded to a ready endpoint of its Service (EndpointSlices, as kube-proxy reads them,
  with the `system:kube-proxy` identity).
- Pod logs: `kubectl logs` and the project's log tails go API server -> kubelet
  `/containerLogs/<ns>/<pod>/<container>` over HTTPS on the port the Node advertises; served from the
  links every kubelet on this node keeps in `.kube-local/pod-logs/` (as /var/log/pods on a real node).
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tests.kube.controlplane import KUBE_VERSION, NODE_IP, NODE_NAME, Cluster

log = logging.getLogger(__name__)
TIMEOUT = 10
LEASE_SECONDS = 40
# Flink pods request CPU and memory; the processes are not limited here, so the node advertises room
# for many test clusters at once rather than this machine's 2 cores (which would leave pods Pending).
CAPACITY = {"cpu": "64", "memory": "256Gi", "pods": "250", "ephemeral-storage": "100Gi"}
LABELS = {"kubernetes.io/hostname": NODE_NAME, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
          # The seed's node selectors (`task_type:streaming`) must find a node, as on their cluster.
          "task_type": "streaming"}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _micro_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())


class NodeAgent:
    """Registers the node, keeps it Ready, serves NodePorts and pod logs (start/stop it)."""

    def __init__(self, cluster: Cluster, heartbeat: float = 10.0) -> None:
        self.cluster = cluster
        self.heartbeat = heartbeat
        self._node_api = config.new_client_from_config(str(cluster.node_kubeconfig))
        self._proxy_api = config.new_client_from_config(str(cluster.proxy_kubeconfig))
        self.core = client.CoreV1Api(self._node_api)
        self.leases = client.CoordinationV1Api(self._node_api)
        self.proxy_core = client.CoreV1Api(self._proxy_api)
        self.discovery = client.DiscoveryV1Api(self._proxy_api)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._heartbeat_loop, name="node-heartbeat", daemon=True),
                         threading.Thread(target=self._proxy_loop, name="node-proxy", daemon=True)]
        self._listeners: dict[int, NodePortListener] = {}
        self._logs = LogServer(cluster)

    def start(self) -> NodeAgent:
        self.register()
        self._logs.start()
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)
        for listener in self._listeners.values():
            listener.close()
        self._logs.close()

    # ---- Node and Lease --------------------------------------------------------------------------

    def _status(self) -> dict[str, Any]:
        now = _now()
        conditions = [{"type": t, "status": "False", "reason": f"KubeletHasNo{t}", "message": "ok",
                       "lastHeartbeatTime": now, "lastTransitionTime": now}
                      for t in ("MemoryPressure", "DiskPressure", "PIDPressure")]
        conditions.append({"type": "Ready", "status": "True", "reason": "KubeletReady",
                           "message": "kube-local kubelet is posting ready status",
                           "lastHeartbeatTime": now, "lastTransitionTime": now})
        return {
            "capacity": CAPACITY, "allocatable": CAPACITY, "conditions": conditions,
            "addresses": [{"type": "InternalIP", "address": NODE_IP}, {"type": "ExternalIP", "address": NODE_IP},
                          {"type": "Hostname", "address": NODE_NAME}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.cluster.ports.kubelet}},
            "nodeInfo": {"machineID": "kube-local", "systemUUID": "kube-local", "bootID": "kube-local",
                         "kernelVersion": os.uname().release, "osImage": "kube-local",
                         "containerRuntimeVersion": "local-process://1", "kubeletVersion": KUBE_VERSION,
                         "kubeProxyVersion": KUBE_VERSION, "operatingSystem": "linux", "architecture": "amd64"},
        }

    def register(self) -> None:
        try:
            self.core.create_node({"metadata": {"name": NODE_NAME, "labels": LABELS}}, _request_timeout=TIMEOUT)
        except ApiException as exc:
            if exc.status != 409:
                raise
        self.core.patch_node_status(NODE_NAME, {"status": self._status()}, _request_timeout=TIMEOUT)
        self._renew_lease()

    def _renew_lease(self) -> None:
        ns = "kube-node-lease"
        try:
            lease = self.leases.read_namespaced_lease(NODE_NAME, ns, _request_timeout=TIMEOUT)
        except ApiException as exc:
            if exc.status != 404:
                raise
            self.leases.create_namespaced_lease(ns, {"metadata": {"name": NODE_NAME}, "spec": {
                "holderIdentity": NODE_NAME, "leaseDurationSeconds": LEASE_SECONDS,
                "renewTime": _micro_now()}}, _request_timeout=TIMEOUT)
            return
        lease.spec.renew_time = _micro_now()
        lease.spec.holder_identity = NODE_NAME
        self.leases.replace_namespaced_lease(NODE_NAME, ns, lease, _request_timeout=TIMEOUT)

    def _heartbeat_loop(self) -> None:
        last_status = time.monotonic()
        while not self._stop.wait(self.heartbeat):
            try:
                self._renew_lease()
                if time.monotonic() - last_status >= 60:
                    self.core.patch_node_status(NODE_NAME, {"status": self._status()}, _request_timeout=TIMEOUT)
                    last_status = time.monotonic()
            except Exception as exc:  # noqa: BLE001 - the next beat tries again
                log.warning("node heartbeat failed: %s", exc)

    # ---- NodePorts -------------------------------------------------------------------------------

    def _proxy_loop(self) -> None:
        while not self._stop.wait(0.5):
            try:
                self.sync_node_ports()
            except Exception as exc:  # noqa: BLE001 - the next round tries again
                log.warning("node port sync failed: %s", exc)

    def sync_node_ports(self) -> None:
        wanted: dict[int, tuple[str, str, Any]] = {}
        for svc in self.proxy_core.list_service_for_all_namespaces(_request_timeout=TIMEOUT).items:
            if svc.spec.type not in ("NodePort", "LoadBalancer"):
                continue
            for port in svc.spec.ports or []:
                if port.node_port and (port.protocol or "TCP") == "TCP":
                    wanted[port.node_port] = (svc.metadata.namespace, svc.metadata.name, port)
        slices: dict[tuple[str, str], list[Any]] = {}
        for eps in self.discovery.list_endpoint_slice_for_all_namespaces(_request_timeout=TIMEOUT).items:
            owner = (eps.metadata.labels or {}).get("kubernetes.io/service-name")
            if owner:
                slices.setdefault((eps.metadata.namespace, owner), []).append(eps)
        for node_port in [p for p in self._listeners if p not in wanted]:
            self._listeners.pop(node_port).close()
        for node_port, (ns, name, port) in wanted.items():
            backends = []
            for eps in slices.get((ns, name), []):
                target = next((p.port for p in eps.ports or [] if p.name == port.name or
                               (not p.name and not port.name)), None)
                for endpoint in eps.endpoints or []:
                    ready = endpoint.conditions is None or endpoint.conditions.ready is not False
                    if target and ready:
                        backends.extend((address, target) for address in endpoint.addresses)
            listener = self._listeners.get(node_port)
            if listener is None:
                try:
                    listener = self._listeners[node_port] = NodePortListener(node_port)
                except OSError as exc:
                    log.warning("cannot serve NodePort %s of %s/%s: %s", node_port, ns, name, exc)
                    continue
            listener.backends = backends


class NodePortListener:
    """One NodePort on the node address, forwarding each connection to a ready backend (TCP, userspace)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.backends: list[tuple[str, int]] = []
        self._sock = socket.create_server((NODE_IP, port), reuse_port=False)
        self._sock.settimeout(0.5)
        self._closed = threading.Event()
        self._next = 0
        threading.Thread(target=self._accept, name=f"nodeport-{port}", daemon=True).start()

    def close(self) -> None:
        self._closed.set()
        self._sock.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            backends = list(self.backends)
            if not backends:
                conn.close()  # no ready endpoint: refused, as kube-proxy rejects it
                continue
            self._next += 1
            target = backends[self._next % len(backends)]
            threading.Thread(target=self._pipe, args=(conn, target), daemon=True).start()

    @staticmethod
    def _pipe(conn: socket.socket, target: tuple[str, int]) -> None:
        try:
            upstream = socket.create_connection(target, timeout=10)
        except OSError:
            conn.close()
            return
        upstream.settimeout(None)

        other = threading.Thread(target=pump, args=(upstream, conn), daemon=True)
        other.start()
        pump(conn, upstream)
        other.join(timeout=60)
        conn.close()
        upstream.close()


def pump(src: socket.socket, dst: socket.socket, seen: Callable[[bytes], None] | None = None) -> None:
    """Copy one direction of a TCP connection until either side ends it, then shut both down."""
    try:
        while data := src.recv(65536):
            if seen is not None:
                seen(data)
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


# ---- pod logs ----------------------------------------------------------------------------------------

class LogServer:
    """The kubelet's `/containerLogs/<ns>/<pod>/<container>` for the API server (client cert required)."""

    def __init__(self, cluster: Cluster) -> None:
        logs_dir = cluster.state / "pod-logs"
        pki = cluster.pki

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                url = urllib.parse.urlsplit(self.path)
                parts = url.path.strip("/").split("/")
                if len(parts) != 4 or parts[0] != "containerLogs" or any(p in ("", ".", "..") for p in parts):
                    self.send_error(404)
                    return
                path = logs_dir / f"{parts[1]}_{parts[2]}_{parts[3]}.log"
                try:
                    text = Path(os.path.realpath(path)).read_text(errors="replace")
                except OSError:
                    self.send_error(404, f"no log for container {parts[3]} of pod {parts[1]}/{parts[2]}")
                    return
                query = urllib.parse.parse_qs(url.query)
                if "tailLines" in query:
                    lines = text.splitlines(keepends=True)
                    text = "".join(lines[-int(query["tailLines"][0]):]) if int(query["tailLines"][0]) else ""
                body = text.encode()
                if "limitBytes" in query:
                    body = body[:int(query["limitBytes"][0])]
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer((NODE_IP, cluster.ports.kubelet), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(pki / "kubelet-serving.crt"), str(pki / "kubelet-serving.key"))
        ctx.load_verify_locations(str(pki / "ca.crt"))
        ctx.verify_mode = ssl.CERT_REQUIRED  # only the API server (its kubelet client certificate) may read
        self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name="kubelet-logs", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
