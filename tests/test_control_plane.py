"""The control plane (KubeView, Flink REST via the service proxy, the job ledger, health) and the ops CLI.

Fast tests run on the real API server (tests/kube/controlplane.py) as the namespace's `flink-airflow` service
account, with hand-made objects shaped like what Flink 2.3 writes: the real ReplicaSet controller creates the
JobManager pod, the garbage collector removes what a deleted Deployment owned, the real service proxy answers.
Those pods carry a scheduling gate (tests/fixtures/kube_faults.py): no kubelet runs them, and their status is
written the way a kubelet would. Faults are real too: an admission webhook that cannot be called makes the API
server answer 500, a dead address never answers, RBAC refuses with 403, a concurrent writer causes a 409.
Slow tests run real Flink 2.3.0 JobManagers/TaskManagers on the native-Kubernetes harness; DAG-level redeploys
live in test_dags_native.py, so these focus on the client calls themselves, combined into few cluster
lifecycles (each costs a minute).
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from flink_k8s.clients.flink_rest import FlinkRestClient, FlinkRestError
from flink_k8s.clients.http_retry import RetryPolicy as RestRetry
from flink_k8s.clients.kube import KubeApiError, KubeError, KubeUnavailable, KubeView, RetryPolicy
from flink_k8s.control_plane import FlinkControlPlane, RestAccess
from flink_k8s.core import ledger as L
from flink_k8s.core.health import Verdict
from flink_k8s.core.redeploy import RedeployProgress
from tests.fixtures.kube_faults import (
    WebhookServer,
    admission_webhook,
    airflow_client,
    black_hole,
    closed_port_url,
    not_scheduled,
    pod_running_status,
    sa_user,
    token_of,
    with_server,
)
from tests.fixtures.paths import PLUGINS, REPO
from tests.fixtures.procs import free_port, wait_until
from tests.kube import audit, controlplane

JOB_ID = "00000000002efde30000000000000000"
LEADER = "control-plane.alpha.kubernetes.io/leader"


# -- helpers -------------------------------------------------------------------------------------------------

def _now_rfc3339(delta: timedelta = timedelta(0)) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def flink_labels(cluster_id: str, component: str | None = None) -> dict[str, str]:
    labels = {"app": cluster_id, "type": "flink-native-kubernetes"}
    if component:
        labels["component"] = component
    return labels


def make_cluster(api, cluster_id: str, *, deployment: bool = True, ha: bool = True, rest_service: bool = True,
                 leader_age: timedelta = timedelta(seconds=2)) -> str | None:
    """Objects as Flink 2.3's native deployment + Kubernetes HA leave them (names, labels, keys), created as admin.

    The Deployment's ReplicaSet creates the JobManager pod (its name is returned); the TaskManager pod is
    created as Flink's resource manager does, owned by the Deployment. Both pods are gated (never scheduled)
    and get a Running/ready status, so the real controllers report the Deployment available.
    """
    ns = api.namespace
    jm_name = None
    if deployment:
        jm_labels = flink_labels(cluster_id, "jobmanager")
        container = {"containers": [{"name": "flink-main-container", "image": "flink:1"}]}
        dep = api.apps.create_namespaced_deployment(ns, {
            "metadata": {"name": cluster_id, "labels": jm_labels},
            "spec": {"replicas": 1, "selector": {"matchLabels": jm_labels},
                     "template": {"metadata": {"labels": jm_labels}, "spec": not_scheduled(container)}}})
        owner = [{"apiVersion": "apps/v1", "kind": "Deployment", "name": cluster_id, "uid": dep.metadata.uid,
                  "controller": True, "blockOwnerDeletion": True}]
        tm_name = f"{cluster_id}-taskmanager-1-1"
        api.core.create_namespaced_pod(ns, {
            "metadata": {"name": tm_name, "labels": flink_labels(cluster_id, "taskmanager"), "ownerReferences": owner},
            "spec": not_scheduled(container)})
        selector = ",".join(f"{k}={v}" for k, v in jm_labels.items())
        (jm_pod,) = wait_until(lambda: api.core.list_namespaced_pod(ns, label_selector=selector).items, 30,
                               f"the ReplicaSet controller to create the JobManager pod of {cluster_id}")
        jm_name = jm_pod.metadata.name
        for name in (jm_name, tm_name):
            api.core.patch_namespaced_pod_status(name, ns, pod_running_status())
        wait_until(lambda: (api.apps.read_namespaced_deployment(cluster_id, ns).status.available_replicas or 0) == 1,
                   30, f"the Deployment controller to report {cluster_id} available")
    if rest_service:
        api.core.create_namespaced_service(ns, {  # as Flink creates it: selects the JobManager pod
            "metadata": {"name": f"{cluster_id}-rest", "labels": flink_labels(cluster_id)},
            "spec": {"type": "ClusterIP", "selector": flink_labels(cluster_id, "jobmanager"),
                     "ports": [{"name": "rest", "port": 8081, "targetPort": 8081}]}})
    api.core.create_namespaced_config_map(ns, {  # not an HA ConfigMap: same labels, must never be touched
        "metadata": {"name": f"flink-config-{cluster_id}", "labels": flink_labels(cluster_id)},
        "data": {"config.yaml": "a: b"}})
    if ha:
        record = {"holderIdentity": "jm-1", "leaseDuration": "PT15S", "acquireTime": _now_rfc3339(-leader_age),
                  "renewTime": _now_rfc3339(-leader_age), "leaderTransitions": 0}
        api.core.create_namespaced_config_map(ns, {
            "metadata": {"name": f"{cluster_id}-cluster-config-map", "labels": flink_labels(cluster_id),
                         "annotations": {LEADER: json.dumps(record)}},
            "data": {"org.apache.flink.k8s.leader.dispatcher": "s1,pekko.tcp://flink@10.0.0.1:6123/user/dispatcher",
                     "org.apache.flink.k8s.leader.restserver": "s2,http://10.0.0.1:8081",
                     f"executionPlan-{JOB_ID}": base64.b64encode(b"graph").decode()}})
        api.core.create_namespaced_config_map(ns, {
            "metadata": {"name": f"{cluster_id}-{JOB_ID}-config-map", "labels": flink_labels(cluster_id)},
            "data": {"counter": "8", "checkpointID-0000000000000000007": base64.b64encode(b"pointer").decode()}})
    return jm_name


def configmap_names(api) -> set[str]:
    return {cm.metadata.name for cm in api.core.list_namespaced_config_map(api.namespace).items}


def kube_view(api, **kwargs) -> KubeView:
    """The project's view of the test namespace, as the product runs: the flink-airflow service account."""
    return KubeView(airflow_client(api), api.namespace, **kwargs)


