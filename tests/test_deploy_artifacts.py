"""Validation of what a user deploys: docker-compose.yaml, include/k8s/*.yaml, the two Dockerfiles.

No Docker engine runs here, so each artifact is checked by the tool that reads it without one:
`docker compose config` / `docker-compose config` (the real Compose parser and interpolation),
`kubernetes-validate` (the Kubernetes OpenAPI schemas, strict), a small Dockerfile parser for the
rules a broken image would violate, and the real local API server (tests/kube/controlplane.py) for
`kubectl apply --dry-run=server` of include/k8s/. The RBAC tables below say which component needs
each verb; the Roles must grant exactly that (least privilege), see docs/rbac.md.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.fixtures.paths import CATALOGUE, REPO

COMPOSE_FILE = REPO / "docker-compose.yaml"
K8S_DIR = REPO / "include" / "k8s"
AIRFLOW_DOCKERFILE = REPO / "include" / "airflow-image" / "Dockerfile"
FLINK_DOCKERFILE = REPO / "include" / "flink-image" / "Dockerfile"

AIRFLOW_SERVICES = {
    "airflow-init": None,
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
}
SECRETS = {
    "AIRFLOW_JWT_SECRET": "jwt-secret-for-tests",
    "AIRFLOW_API_SECRET_KEY": "api-secret-for-tests",
    "AIRFLOW_ADMIN_PASSWORD": "admin-password-for-tests",
}
KUBECONFIG_TARGET = "/opt/airflow/.kube/config"

# --------------------------------------------------------------------------------------------------
# Compose
# --------------------------------------------------------------------------------------------------


def _compose_command() -> list[str] | None:
    """`docker compose` (v2 plugin) when it answers, else Debian's `docker-compose`, else None."""
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, timeout=30, check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


@pytest.fixture(scope="module")
def compose_cmd() -> list[str]:
    cmd = _compose_command()
    if cmd is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed (.ci/run installs Debian's docker-compose)")
    return cmd


def _compose_env(home: Path, **overrides: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "DOCKER_", "AIRFLOW", "KUBECONFIG"))}
    env.update(SECRETS)
    env["HOME"] = str(home)
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def _run_compose(cmd: list[str], env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    # --project-directory keeps relative bind sources anchored at the repository whatever the cwd.
    argv = [*cmd, "-f", str(COMPOSE_FILE), "--project-directory", str(REPO), "--profile", "pushgateway", *args]
    return subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO, timeout=120, check=False)


@pytest.fixture(scope="module")
def kubeconfig_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("kube") / "config"
    path.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
    return path


@pytest.fixture(scope="module")
def compose_config(compose_cmd, kubeconfig_file, tmp_path_factory) -> dict[str, Any]:
    """The file as Compose resolves it (interpolated, merged anchors, absolute paths)."""
    env = _compose_env(tmp_path_factory.mktemp("home"), KUBECONFIG_PATH=str(kubeconfig_file))
    quiet = _run_compose(compose_cmd, env, "config", "-q")
    assert quiet.returncode == 0, f"`config -q` rejected docker-compose.yaml:\n{quiet.stderr}"
    full = _run_compose(compose_cmd, env, "config")
    assert full.returncode == 0, full.stderr
    return yaml.safe_load(full.stdout)


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command") or []
    return command.split() if isinstance(command, str) else list(command)


def _mounts(service: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    """target -> (source, read_only), from either the short (v1 output) or long (v2 output) syntax."""
    mounts: dict[str, tuple[str, bool]] = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            parts = volume.split(":")
            source, target = parts[0], parts[1]
            read_only = len(parts) > 2 and "ro" in parts[2].split(",")
        else:
            source, target = volume.get("source", ""), volume["target"]
            read_only = bool(volume.get("read_only"))
        mounts[target] = (source, read_only)
    return mounts


def _depends(service: dict[str, Any]) -> dict[str, str]:
    depends = service.get("depends_on") or {}
    if isinstance(depends, list):
        return {name: "service_started" for name in depends}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in depends.items()}


def test_compose_has_the_services_the_issue_requires(compose_config):
    services = compose_config["services"]
    assert set(AIRFLOW_SERVICES) | {"postgres", "pushgateway"} <= set(services), sorted(services)
    for name, command in AIRFLOW_SERVICES.items():
        if command is not None:
            assert _command(services[name]) == [command], (name, services[name].get("command"))
    assert services["postgres"]["image"].startswith("postgres:")


