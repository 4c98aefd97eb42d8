"""`jobs_overview.gather`: the Flink page's observations, against a local double of the Kubernetes API speaking
the real wire protocols (tests/fixtures/kube_flink_double.py) through the real kubernetes client and KubeView.

Checked: every cluster observed as the monitor would (same parsers, same verdict), the namespace read with list
calls, one slow cluster reported as an error row after its timeout while the others are complete, an unreachable
API server as one error per job of its namespace, and batch jobs left alone.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from flink_k8s.clients.kube import KubeView
from flink_k8s.clients.kube import RetryPolicy as KubeRetry
from flink_k8s.control_plane import thresholds_for
from flink_k8s.core.catalogue import parse_catalogue
from flink_k8s.core.jobs_view import build_rows
from flink_k8s.jobs_overview import gather
from tests.fixtures.kube_flink_double import NAMESPACE, cluster_ids, double_handler, serve_double

CLUSTERS = 12
SLOW = 4.0
TIMEOUT = 1.0


def catalogue(ids, extra: str = ""):
    jobs = "".join(f"  {cid}:\n    kind: streaming\n    upgrade_mode: stateless\n"
                   f"    jar_uri: local:///opt/flink/usrlib/s.jar\n" for cid in ids)
    return parse_catalogue((f'defaults:\n  flink_version: "2.3"\n  namespace: {NAMESPACE}\n'
                            f'  image: "flink-bench:{{release}}"\njobs:\n{jobs}{extra}').encode())


@pytest.fixture
def double():
    ids = cluster_ids(CLUSTERS)
    handler = double_handler(ids, slow_seconds=SLOW)
    with serve_double(handler) as url:
        yield ids, handler, url
    handler.slow = None


def kube_factory(url: str, requests: list | None = None):
    from kubernetes import client

    def kube_for(conn_id: str, namespace: str) -> KubeView:
        if requests is not None:
            requests.append((conn_id, namespace))
        config = client.Configuration()
        config.host = url if conn_id == "kubernetes_default" else "http://127.0.0.1:9"  # nothing listens on 9
        return KubeView(client.ApiClient(config), namespace, retry=KubeRetry(attempts=1), request_timeout=TIMEOUT)

    return kube_for


def test_every_cluster_observed_like_the_monitor(double):
    ids, _, url = double
    cat = catalogue(ids)
    made: list = []
    observed = gather(cat.jobs.values(), kube_factory(url, made), timeout=TIMEOUT)
    assert made == [("kubernetes_default", NAMESPACE)]  # one KubeView (and its list calls) for the namespace
    assert set(observed) == set(ids)
    for cid in ids:
        obs = observed[cid].observation
        assert observed[cid].error is None and obs.job.state == "RUNNING" and obs.checkpoints.latest_completed_id == 360
        assert obs.deployment.image == "flink-bench:7" and len(obs.pods) == 2 and obs.ha.leader_holder == "bench"
        assert observed[cid].flink_ui_url.endswith(f"/services/{cid}-rest:8081/proxy/")
    assert observed[ids[0]].savepoint_history[0][0] == f"s3://bench/sp/{ids[0]}/savepoint-1"
    rows = build_rows(cat.jobs.values(), observed, thresholds_for, datetime.now(UTC))
    assert {r.verdict for r in rows} == {"HEALTHY"} and {r.release_running for r in rows} == {"7"}


def test_one_slow_cluster_is_an_error_row_and_does_not_hold_up_the_others(double):
    ids, handler, url = double
    handler.slow = ids[3]
    started = time.monotonic()
    observed = gather(catalogue(ids).jobs.values(), kube_factory(url), timeout=TIMEOUT)
    elapsed = time.monotonic() - started
    assert elapsed < SLOW - 1, f"waited {elapsed:.1f}s for the slow cluster"
    assert "could not be observed" in observed[ids[3]].error or "timed out" in str(observed[ids[3]].error).lower()
    assert all(observed[c].error is None and observed[c].observation.job.state == "RUNNING"
               for c in ids if c != ids[3])


def test_unreachable_api_server_is_one_error_per_job_and_batch_jobs_are_skipped(double):
    ids, _, url = double
    cat = catalogue(ids[:2], extra="  far:\n    kind: streaming\n    upgrade_mode: stateless\n"
                                   "    kubernetes_conn_id: elsewhere\n    jar_uri: local:///opt/flink/usrlib/s.jar\n"
                                   "  nightly:\n    kind: batch\n    jar_uri: local:///opt/flink/usrlib/b.jar\n")
    observed = gather(cat.jobs.values(), kube_factory(url), timeout=TIMEOUT)
    assert set(observed) == {ids[0], ids[1], "far"}
    assert "connection 'elsewhere'" in observed["far"].error and observed["far"].observation is None
    assert observed[ids[0]].error is None and observed[ids[1]].error is None
