"""The Flink page as a FastAPI app, mounted by `flink_k8s_plugin.py` at `/flink` inside Airflow's API server.

Routes (all GET, all read-only, all for an authenticated Airflow user through Airflow's own `get_user`
dependency, which accepts the Bearer token and the UI's `_token` cookie; anonymous -> 401/403):
- `/flink/api/jobs`: JSON, one entry per catalogue job (`core.jobs_view.row_to_json`);
- `/flink/`: the same as an HTML table, colour-coded verdicts, auto-refresh;
- `/flink/redeploy/<job>`: the redeploy DAG's form pre-filled with that job (Airflow 3.3.2's own trigger form
  cannot be pre-filled from a URL; this one renders the DAG's Params specs and posts to Airflow's REST API).
Nothing secret is shown: no connection extras, tokens, kubeconfig contents or environment values.

Settings: `FLINK_K8S_UI_TIMEOUT` (seconds each cluster may take, default 3), `FLINK_K8S_UI_REFRESH` (seconds,
default 15), `FLINK_K8S_UI_PARALLELISM` (concurrent reads, default 8), plus the catalogue and REST access
settings the DAGs use.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from flink_k8s import jobs as catalogue_access
from flink_k8s import settings
from flink_k8s.core.jobs_view import JobRow, Observed, RunInfo, build_rows, counts, row_to_json
from flink_k8s.ui import html

log = logging.getLogger(__name__)
REDEPLOY_DAG = html.REDEPLOY_DAG
ICON = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path fill="#e6526f" d="M12 2c4 3 8 6 8 11a8 '
        '8 0 0 1-16 0c0-3 2-5 3-6 0 2 1 4 3 4-1-4 0-7 2-9z"/></svg>')


def ui_timeout() -> float:
    return float(os.environ.get("FLINK_K8S_UI_TIMEOUT", "3"))


def ui_parallelism() -> int:
    return int(os.environ.get("FLINK_K8S_UI_PARALLELISM", "8"))


def ui_refresh() -> int:
    return int(os.environ.get("FLINK_K8S_UI_REFRESH", "15"))


# -- Airflow wiring (imported lazily: this module is only loaded on the first request) ---------------------------

class _ApiClients:
    """One Kubernetes ApiClient per connection id, rebuilt after `ttl` seconds (a rotated token or kubeconfig is
    picked up) — building one reads the connection and the kubeconfig."""

    def __init__(self, ttl: float = 60.0, pool_size: int = 8) -> None:
        self.ttl, self.pool_size = ttl, pool_size
        self._lock = threading.Lock()
        self._clients: dict[str, tuple[float, object]] = {}

    def get(self, conn_id: str):
        with self._lock:
            made_at, client = self._clients.get(conn_id, (0.0, None))
            if client is None or time.monotonic() - made_at > self.ttl:
                from flink_k8s.hooks.flink import FlinkKubernetesHook

                client = FlinkKubernetesHook(conn_id).api_client
                pool = client.rest_client.pool_manager
                pool.connection_pool_kw["maxsize"] = self.pool_size  # concurrent reads share the connections
                pool.clear()
                self._clients[conn_id] = (time.monotonic(), client)
            return client


def airflow_kube_factory(timeout: float, clients: _ApiClients) -> Callable:
    from flink_k8s.clients.kube import KubeView
    from flink_k8s.clients.kube import RetryPolicy as KubeRetry

    def kube_for(conn_id: str, namespace: str):
        return KubeView(clients.get(conn_id), namespace, retry=KubeRetry(attempts=1), request_timeout=timeout)

    return kube_for


def last_redeploys(default_job: str | None, base: str, limit: int = 200) -> dict[str, RunInfo]:
    """The newest run of the redeploy DAG per job, from the metadata DB (a conf without `job` means the DAG's
    default job)."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    found: dict[str, RunInfo] = {}
    with create_session() as session:
        runs = session.scalars(select(DagRun).where(DagRun.dag_id == REDEPLOY_DAG)
                               .order_by(DagRun.run_after.desc()).limit(limit)).all()
        for run in runs:
            conf = run.conf if isinstance(run.conf, dict) else {}
            job = conf.get("job") or default_job
            if not isinstance(job, str) or job in found:
                continue
            release = conf.get("release")
            state = run.state.value if hasattr(run.state, "value") else str(run.state)
            found[job] = RunInfo(run_id=run.run_id, state=state, release=release if isinstance(release, str) else None,
                                 started_at=run.start_date, ended_at=run.end_date,
                                 url=html.run_url(base, REDEPLOY_DAG, run.run_id))
    return found


