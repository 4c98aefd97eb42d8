"""JobSpec -> Flink configuration for one Flink version -> the `flink` CLI argv.

Pure. Every string placed in argv is checked again here (defense in depth: a JobSpec built by hand,
a release from a form field or a savepoint path from the cluster never bypasses the argv rules).
"""

from __future__ import annotations

from collections.abc import Mapping

from flink_k8s.core import flink_versions as fv
from flink_k8s.core import references as r
from flink_k8s.core import validation as v
from flink_k8s.core.catalogue_schema import JobSpec
from flink_k8s.core.errors import Problem, ValidationError
from flink_k8s.core.validation import Invalid


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _cpu(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _node_selector(labels: Mapping[str, str]) -> str:
    """Flink's map syntax for kubernetes.*.node-selector: `key:value,key2:value2`."""
    return ",".join(f"{key}:{value}" for key, value in labels.items())


def _typed_settings(job: JobSpec, version: str, image: str) -> list[tuple[str, str | None]]:
    """(setting id, rendered value or None) in the seed command's order."""
    jm, tm, ha, rs, cp, pg, rest = (
        job.jobmanager,
        job.taskmanager,
        job.high_availability,
        job.restart_strategy,
        job.checkpointing,
        job.pushgateway,
        job.rest_service,
    )
    pg_on = pg if pg is not None and pg.enabled else None  # the reporter's settings when it is enabled
    rows: list[tuple[str, str | None]] = [
        ("cluster_id", job.cluster_id),
        ("image", image),
        ("jobmanager.cpu", None if jm.cpu is None else _cpu(jm.cpu)),
        ("taskmanager.cpu", None if tm.cpu is None else _cpu(tm.cpu)),
        ("taskmanager.slots", None if tm.slots is None else str(tm.slots)),
        ("taskmanager.process_memory", tm.process_memory),
        ("taskmanager.managed_fraction", None if tm.managed_fraction is None else repr(tm.managed_fraction)),
        ("taskmanager.network_fraction", None if tm.network_fraction is None else repr(tm.network_fraction)),
        ("taskmanager.jvm_overhead_fraction", None if tm.jvm_overhead_fraction is None else repr(tm.jvm_overhead_fraction)),
        ("jobmanager.process_memory", jm.process_memory),
        ("jobmanager.jvm_direct_memory_limit", None if jm.jvm_direct_memory_limit is None else _bool(jm.jvm_direct_memory_limit)),
        ("fs_default_scheme", job.fs_default_scheme),
        ("pushgateway.enabled", fv.pushgateway_reporter_value(version) if pg_on else None),
        ("pushgateway.url", pg_on.url if pg_on else None),
        ("pushgateway.job_name", pg_on.job_name if pg_on else None),
        ("pushgateway.delete_on_shutdown", _bool(pg_on.delete_on_shutdown) if pg_on and pg_on.delete_on_shutdown is not None else None),
        ("pushgateway.random_job_name_suffix", _bool(pg_on.random_job_name_suffix) if pg_on and pg_on.random_job_name_suffix is not None else None),
        ("pushgateway.interval", pg_on.interval if pg_on else None),
        ("jobmanager.node_selector", _node_selector(jm.node_selector) if jm.node_selector else None),
        ("taskmanager.node_selector", _node_selector(tm.node_selector) if tm.node_selector else None),
        ("rest_service.exposed_type", rest.exposed_type),
        ("rest_service.node_port_address_type", rest.node_port_address_type),
        ("high_availability.enabled", fv.ha_value(version) if ha.enabled else None),
        ("high_availability.storage_dir", ha.storage_dir if ha.enabled else None),
        ("restart_strategy.type", rs.type),
        ("restart_strategy.attempts", None if rs.attempts is None else str(rs.attempts)),
        ("restart_strategy.delay", rs.delay),
        ("restart_strategy.max_failures_per_interval", None if rs.max_failures_per_interval is None else str(rs.max_failures_per_interval)),
        ("restart_strategy.failure_rate_interval", rs.failure_rate_interval),
        ("restart_strategy.failure_rate_delay", rs.failure_rate_delay),
        ("restart_strategy.initial_backoff", rs.initial_backoff),
        ("restart_strategy.max_backoff", rs.max_backoff),
        ("namespace", job.namespace),
        ("service_account", job.service_account),
        ("hadoop_conf_dir", job.hadoop_conf_dir),
        ("image_pull_policy", job.image_pull_policy),
        ("state_backend", job.state_backend),
        ("checkpointing.dir", cp.dir),
        ("checkpointing.interval", cp.interval),
        ("checkpointing.timeout", cp.timeout),
        ("checkpointing.tolerable_failures", None if cp.tolerable_failures is None else str(cp.tolerable_failures)),
        ("savepoint_dir", job.savepoint_dir),
    ]
    return rows


def render_config(job: JobSpec, flink_version: str, release: str | None = None) -> dict[str, str]:
    """Flink configuration (key -> value) the job's catalogue entry means in `flink_version`.

    Typed fields first (seed order), then flink_conf, then flink_conf_overrides, whose keys
    (any version's alias of a typed setting) are translated to this version's key and win.
    Settings passed as CLI flags (parallelism, class, jar, program args) are not included.
    """
    fv.parse_version(flink_version)
    image = _concrete_image(job, release)
    problems = [
        problem
        for section in ("flink_conf", "flink_conf_overrides")
        for key, value in (getattr(job, section) or {}).items()
        if (problem := _check_conf_entry(key, value, f"{section}.{key}", job.name))
    ]
    if problems:
        raise ValidationError(problems)
    config: dict[str, str] = {}
    for setting, value in _typed_settings(job, flink_version, image or ""):
        if value is not None:
            config[fv.key_for(setting, flink_version)] = value
    for key, value in (job.flink_conf or {}).items():
        config[key] = value
    for key, value in (job.flink_conf_overrides or {}).items():
        owner = fv.ALIAS_TO_SETTING.get(key)
        if owner is not None:
            for alias in fv.KEYS[owner].all_keys():
                config.pop(alias, None)
            key = fv.key_for(owner, flink_version)
        config[key] = value
    return config


def _concrete_image(job: JobSpec, release: str | None) -> str:
    if job.image is None:
        raise ValidationError([Problem(job.name, "image", None, "required")])
    try:
        r.image_template(job.image)
    except Invalid as exc:
        raise ValidationError([Problem(job.name, "image", job.image, str(exc))]) from None
    try:
        return r.substitute_release(job.image, release)
    except Invalid as exc:
        raise ValidationError([Problem(job.name, "release", release, str(exc))]) from None


def _check_conf_entry(key: object, value: object, where: str, job: str) -> Problem | None:
    try:
        v.flink_key(key)
        v.argv_safe(value)
    except Invalid as exc:
        return Problem(job, where, value if isinstance(key, str) else key, str(exc))
    return None


def build_argv(
    job: JobSpec,
    flink_executable: str,
    flink_version: str | None = None,
    release: str | None = None,
    savepoint: str | None = None,
    allow_non_restored_state: bool = False,
    extra_conf: Mapping[str, str] | None = None,
    kubeconfig: str | None = None,
) -> list[str]:
    """The exact argv of `flink run(-application) --target kubernetes-application …`.

    `flink_version` defaults to the job's own; `savepoint` adds `-s` (and `--allowNonRestoredState`
    when asked); `kubeconfig` adds `-Dkubernetes.config.file=…`; `extra_conf` adds runner keys.
    """
    version = job.flink_version if flink_version is None else flink_version
    fv.parse_version(version)
    problems: list[Problem] = []
    if not isinstance(flink_executable, str) or not flink_executable or "\x00" in flink_executable or "\n" in flink_executable:
        problems.append(Problem(job.name, "flink_executable", flink_executable, "must be a path to the flink CLI"))
    jar = job.jar_uri
    try:
        jar = r.jar_uri(jar)
        if not jar.startswith("local:") and not fv.remote_jar_schemes_supported(version):
            raise Invalid(f"Flink {version} application mode only accepts local:// jars")
        if jar.startswith("file:"):
            raise Invalid("kubernetes-application cannot read the client's file:// jars; use local:// (in the image) or a remote URI")
    except Invalid as exc:
        problems.append(Problem(job.name, "jar_uri", jar, str(exc)))
    if savepoint is not None:
        try:
            r.savepoint_path(savepoint)
        except Invalid as exc:
            problems.append(Problem(job.name, "savepoint", savepoint, str(exc)))
    if kubeconfig is not None:
        try:
            r.absolute_path(kubeconfig)
        except Invalid as exc:
            problems.append(Problem(job.name, "kubeconfig", kubeconfig, str(exc)))
    for key, value in (extra_conf or {}).items():
        problem = _check_conf_entry(key, value, f"extra_conf.{key}", job.name)
        if problem:
            problems.append(problem)
    try:
        config = render_config(job, version, release)
    except ValidationError as exc:
        problems.extend(exc.problems)
        config = {}
    if problems:
        raise ValidationError(problems)
    if kubeconfig is not None:
        config["kubernetes.config.file"] = kubeconfig
    config.update(extra_conf or {})

    argv = [flink_executable, *fv.cli_action(version), "--detached"]
    if job.parallelism is not None:
        argv += ["--parallelism", str(job.parallelism)]
    if job.entry_class:
        argv += ["--class", job.entry_class]
    if savepoint is not None:
        argv += ["--fromSavepoint", savepoint]
        if allow_non_restored_state:
            argv.append("--allowNonRestoredState")
    argv += [f"-D{key}={value}" for key, value in config.items()]
    jar_index = len(argv)
    assert jar is not None  # r.jar_uri refused a missing jar above
    argv.append(jar)
    argv += list(job.program_args)
    _final_check(argv, jar_index, job.name)
    return argv


_FLAGS = frozenset({"run", "run-application", "--target", "--detached", "--parallelism", "--class", "--fromSavepoint", "--allowNonRestoredState"})


def _final_check(argv: list[str], jar_index: int, job: str) -> None:
    """Last gate: every element after the executable obeys the argv rule; -D keys are keys;
    only program arguments (after the jar, where Flink stops parsing options) may start with '-'."""
    problems = []
    for index, item in enumerate(argv[1:], start=1):
        try:
            if index > jar_index:
                v.argv_safe(item, allow_leading_dash=True)
            elif index < jar_index and item in _FLAGS:
                continue
            elif index < jar_index and item.startswith("-D"):
                key, sep, value = item[2:].partition("=")
                if not sep:
                    raise Invalid("a -D option needs key=value")
                v.flink_key(key)
                v.argv_safe(value)
            else:
                v.argv_safe(item)
        except Invalid as exc:
            problems.append(Problem(job, f"argv[{index}]", item, str(exc)))
    if problems:
        raise ValidationError(problems)
