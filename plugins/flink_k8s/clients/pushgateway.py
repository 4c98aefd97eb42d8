"""Pushgateway HTTP client: list groups, delete groups by their full grouping key (stdlib only).

Why stdlib sockets and not requests: deleting thousands of groups is dominated by per-request
overhead. Deletes go over a few keep-alive connections (bounded parallelism) with HTTP/1.1 pipelining
(~50-100 us per delete here, against ~0.7 ms for one connection per request), and importing this
module stays cheap for DAG parsing. Listing uses http.client.

Deletes are idempotent: the gateway answers 202 whether or not the group exists. Connection errors
and 5xx answers are retried with exponential backoff; other answers are not.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit

from flink_k8s.core.stale_groups import Criteria, Group, Selection, parse_groups, select_stale

_SAFE_VALUE = re.compile(r"[A-Za-z0-9._~-]+")  # RFC 3986 unreserved: needs no encoding at all
RETRYABLE_ERRORS = (ConnectionError, TimeoutError, http.client.HTTPException, OSError)


class PushgatewayError(RuntimeError):
    """The gateway answered with an error or could not be reached."""


class PushgatewayUnavailable(PushgatewayError):
    """The gateway could not be reached after the bounded retries."""


def encode_label(name: str, value: str) -> str:
    """One `/<name>/<value>` path pair; `@base64` (URL-safe alphabet) unless the value is plain-safe.

    The Pushgateway README: a `/` (even URI-encoded) splits the path, an empty value vanishes from a
    sanitized path (it must be `@base64/=`), other characters may be URI- or base64-encoded.
    """
    if _SAFE_VALUE.fullmatch(value):
        return f"/{quote(name, safe='')}/{value}"
    encoded = base64.urlsafe_b64encode(value.encode()).decode().rstrip("=") or "="
    return f"/{quote(name, safe='')}@base64/{encoded}"


def grouping_key_path(labels: Mapping[str, str]) -> str:
    """`/metrics/job/<job>{/<label>/<value>}` for a full grouping key (job first, then sorted)."""
    if not labels.get("job"):
        raise ValueError(f"labels={dict(labels)!r}: a grouping key needs a non-empty 'job' label")
    rest = "".join(encode_label(k, v) for k, v in sorted(labels.items()) if k != "job")
    return "/metrics" + encode_label("job", labels["job"]) + rest


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4  # total tries per request
    backoff: float = 0.2  # seconds before the 2nd try; doubles each time
    max_backoff: float = 5.0

    def delays(self) -> list[float]:
        return [min(self.backoff * 2**i, self.max_backoff) for i in range(max(self.attempts - 1, 0))]


@dataclass
class DeleteFailure:
    labels: dict[str, str]
    error: str


class PushgatewayClient:
    """Talks to one gateway; safe to share between threads (each thread keeps its own connection)."""

    def __init__(
        self,
        url: str,
        auth: tuple[str, str] | None = None,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        parts = urlsplit(url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url={url!r}: expected http(s)://host[:port][/prefix]")
        self.url = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"
        if auth is None and parts.username:  # credentials in the URL: use them, never show them
            auth = (unquote(parts.username), unquote(parts.password or ""))
        self._scheme, self._host, self._port = parts.scheme, parts.hostname, parts.port
        self._prefix = parts.path
        self._timeout = timeout
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._headers = {"Connection": "keep-alive"}
        if auth:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            self._headers["Authorization"] = f"Basic {token}"
        self._local = threading.local()
        self._all_conns: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never shows credentials
        return f"PushgatewayClient({self.url!r})"

    # -- connections -------------------------------------------------------------------------------
    def _conn(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self._scheme == "https":
                conn = http.client.HTTPSConnection(self._host, self._port, timeout=self._timeout,
                                                   context=ssl.create_default_context())
            else:
                conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
            self._local.conn = conn
            with self._lock:
                self._all_conns.append(conn)
        return conn

    def _drop_conn(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def close(self) -> None:
        with self._lock:
            for conn in self._all_conns:
                conn.close()
            self._all_conns.clear()
        self._local = threading.local()

    def __enter__(self) -> PushgatewayClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- requests ----------------------------------------------------------------------------------
    def request(self, method: str, path: str) -> tuple[int, bytes]:
        """One request with bounded retries on connection errors and 5xx; returns (status, body)."""
        last = ""
        delays = self.retry.delays()
        for attempt in range(self.retry.attempts):
            try:
                conn = self._conn()
                conn.request(method, self._prefix + path, headers=self._headers)
                resp = conn.getresponse()
                body = resp.read()
                if resp.will_close:
                    self._drop_conn()
                if resp.status < 500:
                    return resp.status, body
                last = f"HTTP {resp.status}: {body[:200].decode(errors='replace').strip()}"
            except RETRYABLE_ERRORS as exc:
                self._drop_conn()
                last = f"{type(exc).__name__}: {exc}"
            if attempt < len(delays):
                self._sleep(delays[attempt])
        raise PushgatewayUnavailable(
            f"{method} {self.url}{path}: no success after {self.retry.attempts} attempts "
            f"(backoff {', '.join(f'{d:g}s' for d in delays) or 'none'}); last error: {last}"
        )

    def list_groups(self) -> list[Group]:
        status, body = self.request("GET", "/api/v1/metrics")
        if status != 200:
            raise PushgatewayError(f"GET {self.url}/api/v1/metrics: HTTP {status}: {body[:300]!r}")
        try:
            payload = json.loads(body)
        except ValueError as exc:
            raise PushgatewayError(f"GET {self.url}/api/v1/metrics: not JSON ({exc})") from None
        return parse_groups(payload)

    def delete_group(self, labels: Mapping[str, str]) -> None:
        """Delete one group by its full grouping key; a group that is already gone is fine."""
        path = grouping_key_path(labels)
        status, body = self.request("DELETE", path)
        if status not in (200, 202, 204, 404):
            raise PushgatewayError(f"DELETE {path}: HTTP {status}: {body[:200].decode(errors='replace')}")

    def delete_groups(
        self, groups: Sequence[Mapping[str, str]], parallelism: int = 8, pipeline: int = 32
    ) -> list[DeleteFailure]:
        """Delete many groups; returns the failures (an empty list when all are gone).

        The groups are split over `parallelism` connections; on each, up to `pipeline` DELETEs are
        written before their responses are read (HTTP/1.1 pipelining; `pipeline=1` is plain
        request/response keep-alive). A request left unanswered by a dropped connection, or answered
        with 5xx, is sent again (deletes are idempotent) within the retry policy.
        """
        if parallelism < 1 or pipeline < 1:
            raise ValueError(f"parallelism={parallelism!r}, pipeline={pipeline!r}: both must be >= 1")
        labels = [dict(g) for g in groups]
        paths: list[str | None] = []
        failures: list[DeleteFailure] = []
        for group in labels:
            try:
                paths.append(grouping_key_path(group))
            except ValueError as exc:
                paths.append(None)
                failures.append(DeleteFailure(group, str(exc)))
        todo = [i for i, path in enumerate(paths) if path is not None]
        shards = [todo[k::parallelism] for k in range(min(parallelism, len(todo)))]
        if len(shards) == 1:
            errors = [self._delete_shard(shards[0], paths, pipeline)]
        else:
            with ThreadPoolExecutor(max_workers=len(shards), thread_name_prefix="pgw-delete") as pool:
                errors = list(pool.map(lambda shard: self._delete_shard(shard, paths, pipeline), shards))
        for shard_errors in errors:
            failures += [DeleteFailure(labels[i], err) for i, err in shard_errors.items()]
        return failures

    def _open_socket(self):
        sock = socket.create_connection((self._host, self._port or (443 if self._scheme == "https" else 80)),
                                        timeout=self._timeout)
        if self._scheme == "https":
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self._host)
        return sock

    def _delete_shard(self, indexes: list[int], paths: list[str | None], pipeline: int) -> dict[int, str]:
        """Pipelined DELETEs on one connection; returns {index: error} for those that failed for good."""
        host = self._host + (f":{self._port}" if self._port else "")
        extra = "".join(f"{k}: {v}\r\n" for k, v in self._headers.items() if k != "Connection")
        pending = list(indexes)
        tries = dict.fromkeys(indexes, 0)
        failed: dict[int, str] = {}
        delays = self.retry.delays()
        sock = rfile = None
        try:
            while pending:
                window, pending = pending[:pipeline], pending[pipeline:]
                answered: set[int] = set()
                retry: list[int] = []  # answered with 5xx
                last_error = ""
                try:
                    if sock is None:
                        sock = self._open_socket()
                        rfile = sock.makefile("rb")
                    sock.sendall(b"".join(
                        f"DELETE {self._prefix}{paths[i]} HTTP/1.1\r\nHost: {host}\r\n{extra}"
                        "Content-Length: 0\r\n\r\n".encode() for i in window))
                    for i in window:
                        status, body, close = _read_response(rfile)
                        answered.add(i)
                        if status >= 500:
                            retry.append(i)
                            last_error = f"HTTP {status}: {body[:200].decode(errors='replace').strip()}"
                        elif status not in (200, 202, 204, 404):
                            failed[i] = f"DELETE {paths[i]}: HTTP {status}: {body[:200].decode(errors='replace')}"
                        if close:  # the gateway ends this connection; the rest of the window is resent
                            break
                    if len(answered) < len(window):
                        raise ConnectionError("the gateway closed the connection")
                    if close:
                        sock.close()
                        sock = rfile = None
                except RETRYABLE_ERRORS as exc:
                    last_error = f"{type(exc).__name__}: {exc}"
                    if sock is not None:
                        sock.close()
                    sock = rfile = None
                    retry += [i for i in window if i not in answered]
                if retry:
                    attempt = max(tries[i] for i in retry)
                    for i in retry:
                        tries[i] += 1
                    gave_up = [i for i in retry if tries[i] >= self.retry.attempts]
                    for i in gave_up:
                        failed[i] = (f"DELETE {paths[i]}: no success after {self.retry.attempts} attempts; "
                                     f"last error: {last_error}")
                    if gave_up:  # retries are bounded per run, not per request: stop this connection
                        for i in pending:
                            failed[i] = f"DELETE {paths[i]}: not attempted, gateway gave up: {last_error}"
                        pending = []
                    pending = [i for i in retry if i not in failed] + pending
                    if pending and attempt < len(delays):
                        self._sleep(delays[attempt])
        finally:
            if sock is not None:
                sock.close()
        return failed


def _read_response(rfile) -> tuple[int, bytes, bool]:
    """Read one HTTP/1.1 response: (status, body, server closes the connection)."""
    line = rfile.readline(65537)
    if not line:
        raise ConnectionError("connection closed by the gateway before the response")
    parts = line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        raise http.client.BadStatusLine(repr(line))
    status, length, chunked, close = int(parts[1]), None, False, False
    while True:
        header = rfile.readline(65537)
        if not header:
            raise ConnectionError("connection closed by the gateway inside the response headers")
        if header in (b"\r\n", b"\n"):
            break
        name, _, value = header.partition(b":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value
        elif name == b"connection":
            close = value == b"close"
    if chunked:
        body = b""
        while True:
            size = int(rfile.readline(65537).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass
                break
            body += rfile.read(size)
            rfile.readline(65537)
    elif length is not None:
        body = rfile.read(length)
        if len(body) < length:
            raise ConnectionError("connection closed by the gateway inside the response body")
    elif status in (204, 304) or 100 <= status < 200:
        body = b""
    else:  # body delimited by the end of the connection
        body, close = rfile.read(), True
    return status, body, close


@dataclass
class CleanupReport:
    """What one cleanup run saw and did (JSON-friendly via `to_dict`)."""

    url: str
    dry_run: bool
    max_age: float
    job_regex: str
    scanned: int
    stale: int
    deleted: int
    kept_fresh: int
    kept_by_filter: int
    kept_by_keep_list: int
    kept_unknown_age: int
    kept_by_guard: int
    refused: str | None
    failures: list[DeleteFailure] = field(default_factory=list)
    deleted_groups: list[dict[str, str]] = field(default_factory=list)  # or would-be, on dry run
    duration_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures and self.refused is None

    def to_dict(self, max_groups: int | None = 100) -> dict:
        groups = self.deleted_groups if max_groups is None else self.deleted_groups[:max_groups]
        return {
            "url": self.url, "dry_run": self.dry_run, "max_age_seconds": self.max_age,
            "job_regex": self.job_regex, "scanned": self.scanned, "stale": self.stale,
            "deleted": self.deleted, "kept_fresh": self.kept_fresh, "kept_by_filter": self.kept_by_filter,
            "kept_by_keep_list": self.kept_by_keep_list, "kept_unknown_age": self.kept_unknown_age,
            "kept_by_guard": self.kept_by_guard, "refused": self.refused,
            "failures": [{"labels": f.labels, "error": f.error} for f in self.failures],
            ("would_delete" if self.dry_run else "deleted_groups"): groups,
            "groups_truncated": len(groups) < len(self.deleted_groups),
            "duration_seconds": round(self.duration_seconds, 3),
        }

    def summary(self) -> str:
        verb = "would delete" if self.dry_run else "deleted"
        text = (f"{self.url}: scanned {self.scanned}, stale {self.stale}, {verb} "
                f"{len(self.deleted_groups) if self.dry_run else self.deleted}, kept fresh {self.kept_fresh}, "
                f"kept by filter {self.kept_by_filter}, kept by keep-list {self.kept_by_keep_list}, "
                f"kept by guard {self.kept_by_guard}, failures {len(self.failures)}")
        return text + (f"; REFUSED: {self.refused}" if self.refused else "")


def run_cleanup(
    client: PushgatewayClient,
    criteria: Criteria,
    dry_run: bool = False,
    parallelism: int = 8,
    clock: Callable[[], float] = time.time,
    pipeline: int = 32,
) -> CleanupReport:
    """List -> select (pure) -> delete by full grouping key -> report. A refusal deletes nothing."""
    started = time.monotonic()
    groups = client.list_groups()
    selection: Selection = select_stale(groups, clock(), criteria)
    targets = [dict(g.labels) for g in selection.stale]
    failures = [] if dry_run or not targets else client.delete_groups(targets, parallelism, pipeline)
    failed = {tuple(sorted(f.labels.items())) for f in failures}
    done = targets if dry_run else [t for t in targets if tuple(sorted(t.items())) not in failed]
    return CleanupReport(
        url=client.url, dry_run=dry_run, max_age=criteria.max_age, job_regex=criteria.job_regex,
        scanned=selection.scanned, stale=len(selection.stale) + len(selection.kept_by_guard),
        deleted=0 if dry_run else len(done), kept_fresh=len(selection.kept_fresh),
        kept_by_filter=len(selection.kept_by_filter), kept_by_keep_list=len(selection.kept_by_keep_list),
        kept_unknown_age=len(selection.kept_unknown_age), kept_by_guard=len(selection.kept_by_guard),
        refused=selection.refused, failures=failures, deleted_groups=done,
        duration_seconds=time.monotonic() - started,
    )
