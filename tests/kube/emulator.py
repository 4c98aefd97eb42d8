"""The Kubernetes API for tests: kmock 0.8's `KubernetesEmulator`, extended until real clients work.

Why: nothing installs a kube-apiserver here, and the project must talk to Kubernetes through real
HTTP (the official client, KubernetesHook, kubectl and fabric8 inside the Flink CLI and JobManager).
kmock gives the aiohttp server, request log, discovery and the object store with history; this
class adds what those clients rely on (DESIGN.md §3): bundled resource list, namespace-aware
routing (`/api/v1/namespaces[/<n>]`), label/field selectors on list and watch, delete-collection,
PUT replace, uid/resourceVersion/creationTimestamp/generation, 409 Conflict on a stale
resourceVersion (Flink's leader election and checkpoint pointers depend on it), watches that
resume from a resourceVersion, `/version`, pod logs, `NotFound`/`AlreadyExists`/`Conflict` reasons,
NodePort allocation with `status.loadBalancer`, a Node with an ExternalIP on loopback, cascading
deletion through ownerReferences (the garbage collector) and namespaces, graceful pod deletion
(a pod bound to a node stays, with `deletionTimestamp`, until its kubelet deletes it with grace
period 0 — the redeploy waits on exactly that), and the service proxy
`/api/v1/namespaces/<ns>/services/<svc>[:<port>]/proxy/<path>` to a registered local backend.
"""

from __future__ import annotations

import asyncio
import collections
import copy
import datetime
import json
import random
import re
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import aiohttp.web
import attrs
import yaml
from kmock import KubernetesEmulator, RawHandler, Request, resource

from tests.kube import patches, selectors

NODE_NAME = "local-node"
# Matches the kubectl on the machine (v1.32), so kubectl prints no version-skew warning.
SERVER_VERSION = {"major": "1", "minor": "32", "gitVersion": "v1.32.0-kmock", "gitCommit": "0" * 40,
                  "gitTreeState": "clean", "buildDate": "2024-12-11T00:00:00Z", "goVersion": "go1.23",
                  "compiler": "gc", "platform": "linux/amd64"}
_PROXY_RE = re.compile(r"^/api/v1/namespaces/([^/]+)/services/([^/]+)/proxy(/.*)?$")
_NODE_PORTS = range(30000, 32768)
_HISTORY = 5000  # watch events kept per resource for resumed watches (older -> 410 Gone)
_HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "authorization"}


@dataclass(frozen=True)
class Route:
    """An object request, parsed from its URL path."""
    res: resource
    namespace: str | None
    name: str | None
    sub: str | None


def _now(later_s: int = 0) -> str:
    moment = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=later_s)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def status_body(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "details": details or {}, "code": code}


def _delete_options(body: Any, q: Any) -> dict[str, Any]:
    """DeleteOptions from the body and the query (clients send either; the body wins)."""
    options: dict[str, Any] = {k: q[k] for k in ("gracePeriodSeconds", "propagationPolicy") if k in q}
    if isinstance(body, dict):
        options.update({k: v for k, v in body.items() if v is not None})
    if options.get("gracePeriodSeconds") is not None:
        options["gracePeriodSeconds"] = int(options["gracePeriodSeconds"])
    return options


