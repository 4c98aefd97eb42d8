"""PushgatewayHook: a Pushgateway URL (+ optional basic auth) from a standard `http` connection.

Connection `pushgateway_default` (type `http`): host `pushgateway.monitoring` (or a full URL
`http://pushgateway.monitoring:9091`), schema `http`/`https`, port `9091`, optional login/password.
The password goes only into the Authorization header; it is never logged or put in an error.
"""

from __future__ import annotations

from functools import cached_property

from airflow.sdk import BaseHook


def connection_url(host: str | None, schema: str | None, port: int | None) -> str:
    """Base URL from connection fields; a host that already is a URL wins over schema/port."""
    if not host:
        raise ValueError("pushgateway connection: 'host' is empty; set it to the gateway host or URL")
    if "://" in host:
        return host.rstrip("/")
    scheme = schema if schema in ("http", "https") else "http"
    return f"{scheme}://{host}" + (f":{port}" if port else "")


class PushgatewayHook(BaseHook):
    """Builds a `PushgatewayClient`; the connection is read on first use, not in `__init__`."""

    conn_name_attr = "pushgateway_conn_id"
    default_conn_name = "pushgateway_default"
    conn_type = "http"
    hook_name = "Prometheus Pushgateway"

    def __init__(self, pushgateway_conn_id: str = default_conn_name, url: str | None = None) -> None:
        super().__init__()
        self.pushgateway_conn_id = pushgateway_conn_id
        self._url = url

    @cached_property
    def _connection(self):
        return self.get_connection(self.pushgateway_conn_id)

    def base_url_and_auth(self) -> tuple[str, tuple[str, str] | None]:
        if self._url:
            return self._url, None
        conn = self._connection
        auth = (conn.login, conn.password or "") if conn.login else None
        return connection_url(conn.host, conn.schema, conn.port), auth

    def get_client(self, timeout: float = 10.0, attempts: int = 4, backoff: float = 0.5):
        from flink_k8s.clients.pushgateway import PushgatewayClient, RetryPolicy

        url, auth = self.base_url_and_auth()
        return PushgatewayClient(url, auth=auth, timeout=timeout, retry=RetryPolicy(attempts, backoff))