def control_plane(api, **kwargs) -> FlinkControlPlane:
    return FlinkControlPlane(kube_view(api, retry=RetryPolicy(attempts=2, first_delay=0.05), request_timeout=5),
                             **kwargs)


def write_catalogue(path: Path, namespace: str, jobs: str) -> Path:
    path.write_text(textwrap.dedent(f"""
        defaults:
          flink_version: "2.3"
          namespace: {namespace}
          service_account: flink-sa  # Flink's pods need include/k8s/20-role-flink-native.yaml (HA, TaskManagers)
          image: "flink-test:{{release}}"
          parallelism: 1
          jobmanager: {{cpu: 0.5, process_memory: 1024m}}
          taskmanager: {{cpu: 0.5, slots: 1, process_memory: 1280m}}
          rest_service: {{exposed_type: ClusterIP}}
        jobs:
        """) + textwrap.indent(textwrap.dedent(jobs), "  "))
    return path


def run_ops(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k not in ("FLINK_HOME", "KUBECONFIG", "FLINK_K8S_CATALOGUE")}
    full_env.update({"PYTHONPATH": str(PLUGINS), **(env or {})})
    return subprocess.run([sys.executable, "-m", "flink_k8s", *args], cwd=REPO, env=full_env, capture_output=True,
                          text=True, timeout=120)


def airflow_requests(api, since: int, verb: str, resource: str) -> list[audit.AuditEvent]:
    """What the API server's audit log holds of flink-airflow's `verb resource` calls in the namespace."""
    return [e for e in audit.events(api.cluster.audit_log, since, api.namespace)
            if e.user == sa_user(api.namespace) and e.verb == verb and e.resource == resource]


# -- fast: KubeView, proxy target -------------------------------------------------------------

def test_kube_view_reads_and_cleans_up_what_flink_leaves(k8s_api):
    jm_pod = make_cluster(k8s_api, "demo")
    make_cluster(k8s_api, "demo2", deployment=False)  # another cluster's objects must never be touched
    view = kube_view(k8s_api)

    assert view.deployment("demo")["metadata"]["name"] == "demo"
    assert view.deployment("nope") is None
    assert sorted(p["metadata"]["name"] for p in view.pods("demo")) == sorted([jm_pod, "demo-taskmanager-1-1"])
    assert [s["metadata"]["name"] for s in view.services("demo")] == ["demo-rest"]
    assert sorted(c["metadata"]["name"] for c in view.ha_configmaps("demo")) == [
        f"demo-{JOB_ID}-config-map", "demo-cluster-config-map"]  # flink-config-demo is not HA state
    assert view.cluster_exists("demo") and not view.cluster_exists("demo2")
    assert view.node_address("ExternalIP") == controlplane.NODE_IP  # the local node, listed as flink-airflow
    assert view.pod_log_tail("no-such-pod") == ""

    # last-state clean-up: only the job-graph key goes, leader keys and checkpoint pointers stay
    assert view.strip_job_graph("demo") == [f"executionPlan-{JOB_ID}"]
    assert view.strip_job_graph("demo") == []  # idempotent
    cluster_map = view.configmap("demo-cluster-config-map")
    assert f"executionPlan-{JOB_ID}" not in cluster_map["data"]
    assert "org.apache.flink.k8s.leader.dispatcher" in cluster_map["data"]
    assert LEADER in cluster_map["metadata"]["annotations"]
    assert "checkpointID-0000000000000000007" in view.configmap(f"demo-{JOB_ID}-config-map")["data"]

    assert view.delete_deployment("demo") is True
    view.wait_gone("demo", timeout=30)  # foreground deletion: the Deployment goes after what it owns
    assert view.delete_deployment("demo") is False
    # the garbage collector removes the ReplicaSet's JobManager pod and the TaskManager pod the Deployment owned
    wait_until(lambda: view.pods("demo") == [], 30, "the garbage collector to delete the cluster's pods")

    # savepoint/stateless clean-up: every HA map of this cluster, nothing else
    assert sorted(view.delete_ha_configmaps("demo")) == [f"demo-{JOB_ID}-config-map", "demo-cluster-config-map"]
    assert configmap_names(k8s_api) >= {"flink-config-demo", "demo2-cluster-config-map", f"demo2-{JOB_ID}-config-map"}
    assert not any(n.startswith("demo-") for n in configmap_names(k8s_api))


