"""Flink JobManager REST client: observe, cancel, savepoint, stop-with-savepoint, dispose.

Why one small client over a base URL: the same calls work over a direct URL (session cluster,
NodePort, in-cluster `http://<id>-rest.<ns>:8081`) and over the Kubernetes API server's service proxy
(`https://<apiserver>/api/v1/namespaces/<ns>/services/<id>-rest:rest/proxy` + bearer token + CA);
another layer builds the URL, headers and `verify` from the Airflow connection. A REST call costs
5–30 ms where a `flink` CLI call costs 3–4 s (and 60 s of retries when the cluster is gone).

Retries: connection errors, timeouts and 5xx answers only, bounded, exponential backoff. Savepoint
triggers carry a client-chosen `triggerId`, so a retried POST never takes a second savepoint.
`requests` is imported lazily: DAG files that import operators stay fast to parse.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from flink_k8s.clients.http_retry import RetriesExhausted, RetryPolicy, call_with_retries
from flink_k8s.core.observations import (
    CheckpointFacts,
    JobFacts,
    from_epoch_ms,
    parse_checkpoints,
    parse_job_details,
    parse_jobs_overview,
)

log = logging.getLogger(__name__)

_JOB_ID = re.compile(r"[0-9a-f]{32}")
_TRIGGER_ID = re.compile(r"[0-9a-f]{32}")
DEFAULT_RETRY = RetryPolicy(attempts=4, backoff=0.25, max_backoff=2.0)


class FlinkRestError(RuntimeError):
    """A Flink REST call failed; names the method, the URL (without credentials) and the answer."""

    def __init__(self, message: str, method: str = "", url: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.method, self.url, self.status = method, url, status


class RestUnreachable(FlinkRestError):
    """The endpoint did not answer (connection refused, DNS, timeout) after the bounded retries."""


class RestRefused(FlinkRestError):
    """Refused for good: HTTP 401/403 (for the service proxy: the API server's authentication or RBAC) or a
    TLS certificate that does not verify against the CA given. Waiting does not change either: callers that
    poll fail at once with this message instead of waiting out their timeout."""


class JobNotFound(FlinkRestError):
    """The JobManager does not know this job id (404 from Flink, not from a proxy)."""


class SavepointFailed(FlinkRestError):
    """Flink reported the savepoint (or its disposal) as failed; `cause` is Flink's failure text."""

    def __init__(self, message: str, cause: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.cause = cause


class SavepointTimeout(FlinkRestError):
    """The savepoint operation did not finish before the deadline; `trigger_id` lets a caller poll on."""

    def __init__(self, message: str, trigger_id: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.trigger_id = trigger_id


def _certificate_refused(exc: BaseException) -> bool:
    """A TLS failure that retrying cannot fix: the peer's certificate does not verify (unknown CA, wrong host).

    Other SSL errors (a handshake cut short under load) stay transient.
    """
    import requests

    return isinstance(exc, requests.exceptions.SSLError) and "certificate verify failed" in str(exc).lower()


def _short_text(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else exc.__class__.__name__)[:300]


class _Transient5xx(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:300]}")
        self.status, self.body = status, body


@dataclass(frozen=True)
class ExceptionEntry:
    """One entry of `/jobs/<id>/exceptions` → `exceptionHistory.entries` (newest first)."""

    exception_name: str
    message: str  # first line of the stack trace
    root_cause: str  # deepest "Caused by:" line, or the first line when there is none
    timestamp: datetime | None
    task_name: str | None
    stacktrace: str


@dataclass(frozen=True)
class SavepointStatus:
    """Status of an asynchronous savepoint/stop/disposal operation."""

    trigger_id: str
    state: str  # IN_PROGRESS | COMPLETED
    location: str | None = None
    failure: str | None = None  # failure text when COMPLETED with a failure-cause

    @property
    def done(self) -> bool:
        return self.state == "COMPLETED"


def root_cause_line(stacktrace: str) -> str:
    """Pure: the deepest `Caused by:` line of a Java stack trace (its first line when none)."""
    lines = [ln.strip() for ln in stacktrace.splitlines() if ln.strip()]
    causes = [ln[len("Caused by:"):].strip() for ln in lines if ln.startswith("Caused by:")]
    if causes:
        return causes[-1]
    return lines[0] if lines else ""


def parse_exceptions(body: Mapping) -> tuple[ExceptionEntry, ...]:
    """Pure: `/jobs/<id>/exceptions` body → entries, newest first."""
    history = body.get("exceptionHistory") or {}
    entries = []
    for e in history.get("entries") or ():
        trace = e.get("stacktrace") or ""
        first = next((ln.strip() for ln in trace.splitlines() if ln.strip()), e.get("exceptionName", ""))
        entries.append(ExceptionEntry(
            exception_name=e.get("exceptionName", ""), message=first, root_cause=root_cause_line(trace) or first,
            timestamp=from_epoch_ms(e.get("timestamp")), task_name=e.get("taskName"), stacktrace=trace))
    return tuple(sorted(entries, key=lambda x: x.timestamp or datetime.min.replace(tzinfo=UTC), reverse=True))


def _failure_text(cause: Any) -> str:
    """A SerializedThrowable as JSON (`class`, `stack-trace`) → the readable root cause."""
    if not cause:
        return ""
    if isinstance(cause, Mapping):
        trace = cause.get("stack-trace") or ""
        first = next((ln.strip() for ln in trace.splitlines() if ln.strip()), cause.get("class", ""))
        root = root_cause_line(trace)
        return first if not root or root == first else f"{first} (root cause: {root})"
    return str(cause)


def _check_job_id(job_id: str) -> str:
    if not isinstance(job_id, str) or not _JOB_ID.fullmatch(job_id):
        raise ValueError(f"job_id={job_id!r}: a Flink job id is 32 lowercase hex characters")
    return job_id


def _redact_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.username or parts.password:
        netloc = parts.netloc.rpartition("@")[2]
        return urlunsplit(parts._replace(netloc=netloc))
    return url


class FlinkRestClient:
    """One JobManager REST endpoint. Thread-safe enough for concurrent GETs (one requests.Session).

    `headers` (e.g. `Authorization: Bearer …` for the service proxy) are sent with every call and never
    logged; `verify` is a bool or a CA bundle path; `timeout` applies to each HTTP request.
    """

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        verify: bool | str = True,
        cert: str | tuple[str, str] | None = None,
        timeout: float = 10.0,
        retry: RetryPolicy = DEFAULT_RETRY,
        poll_interval: float = 0.25,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        session: Any = None,
    ) -> None:
        """`session`: a shared requests.Session (e.g. one keep-alive session per API server for many proxied
        clusters); used as it is and never closed by this client."""
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"base_url={_redact_url(base_url)!r}: expected http(s)://host[:port][/prefix]")
        self.base_url = base_url.rstrip("/")
        self.display_url = _redact_url(self.base_url)
        self._headers = {"Accept": "application/json", **(headers or {})}
        self._verify, self._cert, self.timeout = verify, cert, timeout
        self.retry, self.poll_interval = retry, poll_interval
        self._sleep, self._monotonic, self._now = sleep, monotonic, now
        self._session: Any = session
        self._shared_session = session is not None

    def __repr__(self) -> str:  # never shows headers or credentials
        return f"FlinkRestClient({self.display_url!r})"

    # -- transport ---------------------------------------------------------------------------------------
    def _get_session(self) -> Any:
        if self._session is None:
            import requests  # lazy: ~60 ms, kept off DAG-parse paths

            session = requests.Session()
            session.headers.update(self._headers)
            session.verify = self._verify
            if self._cert:
                session.cert = self._cert
            self._session = session
        return self._session

    def close(self) -> None:
        if self._session is not None and not self._shared_session:
            self._session.close()
        self._session = None if not self._shared_session else self._session

    def __enter__(self) -> FlinkRestClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, body: Any = None, job_id: str | None = None) -> Any:
        """One call with bounded retries; JSON answer (or None when empty). 4xx → typed error, no retry."""
        import requests

        url = f"{self.base_url}{path}"
        shown = f"{self.display_url}{path}"
        session = self._get_session()

        def once() -> Any:
            # verify/cert per request: requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE in the environment
            # override a Session's `verify`, so the API server's CA (service proxy) would be ignored there.
            resp = session.request(method, url, json=body, timeout=self.timeout, verify=self._verify,
                                   cert=self._cert)
            if resp.status_code >= 500:
                raise _Transient5xx(resp.status_code, resp.text)
            return resp

        def transient(exc: BaseException) -> bool:
            return isinstance(exc, _Transient5xx | requests.ConnectionError | requests.Timeout) \
                and not _certificate_refused(exc)

        def on_retry(attempt: int, exc: BaseException, delay: float) -> None:
            # DEBUG: a JobManager that is still starting answers 500/503 for a while (an expected state the
            # waits report at a bounded rate); the error after the last try carries the status.
            log.debug("Flink REST %s %s failed (try %d: %s); retrying in %.2fs", method, shown, attempt,
                     type(exc).__name__ if not isinstance(exc, _Transient5xx) else exc, delay)

        try:
            resp = call_with_retries(once, transient, self.retry, self._sleep, on_retry)
        except requests.exceptions.SSLError as exc:  # only a certificate refusal gets here (not transient)
            raise RestRefused(f"{method} {shown}: the TLS certificate does not verify against the CA this "
                              f"client trusts ({_short_text(exc)})", method, shown) from None
        except RetriesExhausted as exc:
            last = exc.last
            if isinstance(last, _Transient5xx):
                raise FlinkRestError(f"{method} {shown}: HTTP {last.status} after {exc.tries} tries: "
                                     f"{_error_text(last.body)}", method, shown, last.status) from None
            raise RestUnreachable(f"{method} {shown}: no answer after {exc.tries} tries "
                                  f"({type(last).__name__}: {last})", method, shown) from None
        if resp.status_code >= 400:
            text = _error_text(resp.text)
            if resp.status_code == 404 and job_id and _is_flink_error_body(resp.text):
                raise JobNotFound(f"job_id={job_id!r}: not found at {self.display_url} ({text})",
                                  method, shown, 404)
            error = RestRefused if resp.status_code in (401, 403) else FlinkRestError
            raise error(f"{method} {shown}: HTTP {resp.status_code}: {text}", method, shown, resp.status_code)
        if not resp.content:
            return None
        try:
            return resp.json()
        except ValueError:
            raise FlinkRestError(f"{method} {shown}: answer is not JSON: {resp.text[:200]!r}", method, shown,
                                 resp.status_code) from None

    # -- observe -----------------------------------------------------------------------------------------
    def config(self) -> dict:
        """`/config`: flink-version, flink-revision, timezone, features."""
        return self.request("GET", "/config")

    def version(self) -> str:
        return self.config()["flink-version"]

    def overview(self) -> dict:
        """`/overview`: task managers, slots, job counts."""
        return self.request("GET", "/overview")

    def jobs(self) -> tuple[JobFacts, ...]:
        return parse_jobs_overview(self.request("GET", "/jobs/overview"))

    def job_details(self, job_id: str) -> dict:
        """Raw `/jobs/<id>` (state, timestamps, vertices)."""
        return self.request("GET", f"/jobs/{_check_job_id(job_id)}", job_id=job_id)

    def job(self, job_id: str) -> JobFacts:
        """Job state, start time, restart count (numRestarts metric) and last restart time."""
        details = self.job_details(job_id)
        metrics = self.request("GET", f"/jobs/{job_id}/metrics?get=numRestarts", job_id=job_id)
        return parse_job_details(details, metrics)

    def restart_count(self, job_id: str) -> int | None:
        """The job's `numRestarts` metric (None while the metric is not reported yet)."""
        return self.job(job_id).restarts

    def checkpoints(self, job_id: str) -> CheckpointFacts:
        """Counts, latest completed/failed checkpoint and the checkpoint config of a job."""
        stats = self._optional("GET", f"/jobs/{_check_job_id(job_id)}/checkpoints", job_id)
        config = self._optional("GET", f"/jobs/{job_id}/checkpoints/config", job_id)
        return parse_checkpoints(stats, config)

    def latest_checkpoint_age(self, job_id: str) -> timedelta | None:
        """Age of the latest completed checkpoint (None: none completed yet); clock injected as `now`."""
        completed = self.checkpoints(job_id).latest_completed_time
        return None if completed is None else self._now() - completed

    def exceptions(self, job_id: str, max_entries: int = 20) -> tuple[ExceptionEntry, ...]:
        body = self.request("GET", f"/jobs/{_check_job_id(job_id)}/exceptions?maxExceptions={max_entries}",
                            job_id=job_id)
        return parse_exceptions(body or {})

    def root_cause(self, job_id: str) -> ExceptionEntry | None:
        """The newest failure of the job (None when it never failed)."""
        entries = self.exceptions(job_id, max_entries=1)
        return entries[0] if entries else None

    def _optional(self, method: str, path: str, job_id: str) -> Any:
        """A job sub-resource that Flink answers 404 for when it does not apply (e.g. no checkpointing)."""
        try:
            return self.request(method, path, job_id=job_id)
        except JobNotFound:
            self.job_details(job_id)  # raises JobNotFound when it is the job that is missing
            return None

    # -- act ---------------------------------------------------------------------------------------------
    def cancel(self, job_id: str) -> None:
        """`PATCH /jobs/<id>?mode=cancel` (returns at once; the job goes CANCELLING → CANCELED)."""
        self.request("PATCH", f"/jobs/{_check_job_id(job_id)}?mode=cancel", job_id=job_id)

    def trigger_savepoint(self, job_id: str, target_directory: str | None = None, *, cancel_job: bool = False,
                          format_type: str | None = None, trigger_id: str | None = None) -> str:
        """Start a savepoint; returns its trigger id (pass your own to make the call idempotent).

        Flink accepts the trigger even for an unknown job; the failure shows when polling its status.
        """
        trigger_id = _new_trigger_id(trigger_id)
        body: dict[str, Any] = {"cancel-job": cancel_job, "triggerId": trigger_id}
        if target_directory:
            body["target-directory"] = target_directory
        if format_type:
            body["formatType"] = format_type
        answer = self.request("POST", f"/jobs/{_check_job_id(job_id)}/savepoints", body, job_id=job_id)
        return answer.get("request-id", trigger_id)

    def trigger_stop_with_savepoint(self, job_id: str, target_directory: str | None = None, *,
                                    drain: bool = False, format_type: str | None = None,
                                    trigger_id: str | None = None) -> str:
        """Start stop-with-savepoint (`drain` emits MAX_WATERMARK first); returns its trigger id."""
        trigger_id = _new_trigger_id(trigger_id)
        body: dict[str, Any] = {"drain": drain, "triggerId": trigger_id}
        if target_directory:
            body["targetDirectory"] = target_directory
        if format_type:
            body["formatType"] = format_type
        answer = self.request("POST", f"/jobs/{_check_job_id(job_id)}/stop", body, job_id=job_id)
        return answer.get("request-id", trigger_id)

    def savepoint_status(self, job_id: str, trigger_id: str) -> SavepointStatus:
        body = self.request("GET", f"/jobs/{_check_job_id(job_id)}/savepoints/{trigger_id}", job_id=job_id)
        return _operation_status(trigger_id, body)

    def wait_for_savepoint(self, job_id: str, trigger_id: str, timeout: float) -> str:
        """Poll until the savepoint (or stop) completes; its path, or SavepointFailed / SavepointTimeout."""
        status = self._poll(lambda: self.savepoint_status(job_id, trigger_id), timeout,
                            f"savepoint {trigger_id} of job {job_id}", trigger_id)
        if status.failure and "FlinkJobNotFoundException" in status.failure:
            raise JobNotFound(f"job_id={job_id!r}: not found at {self.display_url} ({status.failure})",
                              url=self.display_url, status=404)
        if status.failure or not status.location:
            raise SavepointFailed(f"savepoint {trigger_id} of job {job_id} failed: {status.failure or 'no location'}",
                                  cause=status.failure or "", url=self.display_url)
        return status.location

    def savepoint(self, job_id: str, target_directory: str | None = None, *, timeout: float = 300,
                  trigger_id: str | None = None) -> str:
        """Trigger a savepoint and wait for it; the job keeps running. Returns the savepoint path."""
        trigger = self.trigger_savepoint(job_id, target_directory, trigger_id=trigger_id)
        return self.wait_for_savepoint(job_id, trigger, timeout)

    def stop_with_savepoint(self, job_id: str, target_directory: str | None = None, *, drain: bool = False,
                            timeout: float = 300, trigger_id: str | None = None) -> str:
        """Stop the job with a final savepoint and wait for it; returns the savepoint path."""
        trigger = self.trigger_stop_with_savepoint(job_id, target_directory, drain=drain, trigger_id=trigger_id)
        return self.wait_for_savepoint(job_id, trigger, timeout)

    def dispose_savepoint(self, path: str, *, timeout: float = 120) -> None:
        """Delete a savepoint through Flink (`POST /savepoint-disposal`, then poll the operation)."""
        if not path:
            raise ValueError("path='': the savepoint path to dispose must not be empty")
        answer = self.request("POST", "/savepoint-disposal", {"savepoint-path": path})
        trigger_id = answer["request-id"]
        status = self._poll(
            lambda: _operation_status(trigger_id, self.request("GET", f"/savepoint-disposal/{trigger_id}")),
            timeout, f"disposal of savepoint {path}", trigger_id)
        if status.failure:
            raise SavepointFailed(f"disposal of savepoint {path} failed: {status.failure}", cause=status.failure,
                                  url=self.display_url)

    def _poll(self, read: Callable[[], SavepointStatus], timeout: float, what: str, trigger_id: str) -> SavepointStatus:
        deadline = self._monotonic() + timeout
        while True:
            status = read()
            if status.done:
                return status
            if self._monotonic() >= deadline:
                raise SavepointTimeout(f"{what} still {status.state} after timeout={timeout}s; poll trigger "
                                       f"{trigger_id} again or raise the timeout", trigger_id=trigger_id,
                                       url=self.display_url)
            self._sleep(self.poll_interval)