def test_compose_airflow_services_share_image_config_and_secrets(compose_config):
    services = compose_config["services"]
    jwt = {services[name]["environment"].get("AIRFLOW__API_AUTH__JWT_SECRET") for name in AIRFLOW_SERVICES}
    assert jwt == {SECRETS["AIRFLOW_JWT_SECRET"]}, "every component must sign/verify task tokens with one secret"
    for name in AIRFLOW_SERVICES:
        service = services[name]
        env = service["environment"]
        build = service["build"]
        assert Path(build["context"]).resolve() == REPO, (name, build)
        assert (Path(build["context"]) / build["dockerfile"]).resolve() == AIRFLOW_DOCKERFILE, (name, build)
        assert str(build["args"]["AIRFLOW_VERSION"]) == "3.3.2", (name, build["args"])
        assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor", name
        assert 1 <= int(env["AIRFLOW__CORE__PARALLELISM"]) <= 16, (name, "parallelism sized for a workstation")
        assert env["AIRFLOW__CORE__LOAD_EXAMPLES"].lower() == "false", name
        assert env["AIRFLOW__API__SECRET_KEY"] == SECRETS["AIRFLOW_API_SECRET_KEY"], name
        assert env["FLINK_HOME"] == "/opt/flink", name
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("@postgres/airflow"), name
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith("http://airflow-apiserver:8080/"), name
        assert _depends(service)["postgres"] == "service_healthy", name
        if name != "airflow-init":
            assert _depends(service)["airflow-init"] == "service_completed_successfully", name


def test_compose_mounts_project_folders_and_kubeconfig_read_only(compose_config, kubeconfig_file):
    for name in AIRFLOW_SERVICES:
        mounts = _mounts(compose_config["services"][name])
        for folder in ("dags", "plugins", "include"):
            source, _ = mounts[f"/opt/airflow/{folder}"]
            assert Path(source).resolve() == REPO / folder, (name, folder, source)
        source, read_only = mounts[KUBECONFIG_TARGET]
        assert Path(source) == kubeconfig_file, (name, source)
        assert read_only, f"{name}: the kubeconfig carries credentials and must be mounted read-only"


def test_compose_kubernetes_connection_points_at_the_mounted_kubeconfig(compose_config):
    for name in AIRFLOW_SERVICES:
        env = compose_config["services"][name]["environment"]
        conn = json.loads(env["AIRFLOW_CONN_KUBERNETES_DEFAULT"])
        assert conn["conn_type"] == "kubernetes", conn
        assert conn["extra"]["kube_config_path"] == KUBECONFIG_TARGET, conn
        assert conn["extra"]["namespace"] == "flink", conn
        assert env["KUBECONFIG"] == KUBECONFIG_TARGET, name


def test_compose_pushgateway_is_optional_and_wired(compose_config):
    services = compose_config["services"]
    gateway = services["pushgateway"]
    assert "pushgateway" in gateway.get("profiles", []), "the Pushgateway must stay behind a profile"
    image, _, tag = gateway["image"].partition(":")
    assert image == "prom/pushgateway" and tag and tag != "latest", gateway["image"]
    published = {int(p["target"]) if isinstance(p, dict) else int(str(p).split(":")[-1]) for p in gateway["ports"]}
    assert 9091 in published
    for name in AIRFLOW_SERVICES:
        assert "pushgateway" not in _depends(services[name]), f"{name} must start without the optional gateway"
        url = urlsplit(services[name]["environment"]["AIRFLOW_CONN_PUSHGATEWAY_DEFAULT"])
        assert (url.scheme, url.hostname, url.port) == ("http", "pushgateway", 9091), url


