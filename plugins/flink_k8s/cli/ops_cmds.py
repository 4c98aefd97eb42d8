"""`status | health | list | savepoints JOB`: operate a catalogue job's cluster without Airflow.

Why a command line: when Airflow is down (or you are on a laptop with a kubeconfig) you still need the
same answers the DAGs use — same control plane, same health verdict, REST through the API server.
Everything is read-only; nothing here stops, deletes or submits.

Exit codes:
- all commands: 0 ok; 1 the cluster could not be read (Kubernetes API or Flink REST unreachable, cluster
  missing for `list`); 2 invalid input (catalogue, unknown job, bad option).
- `health`: 0 HEALTHY, 1 DEGRADED, 3 UNHEALTHY, 4 MISSING, 5 the check itself failed (API unreachable).
  2 stays "invalid input" as for every other command, so a monitor can tell a broken check from a broken job.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2
HEALTH_EXIT = {"HEALTHY": 0, "DEGRADED": 1, "UNHEALTHY": 3, "MISSING": 4}
EXIT_CHECK_FAILED = 5


def register(subparsers) -> None:
    commands = (
        ("status", "Deployment, pods, HA ConfigMaps, job state and checkpoints of a job's cluster", run_status),
        ("health", "health verdict with every reason (exit 0 HEALTHY, 1 DEGRADED, 3 UNHEALTHY, 4 MISSING)",
         run_health),
        ("list", "jobs of the job's cluster, through Flink REST (what `flink list` shows, without 3 JVMs)",
         run_list),
        ("savepoints", "savepoints recorded by redeploys, plus the latest savepoint/checkpoint Flink reports",
         run_savepoints),
    )
    for name, help_text, func in commands:
        p = subparsers.add_parser(name, help=help_text, description=help_text + ".")
        p.add_argument("job", metavar="JOB", help="job name in the catalogue")
        add_common_args(p)
        p.set_defaults(func=func)


def add_common_args(p: argparse.ArgumentParser) -> None:
    from flink_k8s import settings

    p.add_argument("--catalogue", default=None,
                   help=f"job catalogue (default: $FLINK_K8S_CATALOGUE or {settings.catalogue_path()})")
    p.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    p.add_argument("--context", default=None, help="kubeconfig context (default: its current-context)")
    p.add_argument("--namespace", default=None, help="override the job's catalogue namespace")
    p.add_argument("--rest-access", default=None,
                   help="proxy (API server service proxy, default), nodeport, or a URL template such as "
                        "http://{cluster_id}-rest.{namespace}:8081 (default: $FLINK_K8S_REST_ACCESS or proxy)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per API/REST request (default 10)")
    p.add_argument("--json", action="store_true", help="print JSON")


# -- wiring --------------------------------------------------------------------------------------------------

class _Invalid(Exception):
    """Invalid input: reported with exit code 2."""


def rest_access_from(value: str | None):
    """`proxy` | `nodeport` | an http(s) URL template (`{cluster_id}`, `{namespace}` placeholders)."""
    from flink_k8s import settings
    from flink_k8s.control_plane import RestAccess

    if value is None:
        return RestAccess(**settings.rest_access_default())
    value = value.strip()
    if value in ("proxy", "nodeport"):
        return RestAccess(mode=value)
    if not value.startswith(("http://", "https://")):
        raise _Invalid(f"--rest-access={value!r}: expected proxy, nodeport or an http(s):// URL template")
    try:
        value.format(cluster_id="x", namespace="y")
    except (KeyError, IndexError, ValueError) as exc:
        raise _Invalid(f"--rest-access={value!r}: only {{cluster_id}} and {{namespace}} may be used ({exc})") from None
    return RestAccess(mode="url", url_template=value)


def _job(args: argparse.Namespace):
    from flink_k8s import jobs
    from flink_k8s.core.errors import FlinkK8sError

    path = args.catalogue
    try:
        return jobs.load_job(args.job, path)
    except FileNotFoundError as exc:
        raise _Invalid(f"--catalogue={exc.filename or path!r}: file not found") from None
    except (FlinkK8sError, ValueError, KeyError) as exc:
        raise _Invalid(str(exc)) from None


def _kubeconfig(args: argparse.Namespace) -> str:
    path = args.kubeconfig or os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    path = path.split(os.pathsep)[0]
    if not os.path.isfile(path):
        raise _Invalid(f"--kubeconfig={path!r}: file not found (set --kubeconfig or $KUBECONFIG)")
    return path


def build_control_plane(args: argparse.Namespace, job):
    """A FlinkControlPlane for the job's namespace from a kubeconfig file — no Airflow involved."""
    access = rest_access_from(args.rest_access)  # validate input before the ~1 s (or more) kubernetes import
    kubeconfig = _kubeconfig(args)

    from kubernetes import config
    from kubernetes.config.config_exception import ConfigException

    from flink_k8s import settings
    from flink_k8s.clients.flink_cli import FlinkCli
    from flink_k8s.clients.kube import KubeView
    from flink_k8s.control_plane import FlinkControlPlane

    try:
        api = config.new_client_from_config(config_file=kubeconfig, context=args.context)
    except ConfigException as exc:
        raise _Invalid(f"--kubeconfig={kubeconfig!r} --context={args.context!r}: {exc}") from None
    namespace = args.namespace or job.namespace
    return FlinkControlPlane(KubeView(api, namespace, request_timeout=args.timeout), cli=FlinkCli(settings.flink_home()),
                             kubeconfig_path=kubeconfig, rest_access=access, rest_timeout=args.timeout)