def _airflow_base(request: Request) -> str:
    """Airflow's own URL path prefix: the mount's root path without `/flink`."""
    root = request.scope.get("root_path", "") or ""
    return root[: -len("/flink")] if root.endswith("/flink") else root.rsplit("/", 1)[0]


# -- the app ---------------------------------------------------------------------------------------------------

def create_app(*, gather_fn: Callable | None = None, runs_fn: Callable | None = None,
               user_dep: Callable | None = None, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> FastAPI:
    """The Flink page app. Tests and the bench may inject `gather_fn(jobs, timeout) -> {job: Observed}`,
    `runs_fn(default_job, base) -> {job: RunInfo}` and `user_dep`; by default they are Airflow's."""
    from flink_k8s.control_plane import RestAccess, thresholds_for
    from flink_k8s.core.form_params import redeploy_param_specs
    from flink_k8s.jobs_overview import gather

    if user_dep is None:
        from airflow.api_fastapi.core_api.security import get_user as user_dep
    if gather_fn is None:
        clients = _ApiClients()

        def gather_fn(jobs: Iterable, timeout: float) -> dict[str, Observed]:
            return gather(jobs, airflow_kube_factory(timeout, clients),
                          rest_access=RestAccess(**settings.rest_access_default()), timeout=timeout,
                          parallelism=ui_parallelism())
    if runs_fn is None:
        runs_fn = last_redeploys

    app = FastAPI(title="Flink jobs", docs_url=None, redoc_url=None, openapi_url=None)
    pages = APIRouter(dependencies=[Depends(user_dep)])  # every route but the icon needs a signed-in user

    def rows_for(request: Request, only: str | None = None) -> tuple[list[JobRow], datetime, float]:
        catalogue = catalogue_access.load()
        specs = list(catalogue.jobs.values()) if only is None else [catalogue.job(only)]
        timeout = ui_timeout()
        observed = gather_fn(specs, timeout)
        try:
            streaming = sorted(j.name for j in catalogue.streaming_jobs())
            runs = runs_fn(streaming[0] if streaming else None, _airflow_base(request))
        except Exception as exc:  # noqa: BLE001 - the page still shows the clusters without run history
            log.warning("Flink page: last redeploy runs not readable: %s", exc)
            runs = {}
        for name, run in runs.items():
            if name in observed:
                observed[name] = replace(observed[name], last_redeploy=run)
        now = clock()
        return build_rows(specs, observed, thresholds_for, now), now, timeout

    @pages.get("/api/jobs")
    def jobs_json(request: Request) -> JSONResponse:
        rows, now, timeout = rows_for(request)
        return JSONResponse(html.jobs_json_doc((row_to_json(r) for r in rows), generated_at=now, timeout=timeout),
                            headers={"Cache-Control": "no-store"})

    @pages.get("/", response_class=HTMLResponse)
    def jobs_page(request: Request) -> HTMLResponse:
        rows, now, timeout = rows_for(request)
        return HTMLResponse(html.jobs_page(rows, generated_at=now, refresh=ui_refresh(), timeout=timeout,
                                           base=_airflow_base(request), summary=counts(rows)),
                            headers={"Cache-Control": "no-store"})

    @pages.get("/redeploy/{job}", response_class=HTMLResponse)
    def redeploy_form(job: str, request: Request) -> HTMLResponse:
        catalogue = catalogue_access.load()
        if job not in {j.name for j in catalogue.streaming_jobs()}:
            return HTMLResponse(html.message_page("Unknown job", f"{job!r} is not a streaming job of the catalogue.",
                                                  ("Flink jobs", f"{_airflow_base(request)}/flink/")), status_code=404)
        rows, _, _ = rows_for(request, only=job)
        return HTMLResponse(html.redeploy_form(job, redeploy_param_specs(catalogue), rows[0],
                                               base=_airflow_base(request)), headers={"Cache-Control": "no-store"})

    @app.get("/static/flink.svg")
    def icon() -> Response:
        """The navigation icon: no data in it, and the UI loads it with the menu."""
        return Response(ICON, media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"})

    app.include_router(pages)

    @app.exception_handler(HTTPException)
    async def refused(request: Request, exc: HTTPException) -> Response:
        if request.url.path.rstrip("/").endswith("/api/jobs") or "text/html" not in request.headers.get("accept", ""):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        base = _airflow_base(request)
        return HTMLResponse(html.message_page("Sign in to Airflow", "The Flink page needs an Airflow login.",
                                              ("Sign in", f"{base}/")), status_code=exc.status_code)

    return app

