"""FlinkKubernetesHook: builds the control plane of one namespace from a standard `kubernetes` connection.

The connection is read lazily (first use, never in `__init__`), the kubeconfig is handed to the Flink CLI
as a file path (contents given inline in the connection are written to a private temp file that is removed
on `close()`), and the API token is registered with Airflow's secret masker and the CLI's masker.
"""

from __future__ import annotations

import json
import os
import tempfile
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from flink_k8s import settings

if TYPE_CHECKING:  # pragma: no cover
    from flink_k8s.control_plane import FlinkControlPlane


class FlinkKubernetesHook(BaseHook):
    conn_name_attr = "kubernetes_conn_id"
    default_conn_name = "kubernetes_default"
    conn_type = "kubernetes"
    hook_name = "Flink on native Kubernetes"

    def __init__(
        self,
        kubernetes_conn_id: str = default_conn_name,
        namespace: str = "default",
        flink_home: str | None = None,
        rest_access: dict | None = None,
        request_timeout: float = 10.0,
    ) -> None:
        super().__init__()
        self.kubernetes_conn_id = kubernetes_conn_id
        self.namespace = namespace
        self.flink_home = flink_home or settings.flink_home()
        self.rest_access = rest_access or settings.rest_access_default()
        self.request_timeout = request_timeout
        self._tmp_kubeconfig: str | None = None

    @cached_property
    def kube_hook(self):
        from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook

        return KubernetesHook(conn_id=self.kubernetes_conn_id)

    @cached_property
    def api_client(self):
        client = self.kube_hook.api_client
        for secret in _credentials(client.configuration):
            _mask(secret)
        return client

    def kubeconfig_path(self) -> str | None:
        """A kubeconfig file for the Flink CLI (`-Dkubernetes.config.file`); None when running in-cluster."""
        get = self.kube_hook._get_field  # handles the legacy `extra__kubernetes__` prefix
        if get("in_cluster"):
            return None
        if path := get("kube_config_path"):
            return os.path.abspath(os.path.expanduser(path))
        if content := get("kube_config"):
            if self._tmp_kubeconfig is None:
                fd, path = tempfile.mkstemp(prefix="flink-k8s-kubeconfig-", suffix=".yaml")
                with os.fdopen(fd, "w") as fh:  # mkstemp: mode 0600, only this user can read it
                    fh.write(content if isinstance(content, str) else json.dumps(content))
                self._tmp_kubeconfig = path
            return self._tmp_kubeconfig
        return os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")

    @cached_property
    def control_plane(self) -> FlinkControlPlane:
        from flink_k8s.clients.flink_cli import FlinkCli
        from flink_k8s.clients.kube import KubeView
        from flink_k8s.control_plane import FlinkControlPlane, RestAccess

        api = self.api_client
        cli = FlinkCli(self.flink_home, secrets=_credentials(api.configuration), logger=self.log)
        return FlinkControlPlane(
            KubeView(api, self.namespace, request_timeout=self.request_timeout),
            cli=cli,
            kubeconfig_path=self.kubeconfig_path(),
            rest_access=RestAccess(**self.rest_access),
            rest_timeout=self.request_timeout,
        )

    def close(self) -> None:
        if self._tmp_kubeconfig:
            try:
                os.unlink(self._tmp_kubeconfig)
            except FileNotFoundError:
                pass
            self._tmp_kubeconfig = None

    def get_conn(self) -> Any:
        return self.control_plane


def _credentials(configuration) -> list[str]:
    """Every credential the client sends, with and without its `Bearer ` prefix.

    The kubernetes client keeps a kubeconfig token under `api_key["BearerToken"]` (older versions and
    in-cluster configs under `"authorization"`): take every value rather than guess the key.
    """
    found: list[str] = []
    for value in (getattr(configuration, "api_key", None) or {}).values():
        if value:
            found += [value, value.split(" ", 1)[-1]]
    return [v for v in dict.fromkeys(found) if v]


def _mask(secret: str) -> None:
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover - older SDKs
        return
    mask_secret(secret)
