"""`diff JOB`: what the catalogue renders vs what the job's cluster runs (drift), without Airflow.

Prints every differing key with both values. Exit codes: 0 in sync, 1 drifted, 2 error (invalid input,
the cluster is not deployed, or the Kubernetes API could not be read). Read-only: two GETs (the JobManager
Deployment and ConfigMap `flink-config-<cluster id>`); Flink REST is not needed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

EXIT_IN_SYNC, EXIT_DRIFTED, EXIT_ERROR = 0, 1, 2


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from flink_k8s import settings

    help_text = "compare a job's running cluster with what the catalogue renders (exit 0 in sync, 1 drifted, 2 error)"
    p = subparsers.add_parser("diff", help=help_text, description=help_text + ".")
    p.add_argument("job", metavar="JOB", help="job name in the catalogue")
    p.add_argument("--catalogue", default=None,
                   help=f"job catalogue (default: $FLINK_K8S_CATALOGUE or {settings.catalogue_path()})")
    p.add_argument("--release", default=None,
                   help="render the catalogue for this release (default: the release the cluster was deployed "
                        "with, read back from its image)")
    p.add_argument("--parallelism", type=int, default=None, help="render with this parallelism (a form override)")
    p.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    p.add_argument("--context", default=None, help="kubeconfig context (default: its current-context)")
    p.add_argument("--namespace", default=None, help="override the job's catalogue namespace")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per API request (default 10)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_diff)


class _Error(Exception):
    pass


def _inputs(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """Catalogue job and checked options — before any network call."""
    from flink_k8s import jobs
    from flink_k8s.core import references, validation
    from flink_k8s.core.errors import FlinkK8sError

    try:
        job = jobs.load_job(args.job, args.catalogue)
    except FileNotFoundError as exc:
        raise _Error(f"--catalogue={exc.filename or args.catalogue!r}: file not found") from None
    except (FlinkK8sError, ValueError, KeyError) as exc:
        raise _Error(str(exc)) from None
    if args.release is not None:
        try:
            references.release(args.release)
        except validation.Invalid as exc:
            raise _Error(f"--release={args.release!r}: {exc}") from None
    if args.parallelism is not None and not 1 <= args.parallelism <= 100_000:
        raise _Error(f"--parallelism={args.parallelism}: must be between 1 and 100000")
    if args.timeout <= 0:
        raise _Error(f"--timeout={args.timeout}: must be > 0")
    path = args.kubeconfig or os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    path = path.split(os.pathsep)[0]
    if not os.path.isfile(path):
        raise _Error(f"--kubeconfig={path!r}: file not found (set --kubeconfig or $KUBECONFIG)")
    return job, path


def run_diff(args: argparse.Namespace) -> int:
    from flink_k8s.core.drift import DriftStatus, render_report

    try:
        job, kubeconfig = _inputs(args)
        report = _check(args, job, kubeconfig)
    except _Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if args.json:
        print(json.dumps({"job": job.name, "namespace": args.namespace or job.namespace, **report.to_dict()},
                         indent=2))
    else:
        print(render_report(job.name, report), file=sys.stderr if report.status is DriftStatus.NOT_DEPLOYED
              else sys.stdout)
    if report.status is DriftStatus.NOT_DEPLOYED:
        if not args.json:
            print(f"error: cluster {report.cluster_id!r} of job {job.name!r} is not deployed in namespace "
                  f"{args.namespace or job.namespace!r}: nothing to compare", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_DRIFTED if report.drifted else EXIT_IN_SYNC


def _check(args: argparse.Namespace, job, kubeconfig: str):  # type: ignore[no-untyped-def]
    from kubernetes import config
    from kubernetes.config.config_exception import ConfigException

    from flink_k8s import drift_check
    from flink_k8s.clients.kube import KubeError, KubeView
    from flink_k8s.core.errors import FlinkK8sError

    try:
        api = config.new_client_from_config(config_file=kubeconfig, context=args.context)
    except ConfigException as exc:
        raise _Error(f"--kubeconfig={kubeconfig!r} --context={args.context!r}: {exc}") from None
    try:
        kube = KubeView(api, args.namespace or job.namespace, request_timeout=args.timeout)
        return drift_check.check(kube, job, args.release, args.parallelism)
    except (KubeError, drift_check.DriftCheckError, FlinkK8sError) as exc:
        raise _Error(str(exc)) from None
    finally:
        api.close()