def test_wait_gone_times_out_naming_the_cluster(k8s_api):
    make_cluster(k8s_api, "stuck", ha=False)
    with pytest.raises(KubeError, match=r"cluster 'stuck' still exists after 0s .*namespace"):
        kube_view(k8s_api).wait_gone("stuck", timeout=0.2, poll=0.05)


HOLD = "flink-k8s-airflow.test/node-has-not-confirmed"


def test_jobmanager_is_stopped_before_the_deployment_is_deleted(k8s_api):
    """Scale to 0, wait for the JobManager pod, and only then delete. The real ReplicaSet controller deletes the
    pod; a finalizer keeps it Terminating (as a pod whose node has not confirmed the stop) until released."""
    jm_pod = make_cluster(k8s_api, "demo", ha=False)
    ns = k8s_api.namespace
    k8s_api.core.patch_namespaced_pod(jm_pod, ns, {"metadata": {"finalizers": [HOLD]}})
    view = kube_view(k8s_api)
    try:
        assert view.scale_jobmanager_to_zero("demo") is True
        assert k8s_api.apps.read_namespaced_deployment("demo", ns).spec.replicas == 0
        wait_until(lambda: k8s_api.core.read_namespaced_pod(jm_pod, ns).metadata.deletion_timestamp, 30,
                   "the ReplicaSet controller to delete the JobManager pod")
        assert [p["metadata"]["name"] for p in view.jobmanager_pods("demo")] == [jm_pod]
        with pytest.raises(KubeError, match=rf"JobManager pod\(s\) {jm_pod} of cluster 'demo' still exist .*"
                                            r"nothing was deleted"):
            view.wait_jobmanager_stopped("demo", timeout=0.2, poll=0.05)
        assert view.deployment("demo") is not None and view.pods("demo")  # the refusal touched nothing
    finally:
        k8s_api.core.patch_namespaced_pod(jm_pod, ns, {"metadata": {"finalizers": None}})  # the node confirms
    view.wait_jobmanager_stopped("demo", timeout=30)
    assert view.scale_jobmanager_to_zero("nope") is False  # a cluster already gone is fine


def test_rest_proxy_target_uses_the_service_port_and_the_api_credentials(k8s_api, monkeypatch):
    # A system CA bundle in the environment (common in images) must not replace the API server's CA.
    import certifi

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    make_cluster(k8s_api, "demo", ha=False)
    token = token_of(k8s_api.kubeconfig)  # a real TokenRequest token of flink-airflow
    target = kube_view(k8s_api).rest_proxy_target("demo")
    assert target.base_url == f"{k8s_api.url}/api/v1/namespaces/{k8s_api.namespace}/services/demo-rest:8081/proxy"
    assert target.headers == {"authorization": f"Bearer {token}"}
    assert token not in repr(target)
    # The API server accepts these credentials (no 401/403) and answers for the Service itself: its JobManager
    # pod runs on no node and has no IP, so the EndpointSlice controller published no endpoint -> 503.
    rest = FlinkRestClient(target.base_url, headers=target.headers, verify=target.verify, cert=target.cert,
                           retry=RestRetry(attempts=1), timeout=5)
    with pytest.raises(FlinkRestError) as err:
        rest.version()
    assert err.value.status == 503 and "no endpoints available" in str(err.value), str(err.value)
    assert token not in str(err.value) and token not in repr(rest)
    with pytest.raises(KubeError, match="service nope-rest not found"):
        kube_view(k8s_api).rest_proxy_target("nope")


# -- fast: refusals of the real API server ---------------------------------------------------------------------