def _new_trigger_id(trigger_id: str | None) -> str:
    if trigger_id is None:
        return uuid.uuid4().hex
    if not _TRIGGER_ID.fullmatch(trigger_id):
        raise ValueError(f"trigger_id={trigger_id!r}: Flink trigger ids are 32 lowercase hex characters")
    return trigger_id


def _operation_status(trigger_id: str, body: Mapping) -> SavepointStatus:
    state = (body.get("status") or {}).get("id", "UNKNOWN")
    operation = body.get("operation") or {}
    return SavepointStatus(trigger_id=trigger_id, state=state, location=operation.get("location"),
                           failure=_failure_text(operation.get("failure-cause")) or None)


def _is_flink_error_body(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict) and "errors" in json.loads(text)
    except ValueError:
        return False


def _error_text(text: str) -> str:
    """Flink answers `{"errors": [...]}`; keep the first line of each, bounded. The API server (service proxy)
    answers a `Status`: keep its message (for a 403, who may not do what)."""
    try:
        body = json.loads(text)
        errors = body.get("errors")
    except (ValueError, AttributeError):
        body, errors = None, None
    if errors:
        return "; ".join(str(e).strip().splitlines()[0] for e in errors if str(e).strip())[:500]
    if isinstance(body, dict) and body.get("kind") == "Status" and body.get("message"):
        return str(body["message"]).strip()[:500]
    return text.strip()[:300]
