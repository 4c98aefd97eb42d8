"""RBAC of include/k8s/, proven on the real API server's authorizer, with the identities a user deploys.

`flink-airflow` (what Airflow and the Flink CLI it runs talk to Kubernetes as) and `flink-sa` (what Flink's
own pods run as) must be able to do exactly what the flows need in their namespace, and be refused
everything else — secrets, other namespaces, cluster-scoped writes. Each refusal is a test: the real
authorizer's answer (`kubectl auth can-i`), a real request refused with 403, and, where the project makes
the call, a clear error naming the verb, resource and namespace instead of a traceback. The end-to-end
tests run as these same identities, so a verb missing from a Role fails them as it would fail production.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from flink_k8s.clients.kube import KubeApiError, KubeView
from tests.fixtures.paths import REPO

AIRFLOW_MAY = [
    ("create", "deployments"), ("get", "deployments"), ("patch", "deployments"), ("delete", "deployments"),
    ("get", "services"), ("list", "services"), ("create", "services"), ("update", "services"),
    ("get", "services/proxy"), ("create", "services/proxy"), ("patch", "services/proxy"),
    ("get", "configmaps"), ("list", "configmaps"), ("create", "configmaps"), ("update", "configmaps"),
    ("delete", "configmaps"), ("list", "pods"), ("get", "pods/log"),
]
FLINK_SA_MAY = [
    ("create", "pods"), ("delete", "pods"), ("list", "pods"), ("watch", "pods"),
    ("get", "configmaps"), ("list", "configmaps"), ("watch", "configmaps"), ("create", "configmaps"),
    ("update", "configmaps"), ("patch", "configmaps"), ("delete", "configmaps"),
    ("get", "deployments"), ("delete", "deployments"),
]


def can_i(k8s_api, verb: str, resource: str, *, namespace: str | None, as_user: str | None = None) -> str:
    # `can-i get services/proxy` would ask about `services`: a subresource needs --subresource.
    main, _, sub = resource.partition("/")
    args = ["auth", "can-i", verb, main] + ([f"--subresource={sub}"] if sub else [])
    args += ["-n", namespace] if namespace else []
    if as_user:
        done = k8s_api.kubectl(*args, f"--as={as_user}", admin=True, check=False)
    else:
        done = k8s_api.kubectl(*args, check=False)
    return done.stdout.strip()


def airflow_client(k8s_api) -> client.ApiClient:
    return config.new_client_from_config(str(k8s_api.kubeconfig))


# ---- flink-airflow ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("verb", "resource"), AIRFLOW_MAY)
def test_airflow_identity_may_do_what_the_flows_need(k8s_api, verb, resource):
    assert can_i(k8s_api, verb, resource, namespace=k8s_api.namespace) == "yes"


def test_airflow_identity_may_list_nodes_for_nodeport_access(k8s_api):
    view = KubeView(airflow_client(k8s_api), k8s_api.namespace)
    assert view.node_address("ExternalIP") == "10.244.0.1"  # the local node's address, read as flink-airflow


@pytest.mark.parametrize(("verb", "resource"), [("get", "secrets"), ("list", "secrets"), ("create", "pods"),
                                                ("delete", "pods"), ("create", "roles"), ("list", "deployments")])
def test_airflow_identity_is_refused_in_its_namespace(k8s_api, verb, resource):
    assert can_i(k8s_api, verb, resource, namespace=k8s_api.namespace) == "no"


def test_airflow_reading_a_secret_gets_a_real_403(k8s_api):
    k8s_api.core.create_namespaced_secret(k8s_api.namespace, {"metadata": {"name": "db"},
                                                              "stringData": {"password": "hunter2"}})
    with pytest.raises(ApiException) as err:
        client.CoreV1Api(airflow_client(k8s_api)).read_namespaced_secret("db", k8s_api.namespace)
    assert err.value.status == 403
    assert "hunter2" not in str(err.value)


@pytest.mark.parametrize(("verb", "resource"), [("get", "configmaps"), ("list", "pods"),
                                                ("create", "deployments"), ("get", "services/proxy")])
def test_airflow_identity_is_refused_in_other_namespaces(k8s_api, verb, resource):
    assert can_i(k8s_api, verb, resource, namespace="default") == "no"


def test_another_namespace_is_a_clear_project_error(k8s_api):
    """The project's Kubernetes view surfaces the 403: verb, resource and namespace, no response body."""
    view = KubeView(airflow_client(k8s_api), "default")
    with pytest.raises(KubeApiError) as err:
        view.configmap("flink-config-x")
    message = str(err.value)
    assert err.value.status == 403
    assert 'cannot get resource "configmaps"' in message and 'namespace "default"' in message, message
    assert err.value.__cause__ is None and err.value.__suppress_context__