def test_refusals_name_the_call_and_the_namespace(k8s_api, tmp_path):
    """403 from the real authorizer and 409 from a real concurrent writer surface as KubeApiError naming the
    call (verb, resource) and the namespace, without the token or the response body."""
    make_cluster(k8s_api, "demo", deployment=False, rest_service=False)
    ns = k8s_api.namespace

    # 403: Flink's own identity (flink-sa) has no right to list Services (include/k8s/20-role-flink-native.yaml)
    flink_sa = controlplane.token_kubeconfig(k8s_api.cluster, tmp_path / "flink-sa.kubeconfig",
                                             controlplane.request_token(k8s_api.cluster, ns, "flink-sa", "1h"),
                                             ns, "flink-sa")
    with pytest.raises(KubeApiError) as forbidden:
        KubeView(config.new_client_from_config(str(flink_sa)), ns).services("demo")
    message = str(forbidden.value)
    assert forbidden.value.status == 403
    assert f"Kubernetes API refused list services of demo in namespace {ns!r}: HTTP 403 Forbidden" in message
    assert 'cannot list resource "services"' in message, message
    assert token_of(flink_sa) not in message
    assert forbidden.value.__cause__ is None and forbidden.value.__suppress_context__

    # 409: a JobManager writes its HA map while the last-state clean-up replaces it. The admission webhook only
    # times that write deterministically (it runs between the API server's read and its write of our update).
    cluster_map = "demo-cluster-config-map"
    admin = k8s_api.core

    def jobmanager_renews_its_lease(request: dict) -> None:
        if not request.get("dryRun") and request.get("name") == cluster_map:
            admin.patch_namespaced_config_map(cluster_map, ns, {"metadata": {"annotations": {
                "renewed-by-jobmanager": _now_rfc3339()}}})

    sa = client.CoreV1Api(airflow_client(k8s_api))

    def applied(hook: WebhookServer) -> bool:
        seen = len(hook.reviews)
        body = sa.read_namespaced_config_map("probe-target", ns)
        sa.replace_namespaced_config_map("probe-target", ns, body, dry_run="All")
        return len(hook.reviews) > seen

    admin.create_namespaced_config_map(ns, {"metadata": {"name": "probe-target"}})
    view = kube_view(k8s_api)
    with WebhookServer(jobmanager_renews_its_lease) as hook, \
            admission_webhook(k8s_api, resources=["configmaps"], operations=["UPDATE"], user=sa_user(ns),
                              url=hook.url, ca_bundle=hook.ca_bundle, probe=lambda: applied(hook)):
        with pytest.raises(KubeApiError) as conflict:
            view.strip_job_graph("demo")
    message = str(conflict.value)
    assert conflict.value.status == 409
    assert f"Kubernetes API refused replace configmap {cluster_map} in namespace {ns!r}: HTTP 409 Conflict" in message
    after = admin.read_namespaced_config_map(cluster_map, ns)
    assert f"executionPlan-{JOB_ID}" in after.data  # refused, not overwritten: the job graph is still there …
    assert "renewed-by-jobmanager" in after.metadata.annotations  # … and so is the JobManager's write
    assert view.strip_job_graph("demo") == [f"executionPlan-{JOB_ID}"]  # a retry (the task re-run) succeeds


# -- fast: observation and health without a JobManager -------------------------------------------------------

def test_observe_reads_ha_facts_and_unreachable_rest_is_reported_not_raised(k8s_api):
    make_cluster(k8s_api, "demo")
    cp = control_plane(k8s_api)
    obs = cp.observe("demo")  # `<id>-rest` exists but has no endpoint: the API server's proxy answers 503
    assert obs.deployment.available and sorted(p.component for p in obs.pods) == ["jobmanager", "taskmanager"]
    assert obs.ha.leader_holder == "jm-1" and obs.ha.checkpoint_counter == 8
    assert obs.ha.latest_checkpoint_id == 7 and obs.ha.job_graph_keys == (f"executionPlan-{JOB_ID}",)
    assert obs.ha.leader_addresses["restserver"] == "http://10.0.0.1:8081"
    assert obs.job is None and "503" in obs.rest_error
    report = cp.health(_job_spec("demo", k8s_api.namespace))
    assert report.verdict is Verdict.UNHEALTHY
    assert "rest_unreachable" in {r.code for r in report.reasons}

    # a direct URL nobody listens on: connection refused, bounded retries, still an observation
    refused = control_plane(k8s_api, rest_access=RestAccess("url", f"http://127.0.0.1:{free_port()}"),
                            rest_timeout=1)
    obs = refused.observe("demo")
    assert obs.rest_error and "no answer after" in obs.rest_error and obs.deployment is not None


def test_missing_cluster_with_stale_ha_configmaps_is_missing_and_says_why(k8s_api):
    make_cluster(k8s_api, "gone", deployment=False, rest_service=False)
    cp = control_plane(k8s_api)
    report = cp.health(_job_spec("gone", k8s_api.namespace))
    assert report.verdict is Verdict.MISSING
    assert "stale HA ConfigMaps still hold a job graph" in report.summary


def test_health_many_of_many_missing_clusters_and_one_present(k8s_api):
    make_cluster(k8s_api, "real", ha=False)
    base = _job_spec("real", k8s_api.namespace)
    jobs = [base] + [replace(base, name=f"j{i}", cluster_id=f"missing-{i}") for i in range(40)]
    reports = control_plane(k8s_api).health_many(jobs)
    assert len(reports) == 41
    assert {r.verdict for n, r in reports.items() if n != "real"} == {Verdict.MISSING}
    assert reports["real"].verdict is Verdict.UNHEALTHY  # REST not served: unhealthy, not missing


# -- fast: faults of the Kubernetes API ----------------------------------------------------------------------