def test_compose_init_migrates_and_writes_the_admin_password(compose_config):
    init = compose_config["services"]["airflow-init"]
    script = "\n".join(_command(init))
    assert "airflow db migrate" in script
    assert init["environment"]["_ADMIN_PASSWORD"] == SECRETS["AIRFLOW_ADMIN_PASSWORD"]
    passwords_file = init["environment"]["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
    api_mounts = _mounts(compose_config["services"]["airflow-apiserver"])
    init_mounts = _mounts(init)
    folder = str(Path(passwords_file).parent)
    assert folder in api_mounts and api_mounts[folder][0] == init_mounts[folder][0], (
        "the api-server must read the password file the init service writes"
    )


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_compose_refuses_to_start_without_each_secret(compose_cmd, kubeconfig_file, tmp_path, missing):
    env = _compose_env(tmp_path, KUBECONFIG_PATH=str(kubeconfig_file), **{missing: None})
    result = _run_compose(compose_cmd, env, "config", "-q")
    assert result.returncode != 0, f"compose accepted a configuration without {missing}"
    assert missing in result.stderr, result.stderr


def test_compose_kubeconfig_defaults_to_home_kube_config(compose_cmd, tmp_path):
    home = tmp_path / "home"
    (home / ".kube").mkdir(parents=True)
    (home / ".kube" / "config").write_text("apiVersion: v1\nkind: Config\n")
    result = _run_compose(compose_cmd, _compose_env(home, KUBECONFIG_PATH=None), "config")
    assert result.returncode == 0, result.stderr
    source, read_only = _mounts(yaml.safe_load(result.stdout)["services"]["airflow-scheduler"])[KUBECONFIG_TARGET]
    assert Path(source) == home / ".kube" / "config" and read_only, source


def _airflow_config_options() -> dict[str, set[str]]:
    """Section -> option names from the installed Airflow's config template (no `import airflow`)."""
    import importlib.util

    spec = importlib.util.find_spec("airflow")
    assert spec and spec.submodule_search_locations, "apache-airflow is not installed"
    template = Path(next(iter(spec.submodule_search_locations))) / "config_templates" / "config.yml"
    sections = yaml.safe_load(template.read_text())
    return {name: set((body or {}).get("options", {})) for name, body in sections.items()}


def test_compose_airflow_settings_are_real_airflow_options(compose_config):
    """A misspelt AIRFLOW__SECTION__KEY is silently ignored by Airflow; catch it here."""
    options = _airflow_config_options()
    for name in AIRFLOW_SERVICES:
        for key in compose_config["services"][name]["environment"]:
            if not key.startswith("AIRFLOW__"):
                continue
            section, _, option = key[len("AIRFLOW__"):].lower().partition("__")
            assert option in options.get(section, set()), f"{name}: {key} is not an Airflow 3.3 option [{section}] {option}"


# Compose v2 accepts keys that docker-compose 1.29 rejects; CI may run either, so keep to the common set.
V1_TOP_LEVEL = {"version", "services", "volumes", "networks", "secrets", "configs"}
V2_ONLY_SERVICE_KEYS = {"develop", "post_start", "pre_stop", "models", "provider", "gpus", "use_api_socket", "attach"}


def test_compose_file_avoids_v2_only_syntax():
    raw = yaml.safe_load(COMPOSE_FILE.read_text())
    extra = {key for key in raw if not key.startswith("x-")} - V1_TOP_LEVEL
    assert not extra, f"top-level keys docker-compose 1.29 rejects: {extra}"
    for name, service in raw["services"].items():
        assert not V2_ONLY_SERVICE_KEYS & set(service), (name, V2_ONLY_SERVICE_KEYS & set(service))


# --------------------------------------------------------------------------------------------------
# Kubernetes manifests
# --------------------------------------------------------------------------------------------------

NAMESPACE = "flink"
K8S_VERSIONS = ("1.30", "1.32")

# (api group, resource, verb) -> the component that issues the call. Read from Flink 1.15.2 (fabric8 5.5)
# and 2.3.0 (fabric8 7.3) sources/bytecode: Fabric8FlinkKubeClient, KubernetesResourceManagerDriver,
# KubernetesLeaderElector + fabric8 ConfigMapLock/ResourceLock, KubernetesConfigMapSharedInformer.
FLINK_NATIVE_NEEDS: dict[tuple[str, str, str], str] = {
    ("", "pods", "create"): "JM resource manager: createTaskManagerPod",
    ("", "pods", "delete"): "JM resource manager: stopPod (released/terminated TaskManagers)",
    ("", "pods", "list"): "JM resource manager: recoverWorkerNodesFromPreviousAttempts",
    ("", "pods", "watch"): "JM resource manager: watchPodsAndDoCallback",
    ("", "configmaps", "get"): "HA: getConfigMap, leader lock read",
    ("", "configmaps", "list"): "HA: shared informer initial list; 1.15 deleteConfigMapsByLabels",
    ("", "configmaps", "watch"): "HA: KubernetesConfigMapSharedInformer (JM and TaskManagers)",
    ("", "configmaps", "create"): "HA: leader ConfigMaps, createConfigMap",
    ("", "configmaps", "update"): "HA: checkAndUpdateConfigMap (PUT); 1.15 leader renewals",
    ("", "configmaps", "patch"): "HA: 2.x leader renewals (JSON merge patch)",
    ("", "configmaps", "delete"): "HA: deleteConfigMap / clean-up of a globally terminated job",
    ("apps", "deployments", "get"): "JM: owner reference of TaskManager pods",
    ("apps", "deployments", "delete"): "JM: stopAndCleanupCluster when the application ends",
}

FLINK_AIRFLOW_NEEDS: dict[tuple[str, str, str], str] = {
    ("apps", "deployments", "create"): "flink CLI: createJobManagerComponent",
    ("apps", "deployments", "delete"): "flink CLI: clean-up of a failed deploy; project: last-state upgrade",
    ("apps", "deployments", "get"): "project: cluster exists / wait until gone",
    ("apps", "deployments", "patch"): "project: scale the JobManager to 0 before deleting the Deployment",
    ("", "services", "get"): "flink CLI: existing-cluster check, REST endpoint; project: REST port",
    ("", "services", "create"): "flink CLI: <id>-rest and internal Service (createOrReplace)",
    ("", "services", "update"): "flink CLI: createOrReplace on a conflict",
    ("", "services", "list"): "project: cluster view",
    ("", "services/proxy", "get"): "project: Flink REST GET through the API server",
    ("", "services/proxy", "create"): "project: Flink REST POST (savepoints, stop)",
    ("", "services/proxy", "patch"): "project: Flink REST PATCH (cancel)",
    ("", "configmaps", "create"): "flink CLI: flink-config-<id>, hadoop-config-<id>, pod-template-<id>",
    ("", "configmaps", "update"): "flink CLI: createOrReplace; project: strip job-graph keys (replace)",
    ("", "configmaps", "get"): "project: HA facts; flink CLI: read before replace",
    ("", "configmaps", "list"): "project: HA ConfigMaps by label",
    ("", "configmaps", "delete"): "project: delete HA ConfigMaps (savepoint/stateless upgrades)",
    ("", "pods", "list"): "project: pod health by label",
    ("", "pods/log", "get"): "project: JobManager log tail in failures",
}

NODES_NEEDS: dict[tuple[str, str, str], str] = {
    ("", "nodes", "list"): "flink CLI: NodePort/LoadBalancer REST endpoint resolution (cluster-scoped)",
}

KNOWN_VERBS = {"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
FORBIDDEN_VERBS = {"*", "escalate", "bind", "impersonate"}
NAMESPACED_KINDS = {"ServiceAccount", "Role", "RoleBinding"}


def _documents() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in sorted(K8S_DIR.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                docs.append((path.name, doc))
    return docs


DOCUMENTS = _documents()


def _by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for _, doc in DOCUMENTS if doc["kind"] == kind}


def _grants(role: dict[str, Any]) -> set[tuple[str, str, str]]:
    grants = set()
    for rule in role["rules"]:
        assert "resourceNames" not in rule or rule["resourceNames"], rule
        for group in rule.get("apiGroups", []):
            for resource in rule.get("resources", []):
                for verb in rule.get("verbs", []):
                    grants.add((group, resource, verb))
    return grants


def test_manifest_folder_has_the_expected_objects():
    kinds = {(doc["kind"], doc["metadata"]["name"]) for _, doc in DOCUMENTS}
    assert kinds == {
        ("Namespace", NAMESPACE),
        ("ServiceAccount", "flink-sa"),
        ("ServiceAccount", "flink-airflow"),
        ("Role", "flink-native"),
        ("RoleBinding", "flink-native"),
        ("Role", "flink-airflow"),
        ("RoleBinding", "flink-airflow"),
        ("ClusterRole", "flink-airflow-nodes"),
        ("ClusterRoleBinding", "flink-airflow-nodes"),
    }, sorted(kinds)
    # `kubectl apply -f include/k8s/` applies files in name order: the Namespace must come first.
    assert DOCUMENTS[0][1]["kind"] == "Namespace", DOCUMENTS[0]


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("doc", [d for _, d in DOCUMENTS], ids=[f"{f}:{d['kind']}" for f, d in DOCUMENTS])
def test_manifest_is_valid_against_the_kubernetes_schema(doc, version):
    import kubernetes_validate

    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        pytest.fail(f"{doc['kind']}/{doc['metadata']['name']} is invalid for Kubernetes {version}: {error.message}")


def test_schema_validation_catches_a_broken_manifest():
    """Guard against a validator that silently accepts everything (e.g. a missing schema version)."""
    import kubernetes_validate

    role = json.loads(json.dumps(_by_kind("Role")["flink-native"]))
    role["rules"][0]["verb"] = role["rules"][0].pop("verbs")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(role, K8S_VERSIONS[-1], strict=True)


def test_namespaced_objects_live_in_the_flink_namespace():
    for file, doc in DOCUMENTS:
        if doc["kind"] in NAMESPACED_KINDS:
            assert doc["metadata"].get("namespace") == NAMESPACE, (file, doc["kind"], doc["metadata"])
        else:
            assert "namespace" not in doc["metadata"], (file, doc["kind"], "cluster-scoped objects have no namespace")


def test_flink_service_account_pulls_with_the_registry_secret():
    account = _by_kind("ServiceAccount")["flink-sa"]
    assert account["imagePullSecrets"] == [{"name": "yourregistrykey"}], account


def test_bindings_reference_existing_roles_and_service_accounts():
    roles, cluster_roles = _by_kind("Role"), _by_kind("ClusterRole")
    accounts = _by_kind("ServiceAccount")
    bindings = [*_by_kind("RoleBinding").values(), *_by_kind("ClusterRoleBinding").values()]
    assert bindings
    for binding in bindings:
        ref = binding["roleRef"]
        assert ref["apiGroup"] == "rbac.authorization.k8s.io", ref
        assert ref["name"] not in {"edit", "admin", "cluster-admin"}, f"{binding['metadata']['name']} binds a built-in broad role"
        if binding["kind"] == "RoleBinding":
            assert ref["kind"] == "Role" and ref["name"] in roles, (binding["metadata"]["name"], ref)
            assert roles[ref["name"]]["metadata"]["namespace"] == binding["metadata"]["namespace"]
        else:
            assert ref["kind"] == "ClusterRole" and ref["name"] in cluster_roles, (binding["metadata"]["name"], ref)
        for subject in binding["subjects"]:
            assert subject["kind"] == "ServiceAccount", subject
            assert subject["name"] in accounts, subject
            assert subject["namespace"] == accounts[subject["name"]]["metadata"]["namespace"], subject


@pytest.mark.parametrize(
    ("binding_kind", "binding", "account"),
    [
        ("RoleBinding", "flink-native", "flink-sa"),
        ("RoleBinding", "flink-airflow", "flink-airflow"),
        ("ClusterRoleBinding", "flink-airflow-nodes", "flink-airflow"),
    ],
)
def test_each_identity_gets_only_its_own_role(binding_kind, binding, account):
    subjects = _by_kind(binding_kind)[binding]["subjects"]
    assert [(s["kind"], s["name"]) for s in subjects] == [("ServiceAccount", account)], subjects


@pytest.mark.parametrize(
    ("kind", "name", "needs"),
    [
        ("Role", "flink-native", FLINK_NATIVE_NEEDS),
        ("Role", "flink-airflow", FLINK_AIRFLOW_NEEDS),
        ("ClusterRole", "flink-airflow-nodes", NODES_NEEDS),
    ],
)
def test_role_grants_exactly_the_verbs_its_callers_need(kind, name, needs):
    grants = _grants(_by_kind(kind)[name])
    missing = {key: needs[key] for key in set(needs) - grants}
    extra = grants - set(needs)
    assert not missing, f"{kind}/{name} lacks verbs these callers need: {missing}"
    assert not extra, f"{kind}/{name} grants verbs no caller needs (least privilege): {sorted(extra)}"


def test_rules_use_no_wildcards_secrets_or_escalation():
    for _, doc in DOCUMENTS:
        if doc["kind"] not in {"Role", "ClusterRole"}:
            continue
        for rule in doc["rules"]:
            assert "*" not in rule.get("apiGroups", []) and "*" not in rule.get("resources", []), rule
            assert not FORBIDDEN_VERBS & set(rule["verbs"]), rule
            assert set(rule["verbs"]) <= KNOWN_VERBS, rule
            assert "secrets" not in rule["resources"], f"{doc['metadata']['name']}: no component reads Secrets"


# Kubernetes Python client method -> (api group, resource, verb) it needs.
CLIENT_VERBS = {"read": "get", "list": "list", "create": "create", "replace": "update", "patch": "patch",
                "delete": "delete", "delete_collection": "deletecollection"}
CLIENT_RESOURCES = {"pod_log": "pods/log", "config_map": "configmaps", "pod": "pods", "service": "services",
                    "deployment": "deployments", "node": "nodes", "event": "events", "secret": "secrets"}
CLIENT_CALL = re.compile(
    r"\.(read|list|create|replace|patch|delete_collection|delete)_(namespaced_)?([a-z_]+?)(?:_with_http_info)?\b")


CLUSTER_SCOPED = {"node": "nodes", "namespace": "namespaces"}


def _own_methods(paths) -> set[str]:
    """Names the project defines itself (`def name(`), e.g. `KubeView.list_namespace`."""
    return {m for path in paths for m in re.findall(r"^\s*def (\w+)\(", path.read_text(), re.M)}


def _api_calls(text: str, own: frozenset[str] | set[str] = frozenset()) -> dict[tuple[str, str, str], int]:
    """(api group, resource, verb) -> line, for each Kubernetes client call in a Python source.

    A name in `own` is the project's method, not the client's (`KubeView.list_namespace(kind)` lists pods,
    ConfigMaps or Services of its namespace, where the client's `list_namespace()` lists Namespaces): the
    client calls inside it are scanned where it is defined.
    """
    calls: dict[tuple[str, str, str], int] = {}
    for match in CLIENT_CALL.finditer(text):
        if match.group(0)[1:] in own:
            continue
        verb, namespaced, suffix = match.groups()
        if namespaced:
            resource = CLIENT_RESOURCES.get(suffix) or suffix.replace("_", "") + "s"
        elif suffix in CLUSTER_SCOPED:
            resource = CLUSTER_SCOPED[suffix]
        else:
            continue  # not a Kubernetes client method (e.g. `path.read_text`)
        group = "apps" if resource in {"deployments", "statefulsets", "replicasets", "daemonsets"} else ""
        calls.setdefault((group, resource, CLIENT_VERBS[verb]), text.count("\n", 0, match.start()) + 1)
    return calls


def test_project_kubernetes_calls_are_allowed_for_the_airflow_identity():
    """A new API call in plugins/ must come with its RBAC rule (and its row in the table above)."""
    allowed = _grants(_by_kind("Role")["flink-airflow"]) | _grants(_by_kind("ClusterRole")["flink-airflow-nodes"])
    denied = {}
    sources = sorted((REPO / "plugins").rglob("*.py"))
    own = _own_methods(sources)
    for path in sources:
        for key, line in _api_calls(path.read_text(), own).items():
            if key not in allowed:
                denied[key] = f"{path.relative_to(REPO)}:{line}"
    assert not denied, f"the flink-airflow identity may not make these calls (add them to include/k8s and docs/rbac.md): {denied}"


def test_project_call_scanner_recognises_client_calls():
    text = "api.read_namespaced_pod_log()\napi.replace_namespaced_config_map()\napi.list_node()\np.read_text()\n" \
           "apps.delete_namespaced_deployment()\ncore.delete_collection_namespaced_config_map()\n"
    assert set(_api_calls(text)) == {
        ("", "pods/log", "get"), ("", "configmaps", "update"), ("", "nodes", "list"),
        ("apps", "deployments", "delete"), ("", "configmaps", "deletecollection"),
    }
    # the project's own method of a client method's name is not a client call; the client's is
    assert _api_calls("kube.list_namespace('pod')\n", own={"list_namespace"}) == {}
    assert set(_api_calls("core.list_namespace()\n")) == {("", "namespaces", "list")}
    assert "list_namespace" in _own_methods([REPO / "plugins" / "flink_k8s" / "clients" / "kube.py"])


def test_manifests_apply_with_a_server_side_dry_run(k8s_api, tmp_path):
    """The real API server accepts every object of include/k8s/ (`kubectl apply --dry-run=server`).

    Server-side: the API server decodes, defaults, validates and runs admission (including the RBAC
    escalation check on the Roles) without persisting. Namespaced objects need their namespace to exist, so
    the manifests are applied renamed (`tests/kube/namespaces.py`, as every end-to-end test uses them) into
    a fresh, empty namespace: each of them must come back as created.
    """
    import uuid

    from tests.fixtures.k8s import delete_namespace
    from tests.kube.namespaces import manifest_text

    namespace = f"t-dry-{uuid.uuid4().hex[:8]}"
    k8s_api.kubectl("create", "namespace", namespace, admin=True)
    try:
        result = k8s_api.cluster.kubectl(
            "--cache-dir", str(tmp_path / "kube-cache"), "apply", "--dry-run=server", "-f", "-", "-o", "name",
            input_text=manifest_text(namespace), check=False, timeout=120)
        assert result.returncode == 0, result.stderr
        applied = {line.strip() for line in result.stdout.splitlines() if line.strip()}
        expected = set()
        for _, doc in DOCUMENTS:
            group = doc["apiVersion"].rpartition("/")[0]
            name = doc["metadata"]["name"]
            name = {"Namespace": namespace, "ClusterRoleBinding": f"{name}-{namespace}"}.get(doc["kind"], name)
            expected.add(f"{doc['kind'].lower()}{'.' + group if group else ''}/{name}")
        assert applied == expected, (applied, result.stderr)
        # dry run: nothing was created (the empty namespace still holds none of the accounts or roles)
        accounts = k8s_api.core.list_namespaced_service_account(namespace).items
        assert {a.metadata.name for a in accounts} <= {"default"}, [a.metadata.name for a in accounts]
    finally:
        delete_namespace(k8s_api.cluster, namespace)


# --------------------------------------------------------------------------------------------------
# Dockerfiles
# --------------------------------------------------------------------------------------------------


def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, rest = full.partition(" ")
        out.append((keyword.upper(), rest.strip()))
    assert not pending, f"{path}: dangling line continuation"
    return out


VAR = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")


def _arg(spec: str) -> tuple[str, str | None]:
    name, sep, default = spec.partition("=")
    return name.strip(), (default.strip().strip('"') if sep else None)


def _substitute(text: str, values: dict[str, str | None]) -> str:
    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)",
                  lambda m: values.get(m.group(1) or m.group(2)) or "", text)