def run_guarded(args: argparse.Namespace, body, failed_exit: int = EXIT_FAILED) -> int:
    """Shared error handling: invalid input → 2, unreachable API/REST → `failed_exit`."""
    from flink_k8s.clients.flink_rest import FlinkRestError
    from flink_k8s.clients.kube import KubeError

    try:
        job = _job(args)
        cp = build_control_plane(args, job)
        try:
            return body(cp, job)
        finally:
            cp.kube.api_client.close()
    except _Invalid as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except (KubeError, FlinkRestError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return failed_exit


def _cluster_id(job) -> str:
    return job.cluster_id or job.name


# -- commands ------------------------------------------------------------------------------------------------

def run_status(args: argparse.Namespace) -> int:
    def body(cp, job) -> int:
        obs = cp.observe(_cluster_id(job))
        if args.json:
            print_json({"job": job.name, "namespace": cp.namespace, **to_plain(obs)})
        else:
            print(format_status(job.name, cp.namespace, obs))
        return EXIT_OK
    return run_guarded(args, body)


def run_health(args: argparse.Namespace) -> int:
    from flink_k8s.core.health import figure_to_plain

    def body(cp, job) -> int:
        report = cp.health(job)
        verdict = report.verdict.name
        if args.json:
            print_json({"job": job.name, "cluster_id": report.cluster_id, "verdict": verdict,
                         "checked_at": report.checked_at,
                         "reasons": [{"severity": r.severity.name, "code": r.code, "message": r.message}
                                     for r in report.reasons],
                         "figures": [figure_to_plain(f) for f in report.figures]})
        else:
            figures = f": {report.figures_text}" if report.figures else ""
            print(f"{job.name} (cluster {report.cluster_id}): {verdict}{figures}")
            for r in report.reasons:
                print(f"  - [{r.severity.name}] {r.code}: {r.message}")
        return HEALTH_EXIT[verdict]
    return run_guarded(args, body, failed_exit=EXIT_CHECK_FAILED)


def run_list(args: argparse.Namespace) -> int:
    def body(cp, job) -> int:
        cluster_id = _cluster_id(job)
        if not cp.kube.cluster_exists(cluster_id):
            print(f"error: cluster {cluster_id!r} of job {job.name!r} does not exist in namespace "
                  f"{cp.namespace!r}", file=sys.stderr)
            return EXIT_FAILED
        with cp.rest(cluster_id) as rest:
            found = rest.jobs()
        if args.json:
            print_json({"job": job.name, "cluster_id": cluster_id, "jobs": [to_plain(j) for j in found]})
            return EXIT_OK
        print(f"jobs of cluster {cluster_id} ({len(found)}):")
        for j in sorted(found, key=lambda j: j.start_time or datetime.min.replace(tzinfo=UTC)):
            print(f"  {j.job_id}  {j.state:<12} {_when(j.start_time):<25} {j.name}")
        return EXIT_OK
    return run_guarded(args, body)


def run_savepoints(args: argparse.Namespace) -> int:
    def body(cp, job) -> int:
        cluster_id = _cluster_id(job)
        ledger = cp.ledger(cluster_id)
        history = [(r.path, r.created_at, r.source.value) for r in reversed(ledger.newest_first())]
        progress = ledger.progress
        flink: dict[str, Any] = {}
        if cp.kube.cluster_exists(cluster_id):
            obs = cp.observe(cluster_id)
            if obs.rest_error:
                flink = {"rest_error": obs.rest_error}
            elif obs.job is not None:
                cps = obs.checkpoints
                flink = {"job_id": obs.job.job_id, "state": obs.job.state,
                         "latest_savepoint": cps.latest_savepoint_path if cps else None,
                         "latest_checkpoint": cps.latest_completed_path if cps else None,
                         "latest_checkpoint_id": cps.latest_completed_id if cps else None,
                         "latest_checkpoint_time": cps.latest_completed_time if cps else None}
        else:
            flink = {"rest_error": f"cluster {cluster_id} does not exist"}
        in_flight = progress if any(dataclasses.astuple(progress)) else None
        if args.json:
            print_json({"job": job.name, "cluster_id": cluster_id, "keep": job.savepoints_to_keep,
                         "history": [{"path": p, "recorded_at": t, "source": src} for p, t, src in history],
                         "held_by": to_plain(ledger.holder) if ledger.holder else None,
                         "redeploy_in_progress": to_plain(in_flight) if in_flight else None, "flink": flink})
            return EXIT_OK
        print(f"savepoints of {job.name} (cluster {cluster_id}; keep {job.savepoints_to_keep}):")
        for path, when, source in history or []:
            print(f"  {_when(when):<25} {path}  ({source})")
        if not history:
            print("  (none recorded by redeploys)")
        if ledger.holder:
            print(f"held by run {ledger.holder.run_id} ({ledger.holder.action}) until "
                  f"{_when(ledger.holder.expires_at)}")
        if in_flight:
            print(f"not yet restored (a redeploy in progress, or a stop): trigger {progress.savepoint_trigger_id}, savepoint "
                  f"{progress.savepoint_path or '-'}, submit started {progress.submit_started}")
        if "rest_error" in flink:
            print(f"Flink: not readable ({flink['rest_error']})")
        elif flink:
            print(f"Flink job {flink['job_id']} {flink['state']}: latest savepoint {flink['latest_savepoint'] or '-'}; "
                  f"latest checkpoint {flink['latest_checkpoint_id'] or '-'} {flink['latest_checkpoint'] or ''}")
        else:
            print("Flink: the cluster runs no job")
        return EXIT_OK
    return run_guarded(args, body)


# -- rendering -----------------------------------------------------------------------------------------------

def to_plain(value: Any) -> Any:
    """Dataclasses/enums/datetimes → JSON-ready values (datetimes as ISO 8601, durations in seconds)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    return value


def print_json(data: Any) -> None:
    print(json.dumps(to_plain(data), indent=2, sort_keys=False))


def _when(at: datetime | None) -> str:
    return at.isoformat(timespec="seconds") if at else "-"


def _age(now: datetime, at: datetime | None) -> str:
    return f"{(now - at).total_seconds():.0f}s ago" if at else "never"


def format_status(job_name: str, namespace: str, obs) -> str:
    """Human-readable observation (pure)."""
    now = obs.observed_at
    lines = [f"{job_name}: cluster {obs.cluster_id} in namespace {namespace} (observed {_when(now)})"]
    dep = obs.deployment
    lines.append(f"  Deployment: {'absent' if dep is None else f'{dep.available_replicas}/{dep.replicas} available, image {dep.image}'}"
                 + (" (being deleted)" if dep is not None and dep.deleting else ""))
    for pod in obs.pods:
        extra = [f"restarts {pod.restarts}"]
        if pod.last_termination_reason:
            extra.append(f"last exit {pod.last_termination_reason} ({pod.last_exit_code})")
        if pod.waiting_reason:
            extra.append(f"waiting {pod.waiting_reason}")
        lines.append(f"  Pod {pod.name} [{pod.component}]: {pod.phase}{' ready' if pod.ready else ' not ready'}, "
                     + ", ".join(extra))
    if not obs.pods:
        lines.append("  Pods: none")
    ha = obs.ha
    if ha and ha.config_maps:
        lines.append(f"  HA: {', '.join(ha.config_maps)}")
        lines.append(f"      leader {ha.leader_holder or '-'} renewed {_age(now, ha.leader_renew_time)}; "
                     f"job graph {'present' if ha.has_job_graph else 'absent'}; checkpoint counter "
                     f"{ha.checkpoint_counter if ha.checkpoint_counter is not None else '-'}; latest HA checkpoint "
                     f"{ha.latest_checkpoint_id if ha.latest_checkpoint_id is not None else '-'}")
    else:
        lines.append("  HA: no HA ConfigMaps")
    if obs.rest_error:
        lines.append(f"  Flink REST: unreachable ({obs.rest_error})")
    elif obs.job is None:
        lines.append("  Job: none" if obs.cluster_present else "  Job: - (no cluster)")
    else:
        job = obs.job
        lines.append(f"  Job {job.job_id} {job.state} since {_when(job.start_time)}; restarts "
                     f"{job.restarts if job.restarts is not None else '-'}")
    cp = obs.checkpoints
    if cp is not None:
        if cp.interval is None:
            lines.append("  Checkpoints: disabled")
        else:
            lines.append(f"  Checkpoints: every {cp.interval.total_seconds():g}s; {cp.completed_count} completed, "
                         f"{cp.failed_count} failed; latest {cp.latest_completed_id or '-'} "
                         f"{_age(now, cp.latest_completed_time)}")
            if cp.latest_savepoint_path:
                lines.append(f"  Latest savepoint: {cp.latest_savepoint_path}")
    return "\n".join(lines)