def test_api_5xx_and_timeouts_end_in_kube_unavailable_after_bounded_retries(k8s_api, tmp_path, capsys):
    """Two real faults. (1) The API server answers 500 to every write of flink-airflow: the validating admission
    webhook it must call is down (`failed calling webhook`). (2) The API address accepts connections and never
    answers (a dead or partitioned API server). Both end in KubeUnavailable after exactly the retry budget."""
    make_cluster(k8s_api, "x", ha=False, rest_service=False)
    ns = k8s_api.namespace
    view = kube_view(k8s_api, retry=RetryPolicy(attempts=3, first_delay=0.01), request_timeout=5)
    sa_apps = client.AppsV1Api(airflow_client(k8s_api))

    def webhook_in_effect() -> bool:
        try:
            sa_apps.patch_namespaced_deployment("x", ns, {"metadata": {"labels": {"probe": "1"}}}, dry_run="All")
        except ApiException as exc:
            return exc.status == 500
        return False

    with admission_webhook(k8s_api, resources=["deployments"], api_group="apps", operations=["UPDATE"],
                           user=sa_user(ns), url=closed_port_url(), probe=webhook_in_effect):
        since = audit.mark(k8s_api.cluster.audit_log)
        with pytest.raises(KubeUnavailable, match=r"scale deployment x to 0 after 3 attempts: \(500\)"):
            view.scale_jobmanager_to_zero("x")
        client.CoreV1Api(airflow_client(k8s_api)).list_namespaced_config_map(ns)  # a marker, logged after them
        wait_until(lambda: airflow_requests(k8s_api, since, "list", "configmaps"), 10, "the audit log to catch up")
        patches = [e for e in airflow_requests(k8s_api, since, "patch", "deployments") if e.name == "x"]
    assert [e.code for e in patches] == [500, 500, 500]  # exactly the budget, no hidden retries
    assert k8s_api.apps.read_namespaced_deployment("x", ns).spec.replicas == 1  # nothing was changed

    with black_hole() as (address, accepted):
        dead_kubeconfig = with_server(k8s_api.kubeconfig, tmp_path / "dead.kubeconfig", f"http://{address}")
        dead = KubeView(config.new_client_from_config(str(dead_kubeconfig)), ns,
                        retry=RetryPolicy(attempts=3, first_delay=0.01), request_timeout=0.3)
        with pytest.raises(KubeUnavailable, match=r"get deployment slow after 3 attempts: .*[Tt]imed out"):
            dead.deployment("slow")
        assert len(accepted) == 3  # urllib3's silent per-request retries are off

        # many clusters at once: an unobservable cluster is UNHEALTHY (observation_failed), never MISSING
        cp = FlinkControlPlane(dead)
        job = _job_spec("x", ns)
        reports = cp.health_many([job, replace(job, name="y", cluster_id="y")])
        assert {r.verdict for r in reports.values()} == {Verdict.UNHEALTHY}
        assert {r.reasons[0].code for r in reports.values()} == {"observation_failed"}

        # the ops CLI says the check failed (exit 5), not that the job is unhealthy or missing
        catalogue = write_catalogue(tmp_path / "c.yaml", ns, """
            x:
              kind: streaming
              upgrade_mode: savepoint
              savepoint_dir: file:///tmp/savepoints
              jar_uri: local:///opt/flink/usrlib/x.jar
            """)
        code, out, err = ops_in_process(capsys, "health", "x", "--catalogue", str(catalogue), "--kubeconfig",
                                        str(dead_kubeconfig), "--timeout", "0.5")
        assert code == 5, out + err
        assert "after 4 attempts" in err and out == ""
        assert token_of(k8s_api.kubeconfig) not in err


# -- fast: the ops command line ------------------------------------------------------------------------------

@pytest.fixture
def ops_catalogue(k8s_api, tmp_path) -> Path:
    return write_catalogue(tmp_path / "flink_jobs.yaml", k8s_api.namespace, """
        stream:
          kind: streaming
          upgrade_mode: savepoint
          savepoint_dir: file:///tmp/savepoints
          cluster_id: stream-1
          jar_uri: local:///opt/flink/usrlib/stream.jar
          savepoints_to_keep: 2
        """)


@pytest.mark.parametrize(("args", "message"), [
    (["health", "nope"], "nope"),
    (["status", "stream", "--kubeconfig", "/no/such/kubeconfig"], "--kubeconfig='/no/such/kubeconfig'"),
    (["list", "stream", "--rest-access", "ftp://x"], "--rest-access='ftp://x'"),
    (["list", "stream", "--rest-access", "http://{cluster}:8081"], "only {cluster_id} and {namespace}"),
    (["savepoints", "stream", "--catalogue", "/no/such/catalogue.yaml"], "/no/such/catalogue.yaml"),
    (["status", "stream", "--context", "no-such-context"], "no-such-context"),
])
def test_ops_cli_invalid_input_exits_2_naming_the_value(ops_catalogue, k8s_api, capsys, args, message):
    extra = [] if "--catalogue" in args else ["--catalogue", str(ops_catalogue)]
    extra += [] if "--kubeconfig" in args else ["--kubeconfig", str(k8s_api.kubeconfig)]
    code, _, err = ops_in_process(capsys, *args, *extra)
    assert code == 2, err
    assert message in err


def test_ops_cli_usage_errors_exit_2():
    from flink_k8s.cli import main

    with pytest.raises(SystemExit) as no_job:
        main(["health"])
    with pytest.raises(SystemExit) as bad_timeout:
        main(["status", "x", "--timeout", "soon"])
    assert no_job.value.code == bad_timeout.value.code == 2


