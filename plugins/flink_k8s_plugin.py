"""Airflow plugin: the Flink page (`/flink/`) inside the Airflow 3 UI, with its JSON at `/flink/api/jobs`.

Airflow imports every plugin module in every component (API server, scheduler, each task process), so this file
stays thin: no FastAPI app is built and nothing of `flink_k8s` (nor `kubernetes`) is imported until the API
server serves the first `/flink` request (`flink_k8s/ui/app.py` has the routes). The navigation entry shows the
page inside the UI's frame (`url_route`), at `/plugin/flink`.
"""

from __future__ import annotations

import threading

from airflow.plugins_manager import AirflowPlugin


class LazyFlinkApp:
    """An ASGI app that builds the real FastAPI app on its first request."""

    def __init__(self) -> None:
        self._app = None
        self._lock = threading.Lock()

    def _build(self):
        with self._lock:
            if self._app is None:
                from flink_k8s.ui.app import create_app

                self._app = create_app()
        return self._app

    async def __call__(self, scope, receive, send) -> None:
        app = self._app
        if app is None:  # the first import takes a moment: off the event loop
            from starlette.concurrency import run_in_threadpool

            app = await run_in_threadpool(self._build)
        await app(scope, receive, send)


class FlinkK8sPlugin(AirflowPlugin):
    name = "flink_k8s"
    fastapi_apps = [{"app": LazyFlinkApp(), "url_prefix": "/flink", "name": "Flink jobs"}]
    external_views = [{
        "name": "Flink",
        "href": "/flink/",
        "url_route": "flink",
        "destination": "nav",
        "nav_top_level": True,
        "icon": "/flink/static/flink.svg",
    }]