class Dockerfile:
    """Just enough of a Dockerfile model for the checks below."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.instructions = _instructions(path)
        self.global_args: dict[str, str | None] = {}
        self.stages: list[dict[str, Any]] = []
        for keyword, rest in self.instructions:
            if keyword == "ARG" and not self.stages:
                name, default = _arg(rest)
                self.global_args[name] = default
            elif keyword == "FROM":
                words = rest.split()
                flags = [w for w in words if w.startswith("--")]
                words = [w for w in words if not w.startswith("--")]
                alias = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
                self.stages.append({"image": words[0], "alias": alias, "flags": flags, "body": []})
            else:
                assert self.stages or keyword in {"ARG"}, f"{path}: {keyword} before FROM"
                self.stages[-1]["body"].append((keyword, rest))

    @property
    def final(self) -> dict[str, Any]:
        return self.stages[-1]

    def resolved_image(self, stage: dict[str, Any]) -> str:
        return _substitute(stage["image"], self.global_args)

    def stage_args(self, stage: dict[str, Any]) -> dict[str, str | None]:
        values: dict[str, str | None] = {}
        for keyword, rest in stage["body"]:
            if keyword == "ARG":
                name, default = _arg(rest)
                values[name] = default if default is not None else self.global_args.get(name)
        return values

    def env(self, stage: dict[str, Any]) -> dict[str, str]:
        values: dict[str, str] = {}
        for keyword, rest in stage["body"]:
            if keyword == "ENV":
                for name, value in re.findall(r'([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S+)', rest):
                    values[name] = value.strip('"')
        return values

    def last_user(self, stage: dict[str, Any]) -> str | None:
        users = [rest for keyword, rest in stage["body"] if keyword == "USER"]
        return users[-1] if users else None

    def copies(self, stage: dict[str, Any]) -> list[tuple[list[str], str, list[str]]]:
        out = []
        for keyword, rest in stage["body"]:
            if keyword in {"COPY", "ADD"}:
                words = rest.split()
                flags = [w for w in words if w.startswith("--")]
                paths = [w for w in words if not w.startswith("--")]
                out.append((paths[:-1], paths[-1], flags))
        return out


DOCKERFILES = {"airflow-image": AIRFLOW_DOCKERFILE, "flink-image": FLINK_DOCKERFILE}


@pytest.fixture(params=sorted(DOCKERFILES), ids=sorted(DOCKERFILES))
def dockerfile(request) -> Dockerfile:
    return Dockerfile(DOCKERFILES[request.param])


def test_dockerfile_from_lines_use_declared_args_with_defaults(dockerfile):
    for stage in dockerfile.stages:
        for name in VAR.findall(stage["image"]):
            assert name in dockerfile.global_args, f"{dockerfile.path}: FROM uses ${name}, not declared before the first FROM"
            assert dockerfile.global_args[name], f"{dockerfile.path}: ARG {name} needs a default for a plain `docker build`"


def test_dockerfile_images_are_pinned(dockerfile):
    aliases = {stage["alias"] for stage in dockerfile.stages if stage["alias"]}
    for stage in dockerfile.stages:
        image = dockerfile.resolved_image(stage)
        if image in aliases:
            continue
        name, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "")
        assert tag and tag != "latest", f"{dockerfile.path}: FROM {stage['image']} resolves to {image!r}: pin a version tag"
    for stage in dockerfile.stages:
        for _, _, flags in dockerfile.copies(stage):
            for flag in flags:
                if flag.startswith("--from="):
                    assert flag.split("=", 1)[1] in aliases, f"{dockerfile.path}: {flag} is not a named build stage"


def test_dockerfile_global_args_used_in_a_stage_are_redeclared_there(dockerfile):
    """A global ARG is invisible after FROM unless redeclared: `${FLINK_VERSION}` would expand to ''."""
    for stage in dockerfile.stages:
        declared = set(dockerfile.stage_args(stage)) | set(dockerfile.env(stage))
        for keyword, rest in stage["body"]:
            if keyword in {"RUN", "COPY", "ADD", "ENV", "WORKDIR", "USER", "LABEL"}:
                for name in VAR.findall(rest):
                    if name in dockerfile.global_args:
                        assert name in declared, f"{dockerfile.path}: {keyword} uses global ARG {name} without `ARG {name}` in its stage"


def test_dockerfile_final_user_is_not_root(dockerfile):
    user = dockerfile.last_user(dockerfile.final)
    assert user is not None, f"{dockerfile.path}: the final stage sets no USER"
    assert user.split(":")[0] not in {"root", "0"}, f"{dockerfile.path}: the image would run as {user}"


def test_dockerfile_copy_sources_exist(dockerfile):
    context = REPO if dockerfile.path == AIRFLOW_DOCKERFILE else dockerfile.path.parent
    for stage in dockerfile.stages:
        for sources, _, flags in dockerfile.copies(stage):
            if any(flag.startswith("--from=") for flag in flags):
                continue
            for source in sources:
                assert (context / source).exists(), f"{dockerfile.path}: COPY source {source} missing in build context {context}"


def _catalogue_flink_minor() -> str:
    """The catalogue's flink_version when the catalogue exists, else the seed's ("1.15")."""
    if CATALOGUE.exists():
        found = re.findall(r"""flink_version:\s*["']?(\d+\.\d+)""", CATALOGUE.read_text())
        if found:
            assert len(set(found)) == 1, f"{CATALOGUE}: several flink_version values {set(found)}"
            return found[0]
    return "1.15"