def ops_in_process(capsys, *argv: str) -> tuple[int, str, str]:
    """The CLI entry in this interpreter (the `kubernetes` import alone costs seconds per subprocess here)."""
    from flink_k8s.cli import main

    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_ops_cli_on_a_missing_cluster_with_recorded_savepoints(ops_catalogue, k8s_api, capsys, monkeypatch):
    store = FlinkControlPlane(kube_view(k8s_api)).ledger_store
    store.update("stream-1", lambda led: L.remember_savepoint(led, "file:///sp/savepoint-1",
                                                              datetime(2026, 1, 1, tzinfo=UTC)))
    common = ["--catalogue", str(ops_catalogue)]
    env = {"KUBECONFIG": str(k8s_api.kubeconfig)}  # default kubeconfig location honoured
    monkeypatch.setenv("KUBECONFIG", str(k8s_api.kubeconfig))

    health = run_ops("health", "stream", *common, "--json", env=env)  # once as a user runs it
    assert health.returncode == 4, health.stderr
    assert json.loads(health.stdout)["verdict"] == "MISSING"
    code, out, err = ops_in_process(capsys, "status", "stream", *common)
    assert code == 0, err
    assert "Deployment: absent" in out and "HA: no HA ConfigMaps" in out
    code, out, err = ops_in_process(capsys, "list", "stream", *common)
    assert code == 1 and "does not exist" in err
    code, out, err = ops_in_process(capsys, "savepoints", "stream", *common, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert [h["path"] for h in data["history"]] == ["file:///sp/savepoint-1"] and data["keep"] == 2
    assert "does not exist" in data["flink"]["rest_error"]


def _job_spec(cluster_id: str, namespace: str, **health):
    from flink_k8s.core.catalogue_schema import HealthSpec, JobSpec

    return JobSpec(name=cluster_id, kind="streaming", cluster_id=cluster_id, namespace=namespace,
                   jar_uri="local:///opt/flink/usrlib/x.jar", health=HealthSpec(**health))


# -- slow: real JobManagers/TaskManagers on the native-Kubernetes harness ------------------------------------

def _native_setup(native_k8s, tmp_path, streaming_job_jar, failing_job_jar):
    from flink_k8s.clients.flink_cli import FlinkCli
    from flink_k8s.core.catalogue import load_catalogue
    from tests.fixtures.paths import FLINK_23

    ns = native_k8s.api.namespace
    native_k8s.add_jar("streaming.jar", streaming_job_jar)
    native_k8s.add_jar("failing.jar", failing_job_jar)
    out = tmp_path / "out"
    catalogue = write_catalogue(tmp_path / "flink_jobs.yaml", ns, f"""
        stream:
          kind: streaming
          upgrade_mode: savepoint
          cluster_id: cp-{ns[-6:]}
          jar_uri: local:///opt/flink/usrlib/streaming.jar
          program_args: [--output, "{out}/a", --rate, "20", --checkpoint-interval-ms, "1000"]
          restart_strategy: {{type: fixed-delay, attempts: 1000, delay: 1s}}
          high_availability: {{enabled: true, storage_dir: "hdfs://datacluster/flink/recovery"}}
          checkpointing: {{dir: "hdfs://datacluster/flink/checkpoints", interval: 1s, timeout: 3s,
                          tolerable_failures: 2}}
          savepoint_dir: hdfs://datacluster/flink/savepoints/stream
          savepoints_to_keep: 1
        restarting:
          kind: streaming
          upgrade_mode: stateless
          cluster_id: rs-{ns[-6:]}
          jar_uri: local:///opt/flink/usrlib/failing.jar
          program_args: [--fail-after, "5", --rate, "10", --restart-attempts, "1000", --restart-delay-ms, "300"]
          health: {{max_restarts: 2}}
        """)
    cp = FlinkControlPlane(KubeView(airflow_client(native_k8s.api), ns), cli=FlinkCli(FLINK_23),
                           kubeconfig_path=str(native_k8s.api.kubeconfig))
    return cp, load_catalogue(catalogue), catalogue, out


def _lines(path: Path) -> int:
    return sum(len(p.read_text().splitlines()) for p in path.glob("part-*.txt")) if path.is_dir() else 0


def _local(path: str) -> Path:
    """A savepoint location as the harness JobManager reports it (hdfs:// mapped to file://)."""
    assert path.startswith("file:"), path
    return Path(re.sub(r"^file:(//)?", "", path))


@pytest.mark.slow
def test_ha_job_through_the_control_plane(native_k8s, tmp_path, streaming_job_jar, failing_job_jar, capsys):
    """One HA cluster's life: observe, health, REST via the service proxy, JobManager killed and recovered,
    savepoint redeploy with retention, the stale-HA trap, stalled checkpoints, savepoint timeout, delete."""
    import signal

    from flink_k8s.clients.flink_rest import SavepointFailed, SavepointTimeout
    from flink_k8s.core.redeploy import RedeployRequest, StepKind, UpgradeMode
    from tests.fixtures.procs import wait_until

    cp, catalogue, catalogue_path, out = _native_setup(native_k8s, tmp_path, streaming_job_jar, failing_job_jar)
    job = catalogue.job("stream")
    cid = job.cluster_id

    result = cp.submit(job, "1", timeout=300)
    assert result.cluster_id == cid
    running = cp.wait_running(cid, 300)
    first = cp.wait_first_checkpoint(cid, None, 300)

    # observe(): Deployment, pods, HA facts, job, checkpoints — what a real JobManager wrote
    wait_until(lambda: (cp.observe(cid).ha.checkpoint_counter or 0) > first, 60, "the HA checkpoint counter")
    obs = cp.observe(cid)
    assert obs.deployment.available and obs.deployment.image == "flink-test:1"
    assert [p.component for p in obs.jobmanager_pods] == ["jobmanager"] and obs.taskmanager_pods
    assert obs.ha.leader_holder and obs.ha.lease_duration == timedelta(seconds=15)
    assert obs.ha.job_graph_keys == (f"executionPlan-{running.job_id}",)
    assert {"dispatcher", "restserver", "resourcemanager"} <= set(obs.ha.leader_addresses)
    assert obs.ha.latest_checkpoint_id and obs.ha.latest_checkpoint_pointer
    assert obs.job.job_id == running.job_id and obs.job.state == "RUNNING" and obs.job.restarts == 0
    assert obs.checkpoints.interval == timedelta(seconds=1) and obs.checkpoints.timeout == timedelta(seconds=3)
    assert obs.checkpoints.tolerable_failures == 2 and obs.checkpoints.completed_count >= 1
    wait_until(lambda: cp.health(job).verdict is Verdict.HEALTHY, 60, "a HEALTHY verdict")

    # Flink REST through the API server's service proxy
    with cp.rest(cid) as rest:
        assert rest.version() == "2.3.0"
        assert rest.overview()["taskmanagers"] >= 1
        assert rest.exceptions(running.job_id) == ()
        assert rest.latest_checkpoint_age(running.job_id) < timedelta(minutes=1)
        # no target directory: the cluster's configured savepoint dir (the harness maps hdfs:// to local files)
        older = rest.savepoint(running.job_id, None, timeout=120)  # the job keeps running
    assert _local(older).is_dir()
    cp.ledger_store.update(cid, lambda led: L.remember_savepoint(led, older, datetime.now(UTC)))

    # the ops command line against the same cluster
    common = ["--catalogue", str(catalogue_path), "--kubeconfig", str(native_k8s.api.kubeconfig)]
    code, text, err = ops_in_process(capsys, "status", "stream", *common)
    assert code == 0, err
    assert f"Job {running.job_id} RUNNING" in text and "job graph present" in text
    code, text, err = ops_in_process(capsys, "list", "stream", *common, "--json")
    assert code == 0 and [j["job_id"] for j in json.loads(text)["jobs"]] == [running.job_id]
    code, text, err = ops_in_process(capsys, "health", "stream", *common)
    assert code == 0, err
    assert re.fullmatch(rf"stream \(cluster {cid}\): HEALTHY: checkpoint age \d+ s \(limit 12 s\); restarts 0 in "
                        r"2 min \(limit 64\); leader lease renewed \d+ s ago \(limit 60 s, lease 15 s\)\n", text), text
    code, text, err = ops_in_process(capsys, "savepoints", "stream", *common)
    assert code == 0 and older in text and f"Flink job {running.job_id} RUNNING" in text

    # kill -9 the JobManager: the harness restarts the container, Flink recovers the job through HA
    before = cp.observe(cid).ha.latest_checkpoint_id
    jm = native_k8s.kubelet.jobmanager(cid)
    os.killpg(jm.proc.pid, signal.SIGKILL)
    wait_until(lambda: cp.health(job).verdict is not Verdict.HEALTHY, 60, "the outage to show in health")
    wait_until(lambda: cp.check_job(cid, "running").state == "RUNNING", 240, "the job to recover")
    assert cp.wait_first_checkpoint(cid, before, 240) > before  # restored from HA, checkpoints continue
    obs = cp.observe(cid)
    (jm_pod,) = obs.jobmanager_pods
    assert jm_pod.restarts == 1 and jm_pod.last_termination_reason == "Error"
    assert jm_pod.last_exit_code in (137, -9)  # a kubelet reports 128+9; the harness reports Popen's -9
    assert obs.job.job_id == running.job_id  # the same job, recovered — not a new submission

    # savepoint redeploy through the control plane: stop-with-savepoint, gone, HA deleted, submit -s, retention
    request = RedeployRequest(cluster_id=cid, release="2", mode=UpgradeMode.SAVEPOINT, savepoint_dir=None,
                              keep_savepoints=1, target_image="flink-test:2")
    plan = cp.plan_redeploy(request)
    assert plan.kinds == (StepKind.STOP_WITH_SAVEPOINT, StepKind.DELETE_DEPLOYMENT, StepKind.WAIT_CLUSTER_GONE,
                          StepKind.DELETE_HA_CONFIGMAPS, StepKind.SUBMIT, StepKind.WAIT_RUNNING,
                          StepKind.WAIT_FIRST_CHECKPOINT, StepKind.DISPOSE_OLD_SAVEPOINTS)
    result = cp.redeploy(job, request, "test/redeploy-2", timeout=300)
    assert tuple(r.kind for r in result.steps) == plan.kinds
    summary = result.summary()
    newer = summary["savepoint"]
    assert summary["restored_from"] == newer and _local(newer).is_dir()
    # Flink removed the finished job's own map itself; the cluster map (leader, job graph store) is ours to delete
    assert f"{cid}-cluster-config-map" in summary["ha_configmaps_deleted"]
    assert set(summary["ha_configmaps_deleted"]) <= {f"{cid}-cluster-config-map", f"{cid}-{running.job_id}-config-map"}
    assert summary["disposed_savepoints"] == [older] and not _local(older).exists()  # disposed by Flink
    ledger = cp.ledger(cid)
    assert ledger.savepoint_paths() == (newer,) and ledger.progress == RedeployProgress() and ledger.holder is None
    assert cp.observe(cid).deployment.image == "flink-test:2"

    # the stale-HA trap: the Deployment is deleted, its HA ConfigMaps (with the job graph) stay behind
    assert cp.kube.delete_deployment(cid)
    cp.kube.wait_gone(cid, 120)
    gone = cp.health(job)
    assert gone.verdict is Verdict.MISSING and "stale HA ConfigMaps still hold a job graph" in gone.summary
    # a NEW job graph (other output dir, a sink that stalls) — the plan deletes the HA maps so it really runs
    stalled = replace(job, program_args=("--output", f"{out}/b", "--rate", "20", "--stall-ms", "600000"))
    request = RedeployRequest(cluster_id=cid, release="3", mode=UpgradeMode.STATELESS, allow_state_loss=True,
                              wait_first_checkpoint=False)
    plan = cp.plan_redeploy(request)
    assert plan.kinds[:2] == (StepKind.DELETE_HA_CONFIGMAPS, StepKind.SUBMIT)
    lines_a = _lines(out / "a")
    cp.redeploy(stalled, request, "test/redeploy-3", timeout=300)
    wait_until(lambda: any("stalled key=" in p.read_text() for p in (out / "b").glob("part-*.txt")), 120,
               "the new job graph to write to its own output directory")
    assert _lines(out / "a") == lines_a  # the old graph did not come back

    # checkpoints stop: the sink blocks, checkpoints expire after 3 s; health says so once the window passed
    wait_until(lambda: "checkpoint_stale" in {r.code for r in cp.health(stalled).reasons}, 180,
               "a checkpoint_stale reason")
    assert cp.health(stalled).verdict is Verdict.UNHEALTHY

    # a savepoint that cannot complete: bounded wait, typed error with the trigger id, no path returned
    current = cp.wait_running(cid, 120)
    with cp.rest(cid) as rest, pytest.raises((SavepointTimeout, SavepointFailed)) as stuck:
        rest.savepoint(current.job_id, None, timeout=1)
    if isinstance(stuck.value, SavepointTimeout):
        assert stuck.value.trigger_id and "poll trigger" in str(stuck.value)

    # delete_cluster keeping HA state, then the last-state clean-up on real HA ConfigMaps: only the job graph goes
    cp.delete_cluster(cid, timeout=120, delete_ha=False)
    stale = cp.observe(cid).ha
    assert stale.has_job_graph and stale.checkpoint_counter is not None
    assert cp.kube.strip_job_graph(cid) == list(stale.job_graph_keys)
    after = cp.observe(cid).ha
    assert not after.has_job_graph and after.config_maps == stale.config_maps
    assert after.checkpoint_counter == stale.checkpoint_counter
    assert sorted(cp.kube.delete_ha_configmaps(cid)) == sorted(stale.config_maps)
    final = cp.health(job)
    assert final.verdict is Verdict.MISSING and "stale" not in final.summary


@pytest.mark.slow
def test_restarting_job_is_unhealthy_with_its_root_cause(native_k8s, tmp_path, streaming_job_jar, failing_job_jar):
    from tests.fixtures.procs import wait_until
    from tests.fixtures.test_jobs import FAILURE_MESSAGE

    cp, catalogue, _, _ = _native_setup(native_k8s, tmp_path, streaming_job_jar, failing_job_jar)
    job = catalogue.job("restarting")
    cid = job.cluster_id
    cp.submit(job, "1", timeout=300)
    history = []

    def unhealthy_for_restarts() -> bool:
        # Judge the very observation the assertions below read (cp.health() would observe again).
        from flink_k8s.control_plane import thresholds_for
        from flink_k8s.core.health import evaluate

        obs = cp.observe(cid)
        report = evaluate(obs, thresholds_for(job), obs.observed_at, history[-20:])
        history.append(obs)
        # Flink's `timestamps.RESTARTING` can lag the restart counter by a poll: wait for both.
        return (report.verdict is Verdict.UNHEALTHY and "restarts" in {r.code for r in report.reasons}
                and obs.job is not None and obs.job.last_restart_time is not None)

    wait_until(unhealthy_for_restarts, 240, "an UNHEALTHY verdict for restarts (max_restarts 2)")
    obs = history[-1]
    assert obs.job.restarts > 2 and obs.job.last_restart_time is not None
    state = cp.check_job(cid, "running")
    assert state.job_id == obs.job.job_id
    with cp.rest(cid) as rest:
        cause = rest.root_cause(obs.job.job_id)
    assert cause is not None and FAILURE_MESSAGE in cause.root_cause
    cp.delete_cluster(cid, timeout=120)
    assert not cp.kube.cluster_exists(cid)
