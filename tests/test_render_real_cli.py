"""The rendered argv of the shipped catalogue is accepted by the real Flink 1.15.2 and 2.3.0 CLIs,
which deploy into the real local API server as the namespace's flink-airflow service account; the
objects they create carry the catalogue's values."""

from __future__ import annotations

import dataclasses

import pytest

from flink_k8s.core.catalogue import load_catalogue
from flink_k8s.core.flink_config import build_argv, render_config
from tests.fixtures.paths import CATALOGUE, FLINK_23, FLINK_115
from tests.kube import flinkconf
from tests.kube.cli import conf_copy, hadoop_conf_dir, run_flink

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(("version", "home", "conf_file"), [("1.15", FLINK_115, "flink-conf.yaml"), ("2.3", FLINK_23, "config.yaml")])
def test_rendered_argv_deploys_with_catalogue_values(k8s_api, tmp_path, version, home, conf_file):
    if not (home / "bin" / "flink").exists():
        pytest.fail(f"Flink is missing at {home}: run `make flink`")
    job = load_catalogue(CATALOGUE).job("streaming-job")
    job = dataclasses.replace(job, namespace=k8s_api.namespace)  # the test's own namespace
    argv = build_argv(job, str(home / "bin" / "flink"), version, "42", kubeconfig=str(k8s_api.kubeconfig))
    result = run_flink(home, argv[1:], conf_dir=conf_copy(home, tmp_path / "conf"), log_dir=tmp_path / "log",
                       env={"HADOOP_CONF_DIR": str(hadoop_conf_dir(tmp_path / "hadoop"))})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    ns = k8s_api.namespace
    deployment = k8s_api.apps.read_namespaced_deployment(job.cluster_id, ns)
    pod = deployment.spec.template.spec
    container = pod.containers[0]
    assert container.image == "flink-java11:42"
    assert container.image_pull_policy == "Always"
    # Flink sends the double ("1.0"); the API server stores the quantity in canonical form.
    assert container.resources.requests == {"cpu": "1", "memory": "700Mi"}
    assert pod.service_account_name == "flink-sa"
    assert pod.node_selector == {"task_type": "streaming"}
    rest = k8s_api.core.read_namespaced_service(f"{job.cluster_id}-rest", ns)
    assert rest.spec.type == "NodePort"

    config_map = k8s_api.core.read_namespaced_config_map(f"flink-config-{job.cluster_id}", ns)
    deployed = flinkconf.parse(conf_file, config_map.data[conf_file])
    rendered = render_config(job, version, "42")
    assert {k: deployed.get(k) for k in rendered} == rendered
    assert deployed["kubernetes.cluster-id"] == "streaming-job"
    assert deployed["parallelism.default"] == "4"