@pytest.mark.parametrize(("verb", "resource"), [("create", "namespaces"), ("delete", "namespaces"),
                                                ("patch", "nodes"), ("create", "clusterrolebindings"),
                                                ("create", "persistentvolumes")])
def test_airflow_identity_is_refused_cluster_scoped_writes(k8s_api, verb, resource):
    assert can_i(k8s_api, verb, resource, namespace=None) == "no"


def test_creating_a_namespace_gets_a_real_403(k8s_api):
    with pytest.raises(ApiException) as err:
        client.CoreV1Api(airflow_client(k8s_api)).create_namespace({"metadata": {"name": "not-allowed"}})
    assert err.value.status == 403


def test_cli_in_a_namespace_it_may_not_use_says_why_without_a_traceback(k8s_api, tmp_path):
    """`python -m flink_k8s status` for a job in a namespace the account has no Role in: exit 1, one line."""
    catalogue = tmp_path / "flink_jobs.yaml"
    catalogue.write_text(textwrap.dedent("""
        defaults: {flink_version: "2.3", namespace: default, service_account: flink-sa, image: "flink:{release}"}
        jobs:
          stream: {kind: streaming, upgrade_mode: stateless, jar_uri: "local:///opt/flink/usrlib/s.jar"}
        """))
    done = subprocess.run([sys.executable, "-m", "flink_k8s", "status", "stream", "--catalogue", str(catalogue),
                           "--kubeconfig", str(k8s_api.kubeconfig)], capture_output=True, text=True, timeout=120,
                          cwd=REPO)
    assert done.returncode == 1, done
    assert "Traceback" not in done.stderr
    assert "forbidden" in done.stderr.lower() and 'namespace "default"' in done.stderr, done.stderr
    assert "cannot get resource" in done.stderr or "cannot list resource" in done.stderr, done.stderr
    token = yaml.safe_load(k8s_api.kubeconfig.read_text())["users"][0]["user"]["token"]
    assert token not in done.stderr and token not in done.stdout


# ---- flink-sa (Flink's own pods) ----------------------------------------------------------------------


@pytest.mark.parametrize(("verb", "resource"), FLINK_SA_MAY)
def test_flink_pods_may_do_what_flink_needs(k8s_api, verb, resource):
    sa = f"system:serviceaccount:{k8s_api.namespace}:flink-sa"
    assert can_i(k8s_api, verb, resource, namespace=k8s_api.namespace, as_user=sa) == "yes"


@pytest.mark.parametrize(("verb", "resource", "namespace"), [
    ("get", "secrets", None), ("create", "deployments", None), ("create", "services", None),
    ("create", "pods/exec", None), ("list", "pods", "default"), ("get", "configmaps", "kube-system"),
])
def test_flink_pods_are_refused_the_rest(k8s_api, verb, resource, namespace):
    sa = f"system:serviceaccount:{k8s_api.namespace}:flink-sa"
    assert can_i(k8s_api, verb, resource, namespace=namespace or k8s_api.namespace, as_user=sa) == "no"