def test_airflow_image_matches_airflow_and_catalogue_versions():
    dockerfile = Dockerfile(AIRFLOW_DOCKERFILE)
    final = dockerfile.final
    assert dockerfile.resolved_image(final) == "apache/airflow:3.3.2-python3.11"
    pinned = re.search(r"^apache-airflow==(\S+)$", (REPO / "requirements.txt").read_text(), re.M)
    assert pinned and pinned.group(1) == dockerfile.global_args["AIRFLOW_VERSION"], "requirements.txt and the image disagree on Airflow"
    flink_version = dockerfile.stage_args(final)["FLINK_VERSION"]
    assert flink_version and flink_version.startswith(_catalogue_flink_minor() + "."), (
        f"image FLINK_VERSION {flink_version} does not match the catalogue's flink_version {_catalogue_flink_minor()}"
    )
    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    compose_default = compose["x-airflow-common"]["build"]["args"]["FLINK_VERSION"]
    assert compose_default.endswith(f":-{flink_version}}}"), (compose_default, flink_version)
    env = dockerfile.env(final)
    assert env["FLINK_HOME"] == "/opt/flink" and "${FLINK_HOME}/bin" in env["PATH"], env
    assert "JAVA_HOME" in env, env
    assert any("requirements.txt" in sources for sources, _, _ in dockerfile.copies(final))
    run = " ".join(rest for keyword, rest in final["body"] if keyword == "RUN")
    assert "sha512sum -c" in run, "the Flink tarball must be checksum-verified"