class ApiError(Exception):
    """A Kubernetes `Status` failure answered to the client."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.body = status_body(code, reason, message, details)
        self.code = code


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@attrs.define(kw_only=True)
class KubeEmulator(KubernetesEmulator):
    """kmock's emulator with the behaviour of a real API server that our clients depend on."""

    gc: bool = True  # cascade deletions through ownerReferences, like kube-controller-manager
    node_labels: dict[str, str] = attrs.field(factory=dict)
    _rv: int = attrs.field(default=0, init=False)
    _history: dict[resource, collections.deque] = attrs.field(init=False, factory=dict)
    _watchers: dict[resource, set[asyncio.Queue]] = attrs.field(init=False, factory=dict)
    _node_ports: set[int] = attrs.field(init=False, factory=set)
    _cluster_ips: int = attrs.field(default=0, init=False)
    # (namespace, service name) -> "http://127.0.0.1:<port>"; set by the local kubelet.
    service_backends: dict[tuple[str, str], str] = attrs.field(init=False, factory=dict)
    # (namespace, pod name) -> callable returning the pod's log text; set by the local kubelet.
    pod_logs: dict[tuple[str, str], Callable[[], str]] = attrs.field(init=False, factory=dict)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.resources.load_bundled()
        for ns in ("default", "kube-system", "kube-public"):
            self._store(self._key(resource("", "v1", "namespaces"), None, ns), self._fill(
                resource("", "v1", "namespaces"), None, {"metadata": {"name": ns}}))
        node = {"metadata": {"name": NODE_NAME, "labels": {"kubernetes.io/hostname": NODE_NAME,
                                                            **self.node_labels}},
                "spec": {},
                "status": {"addresses": [{"type": "ExternalIP", "address": "127.0.0.1"},
                                         {"type": "InternalIP", "address": "127.0.0.1"},
                                         {"type": "Hostname", "address": NODE_NAME}],
                           "conditions": [{"type": "Ready", "status": "True"}]}}
        res = resource("", "v1", "nodes")
        self._store(self._key(res, None, NODE_NAME), self._fill(res, None, node))

    # ---- routing -------------------------------------------------------------------------------

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        try:
            await Request._parse(raw_request)
        except ValueError:  # kmock 0.8 cannot parse `/api/v1/namespaces`: serve it without its parser
            body = await raw_request.read()
            request = Request(id=len(self._requests), raw_request=raw_request, url=raw_request.url,
                              method=raw_request.method, params=dict(raw_request.query),
                              headers=dict(raw_request.headers), body=body, text=body.decode(errors="replace"),
                              data=json.loads(body) if body.strip() else None)
            self._requests.append(request)
            return await self._handle(request)
        return await super().__call__(raw_request)

    async def _handle(self, request: Request) -> aiohttp.web.StreamResponse:
        raw = request._raw_request
        assert raw is not None
        try:
            if m := _PROXY_RE.match(raw.path):  # before any object logic: PATCH/DELETE here are proxied
                return await self._proxy(raw, request, m.group(1), m.group(2), m.group(3) or "/")
            if raw.path.rstrip("/") == "/version":
                return aiohttp.web.json_response(SERVER_VERSION)
            parts = [p for p in raw.path.split("/") if p]
            if raw.method == "GET" and (parts[:1] == ["api"] and len(parts) == 2
                                        or parts[:1] == ["apis"] and len(parts) == 3):
                return aiohttp.web.json_response(await self._serve_version(request))
            route = self._route(raw.path)
            if route is None:  # discovery and anything else kmock knows
                return await RawHandler._handle(self, request)
            return await self._dispatch(raw, request, route)
        except ApiError as exc:
            return aiohttp.web.json_response(exc.body, status=exc.code)

    def _route(self, path: str) -> Route | None:
        parts = [p for p in path.split("/") if p]
        if len(parts) >= 3 and parts[0] == "api":
            group, version, rest = "", parts[1], parts[2:]
        elif len(parts) >= 4 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            return None
        if rest and rest[0] == "watch":
            rest = rest[1:]
        namespace = None
        if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] not in ("status", "finalize"):
            namespace, rest = rest[1], rest[2:]
        res = resource(group, version, rest[0])
        if res not in self.resources:
            raise ApiError(404, "NotFound", f"the server could not find the requested resource ({path})")
        name = rest[1] if len(rest) > 1 else None
        sub = "/".join(rest[2:]) or None
        return Route(res, namespace, name, sub)

    async def _dispatch(self, raw: aiohttp.web.BaseRequest, request: Request, r: Route
                        ) -> aiohttp.web.StreamResponse:
        method, q = raw.method, raw.query
        async with self._lock:
            if method == "GET" and q.get("watch", "").lower() in ("true", "1"):
                pass  # streamed below, outside the lock
            elif method == "GET" and r.name is None:
                return aiohttp.web.json_response(self._list(r, q))
            elif method == "GET" and r.sub == "log" and r.res.plural == "pods":
                return self._log(r)
            elif method == "GET":
                return aiohttp.web.json_response(self._get(r))
            elif method == "POST" and r.name is None:
                return aiohttp.web.json_response(self._create(r, request.data), status=201)
            elif method == "PUT" and r.name is not None:
                return aiohttp.web.json_response(self._replace(r, request.data))
            elif method == "PATCH" and r.name is not None:
                body = request.data
                if body is None and request.body.strip():  # server-side apply sends YAML
                    body = yaml.safe_load(request.body)
                return aiohttp.web.json_response(
                    self._patch(r, body, raw.headers.get("Content-Type", "")))
            elif method == "DELETE" and r.name is not None:
                return aiohttp.web.json_response(self._delete(r, _delete_options(request.data, q)))
            elif method == "DELETE":
                return aiohttp.web.json_response(self._delete_collection(r, q, _delete_options(request.data, q)))
            else:
                raise ApiError(405, "MethodNotAllowed", f"{method} is not supported on {raw.path}")
        return await self._watch(raw, r, q)

    # ---- the store -----------------------------------------------------------------------------

    def _key(self, res: resource, namespace: str | None, name: str) -> tuple:
        namespaced = self.resources[res].namespaced
        return (res, namespace if namespaced else None, name)

    def _current(self, key: tuple) -> dict[str, Any] | None:
        if key in self._objects and not self._objects[key].deleted:
            return copy.deepcopy(self._objects[key].raw)
        return None

    def _store(self, key: tuple, obj: dict[str, Any] | None, event: str | None = None,
               old: dict[str, Any] | None = None) -> None:
        if key not in self._objects:
            self._objects[key] = obj if obj is not None else [None]
        elif obj is None:
            self._objects[key].delete()
        else:
            self._objects[key].history.append(obj)
        if event:
            self._emit(key[0], event, obj if obj is not None else old, old)

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _fill(self, res: resource, namespace: str | None, obj: dict[str, Any]) -> dict[str, Any]:
        info = self.resources[res]
        meta = obj.setdefault("metadata", {})
        if info.namespaced:
            meta["namespace"] = namespace or meta.get("namespace") or "default"
        else:
            meta.pop("namespace", None)
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", _now())
        meta["generation"] = 1
        meta["resourceVersion"] = self._next_rv()
        obj["apiVersion"] = f"{res.group}/{res.version}" if res.group else res.version
        obj["kind"] = info.kind
        return obj

    def _not_found(self, r: Route, name: str | None = None) -> ApiError:
        name = name or r.name
        return ApiError(404, "NotFound", f'{r.res.plural} "{name}" not found',
                        {"name": name, "kind": r.res.plural})

    def _get(self, r: Route) -> dict[str, Any]:
        obj = self._current(self._key(r.res, r.namespace, r.name))
        if obj is None:
            raise self._not_found(r)
        return obj

    def _matching(self, r: Route, q: Any) -> list[dict[str, Any]]:
        by_label = selectors.label_selector(q.get("labelSelector"))
        by_field = selectors.field_selector(q.get("fieldSelector"))
        found = []
        for (res, ns, _name), obj in list(self._objects.items()):
            if res != r.res or obj.deleted:
                continue
            if r.namespace is not None and ns != r.namespace:
                continue
            raw = obj.raw
            if by_label(raw) and by_field(raw):
                found.append(copy.deepcopy(raw))
        return sorted(found, key=lambda o: (o["metadata"].get("namespace") or "", o["metadata"]["name"]))

    def _list(self, r: Route, q: Any) -> dict[str, Any]:
        info = self.resources[r.res]
        return {"apiVersion": f"{r.res.group}/{r.res.version}" if r.res.group else r.res.version,
                "kind": f"{info.kind}List", "metadata": {"resourceVersion": str(self._rv)},
                "items": self._matching(r, q)}

    def _create(self, r: Route, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", f"the body of a create must be a JSON object, got {body!r}")
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        if not meta.get("name"):
            raise ApiError(422, "Invalid", f"{r.res.plural}: metadata.name: Required value: name or "
                                           "generateName is required")
        namespace = r.namespace or meta.get("namespace") or "default"
        if self.resources[r.res].namespaced:
            ns_key = self._key(resource("", "v1", "namespaces"), None, namespace)
            if self._current(ns_key) is None:
                raise ApiError(404, "NotFound", f'namespaces "{namespace}" not found',
                               {"name": namespace, "kind": "namespaces"})
        key = self._key(r.res, namespace, meta["name"])
        if self._current(key) is not None:
            raise ApiError(409, "AlreadyExists", f'{r.res.plural} "{meta["name"]}" already exists',
                           {"name": meta["name"], "kind": r.res.plural})
        for field in ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp"):
            meta.pop(field, None)
        obj = self._fill(r.res, namespace, obj)
        self._defaults(r.res, obj)
        self._store(key, obj, "ADDED")
        owners = {o.get("uid") for o in meta.get("ownerReferences") or []}
        if self.gc and owners and not owners & self._live_uids():
            self._remove(key, obj)  # every owner is already gone: the garbage collector takes it
        return copy.deepcopy(obj)

    def _live_uids(self) -> set[str]:
        return {o.raw["metadata"]["uid"] for o in self._objects.values() if not o.deleted}

    def _defaults(self, res: resource, obj: dict[str, Any]) -> None:
        """What a real API server (or its admission) fills in on create."""
        if res.plural == "services":
            spec = obj.setdefault("spec", {})
            spec.setdefault("type", "ClusterIP")
            if spec.get("clusterIP") != "None":
                self._cluster_ips += 1
                spec["clusterIP"] = f"10.96.{self._cluster_ips // 250}.{self._cluster_ips % 250 + 1}"
            if spec["type"] in ("NodePort", "LoadBalancer"):
                for port in spec.get("ports", []):
                    port.setdefault("nodePort", self._allocate_node_port())
            obj["status"] = {"loadBalancer": {}}
        elif res.plural == "pods":
            obj.setdefault("spec", {}).setdefault("terminationGracePeriodSeconds", 30)
            obj["status"] = {"phase": "Pending"}
        elif res.plural == "namespaces":
            obj["status"] = {"phase": "Active"}

    def _allocate_node_port(self) -> int:
        """A random NodePort in 30000-32767 (as kube-apiserver picks) that is also free on 127.0.0.1.

        Random, not lowest-first: the emulators of concurrent test sessions share this host's ports,
        and a port is only bound once the JobManager starts.
        """
        for port in random.sample(_NODE_PORTS, len(_NODE_PORTS)):
            if port not in self._node_ports and _port_is_free(port):
                self._node_ports.add(port)
                return port
        raise ApiError(422, "Invalid", "spec.ports[].nodePort: no free port left in 30000-32767")

    def _check_version(self, r: Route, current: dict[str, Any], new: dict[str, Any]) -> None:
        wanted = (new.get("metadata") or {}).get("resourceVersion")
        if wanted and wanted != current["metadata"]["resourceVersion"]:
            raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {r.res.plural} "{r.name}": '
                           "the object has been modified; please apply your changes to the latest "
                           "version and try again", {"name": r.name, "kind": r.res.plural})

    def _write(self, r: Route, current: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
        """Store `new` as the next version of `current`, keeping what clients cannot change."""
        self._check_version(r, current, new)
        has_status = "status" in self.resources[r.res].subresources
        if r.sub == "status":
            new = {**current, "status": new.get("status", {})}
        elif has_status and "status" in current:
            new["status"] = current["status"]
        meta = new.setdefault("metadata", {})
        for field in ("uid", "creationTimestamp", "namespace", "name", "generation", "deletionTimestamp",
                      "deletionGracePeriodSeconds"):
            if field in current["metadata"]:
                meta[field] = current["metadata"][field]
            else:
                meta.pop(field, None)
        if new.get("spec") != current.get("spec"):
            meta["generation"] = current["metadata"].get("generation", 1) + 1
        meta["resourceVersion"] = self._next_rv()
        new["apiVersion"], new["kind"] = current["apiVersion"], current["kind"]
        key = self._key(r.res, r.namespace, r.name)
        self._store(key, new, "MODIFIED", current)
        if meta.get("deletionTimestamp") and not meta.get("finalizers") and not meta.get("deletionGracePeriodSeconds"):
            self._remove(key, new)  # the last finalizer is gone (a terminating pod waits for its kubelet)
        return copy.deepcopy(new)

    def _replace(self, r: Route, body: Any) -> dict[str, Any]:
        current = self._get(r)
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", f"the body of a replace must be a JSON object, got {body!r}")
        return self._write(r, current, copy.deepcopy(body))

    def _patch(self, r: Route, body: Any, content_type: str) -> dict[str, Any]:
        current = self._get(r)
        try:
            new = patches.apply_patch(current, body, content_type)
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise ApiError(422, "Invalid", f"the patch of {r.res.plural} {r.name!r} cannot be applied: "
                                           f"{exc}") from exc
        return self._write(r, current, new)

    def _delete(self, r: Route, options: dict[str, Any]) -> dict[str, Any]:
        key = self._key(r.res, r.namespace, r.name)
        current = self._current(key)
        if current is None:
            raise self._not_found(r)
        wanted_uid = (options.get("preconditions") or {}).get("uid")
        if wanted_uid and wanted_uid != current["metadata"]["uid"]:
            raise ApiError(409, "Conflict", f'Precondition failed: UID in precondition: {wanted_uid}, UID in '
                                            f'object meta: {current["metadata"]["uid"]}',
                           {"name": r.name, "kind": r.res.plural})
        return self._delete_object(key, current, options)

    def _delete_object(self, key: tuple, current: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
        """Remove the object, or mark it (deletionTimestamp) while finalizers or a kubelet hold it.

        A pod bound to a node with a grace period > 0 stays until its kubelet has stopped the
        containers and deletes it with gracePeriodSeconds=0; a second delete may only shorten it.
        """
        meta = current["metadata"]
        grace = self._grace_period(key[0], current, options)
        if grace == 0 and not meta.get("finalizers"):
            self._remove(key, current, orphan=options.get("propagationPolicy") == "Orphan")
            return current
        if meta.get("deletionTimestamp") and grace >= meta.get("deletionGracePeriodSeconds", 0):
            return current
        marked = copy.deepcopy(current)
        marked["metadata"].update(deletionTimestamp=_now(grace), deletionGracePeriodSeconds=grace,
                                  resourceVersion=self._next_rv())
        self._store(key, marked, "MODIFIED", current)
        return marked

    @staticmethod
    def _grace_period(res: resource, obj: dict[str, Any], options: dict[str, Any]) -> int:
        """Seconds a pod's kubelet gets to stop it, as the pod registry decides; 0 = remove at once."""
        if res.plural != "pods":
            return 0
        spec, phase = obj.get("spec") or {}, (obj.get("status") or {}).get("phase")
        if not spec.get("nodeName") or phase in ("Succeeded", "Failed"):
            return 0  # never bound to a node, or already terminated: nothing to stop
        grace = options.get("gracePeriodSeconds")
        if grace is None:
            grace = spec.get("terminationGracePeriodSeconds", 30)
        return 1 if int(grace) < 0 else int(grace)

    def _remove(self, key: tuple, current: dict[str, Any], orphan: bool = False) -> None:
        gone = copy.deepcopy(current)
        gone["metadata"]["resourceVersion"] = self._next_rv()
        self._store(key, None, "DELETED", gone)
        if key[0].plural == "pods":
            self.pod_logs.pop((key[1], key[2]), None)
        if key[0].plural == "services":
            self.service_backends.pop((key[1], key[2]), None)
            for port in current.get("spec", {}).get("ports", []):
                self._node_ports.discard(port.get("nodePort"))
        if key[0].plural == "namespaces":
            for other, obj in list(self._objects.items()):
                if other[1] == key[2] and not obj.deleted:
                    self._remove(other, obj.raw)
        elif self.gc and not orphan:
            uid = current["metadata"]["uid"]
            for other, obj in list(self._objects.items()):
                if obj.deleted:
                    continue
                owners = obj.raw.get("metadata", {}).get("ownerReferences") or []
                if any(o.get("uid") == uid for o in owners):  # the garbage collector's default delete
                    self._delete_object(other, copy.deepcopy(obj.raw), {})

    def _delete_collection(self, r: Route, q: Any, options: dict[str, Any]) -> dict[str, Any]:
        listed = self._list(r, q)
        for obj in listed["items"]:
            key = self._key(r.res, obj["metadata"].get("namespace"), obj["metadata"]["name"])
            self._delete_object(key, obj, options)
        return listed

    def _log(self, r: Route) -> aiohttp.web.Response:
        self._get(r)
        provider = self.pod_logs.get((r.namespace, r.name))
        return aiohttp.web.Response(text=provider() if provider else "", content_type="text/plain")

    # ---- watch ---------------------------------------------------------------------------------

    def _emit(self, res: resource, kind: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        event = (int(obj["metadata"]["resourceVersion"]), kind, copy.deepcopy(obj), old)
        self._history.setdefault(res, collections.deque(maxlen=_HISTORY)).append(event)
        for queue in self._watchers.get(res, ()):
            queue.put_nowait(event)

    async def _watch(self, raw: aiohttp.web.BaseRequest, r: Route, q: Any) -> aiohttp.web.StreamResponse:
        by_label = selectors.label_selector(q.get("labelSelector"))
        by_field = selectors.field_selector(q.get("fieldSelector"))

        def visible(obj: dict[str, Any] | None) -> bool:
            if obj is None:
                return False
            meta = obj.get("metadata", {})
            return ((r.namespace is None or meta.get("namespace") == r.namespace)
                    and (r.name is None or meta.get("name") == r.name)
                    and by_label(obj) and by_field(obj))

        queue: asyncio.Queue = asyncio.Queue()
        since = q.get("resourceVersion", "")
        async with self._lock:
            history = self._history.get(r.res, collections.deque())
            if since in ("", "0"):
                for obj in self._matching(r, q):
                    if r.name is None or obj["metadata"]["name"] == r.name:
                        queue.put_nowait((0, "ADDED", obj, None))
            elif history and history[0][0] > int(since) + 1 and len(history) == history.maxlen:
                queue.put_nowait((0, "ERROR", status_body(410, "Expired", f"too old resource version: "
                                                                          f"{since}"), None))
            else:
                for event in history:
                    if event[0] > int(since):
                        queue.put_nowait(event)
            self._watchers.setdefault(r.res, set()).add(queue)

        response = aiohttp.web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(raw)
        timeout = float(q["timeoutSeconds"]) if q.get("timeoutSeconds") else None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout if timeout else None
        try:
            while True:
                remaining = deadline - loop.time() if deadline else None
                if remaining is not None and remaining <= 0:
                    break
                try:
                    event = await asyncio.wait_for(queue.get(), remaining)
                except TimeoutError:
                    break
                if event is None:
                    break
                _rv, kind, obj, old = event
                if kind == "MODIFIED" and visible(obj) != visible(old):
                    kind = "ADDED" if visible(obj) else "DELETED"
                elif kind != "ERROR" and not (visible(obj) or (kind == "DELETED" and visible(old))):
                    continue
                await response.write(json.dumps({"type": kind, "object": obj}).encode() + b"\n")
        except (ConnectionResetError, aiohttp.ClientConnectionResetError):
            pass
        finally:
            self._watchers.get(r.res, set()).discard(queue)
        await response.write_eof()
        return response

    def close_watches(self) -> None:
        """End every open watch stream (clients re-watch), e.g. before the server stops."""
        for queues in self._watchers.values():
            for queue in queues:
                queue.put_nowait(None)

    # ---- service proxy -------------------------------------------------------------------------

    async def _proxy(self, raw: aiohttp.web.BaseRequest, request: Request, namespace: str, service: str,
                     path: str) -> aiohttp.web.StreamResponse:
        parts = service.split(":")
        name = parts[1] if len(parts) == 3 else parts[0]
        backend = self.service_backends.get((namespace, name))
        if backend is None:
            raise ApiError(503, "ServiceUnavailable", f'no endpoints available for service "{name}"')
        headers = {k: v for k, v in raw.headers.items() if k.lower() not in _HOP_HEADERS}
        async with aiohttp.ClientSession() as session:
            async with session.request(raw.method, backend + path, params=raw.query, data=request.body,
                                       headers=headers, allow_redirects=False) as upstream:
                body = await upstream.read()
                return aiohttp.web.Response(body=body, status=upstream.status,
                                            content_type=upstream.content_type)

    # ---- discovery fix -------------------------------------------------------------------------

    async def _serve_version(self, request: Request) -> dict[str, Any]:
        answer = await super()._serve_version(request)
        assert request.resource is not None
        if request.resource.group == "":
            answer["groupVersion"] = request.resource.version  # the core group is "v1", not "/v1"
        for entry in answer["resources"]:
            if "/" in entry["name"]:  # subresources carry no short names (kubectl warns otherwise)
                entry["shortNames"], entry["categories"] = [], []
        return answer