def test_airflow_image_build_context_keeps_requirements():
    ignore = (AIRFLOW_DOCKERFILE.parent / "Dockerfile.dockerignore").read_text().split()
    assert "*" in ignore and "!requirements.txt" in ignore, ignore


def test_flink_image_is_the_seed_image_parameterised():
    dockerfile = Dockerfile(FLINK_DOCKERFILE)
    final = dockerfile.final
    assert final["image"] == "flink:${FLINK_VERSION}-java${JAVA_VERSION}"
    assert dockerfile.resolved_image(final) == "flink:1.15.2-java11", "the defaults must rebuild the seed's image"
    assert dockerfile.env(final)["HADOOP_CONF_DIR"] == "/hadoop"
    targets = {dest.rstrip("/"): sources for sources, dest, _ in dockerfile.copies(final)}
    assert targets.get("/hadoop") == ["hadoop-conf/"], targets
    assert targets.get("/opt/flink/lib") == ["lib/"], targets
    assert targets.get("/opt/flink/usrlib") == ["usrlib/"], targets
    assert dockerfile.last_user(final) == "flink"


def test_flink_image_readme_names_the_seed_jars():
    text = (FLINK_DOCKERFILE.parent / "README.md").read_text()
    for jar in ("flink-shaded-hadoop-3-uber", "flink-connector-jdbc", "mysql-connector-java", "commons-cli",
                "Streaming-Job.jar", "Batch-Job.jar", "HADOOP_CLASSPATH", "java17"):
        assert jar in text, f"include/flink-image/README.md does not mention {jar}"
