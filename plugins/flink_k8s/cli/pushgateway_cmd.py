"""`python -m flink_k8s pushgateway-cleanup`: delete stale Pushgateway groups by full grouping key.

Exit codes: 0 done (or dry run), 1 some deletions failed or the gateway is unreachable, 2 invalid
arguments, 3 the safety guard refused (nothing deleted).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from flink_k8s.core.durations import DurationError, format_duration, parse_duration
from flink_k8s.core.stale_groups import (
    DEFAULT_MAX_SHARE,
    Criteria,
    SelectionError,
    job_pattern,
    parse_keep,
    parse_matcher,
)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "pushgateway-cleanup",
        help="delete Pushgateway groups whose last successful push is older than --max-age",
        description="Delete stale Pushgateway groups (e.g. left by Flink's reporter with "
                    "randomJobNameSuffix) by their full grouping key.",
    )
    p.add_argument("--url", required=True, help="gateway base URL, e.g. http://pushgateway:9091")
    p.add_argument("--max-age", required=True, help="e.g. 15m, 2h, 1d, PT15M")
    p.add_argument("--dry-run", action="store_true", help="report what would be deleted; delete nothing")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    jobs = p.add_mutually_exclusive_group()
    jobs.add_argument("--job-regex", help="full-match regex on the job label "
                      "(default: any job ending in Flink's 32-hex random suffix)")
    jobs.add_argument("--job-prefix", help="the reporter's jobName: matches <jobName><32 hex>")
    p.add_argument("--match", action="append", default=[], metavar="LABEL=VALUE",
                   help="label matcher (=, !=, =~, !~); repeatable, all must hold")
    p.add_argument("--keep", action="append", default=[], metavar="LABEL=VALUE[,LABEL=VALUE]",
                   help="never delete groups having all these labels; repeatable")
    p.add_argument("--keep-file", help="file with one keep entry per line (# comments allowed)")
    p.add_argument("--max-share", type=float, default=DEFAULT_MAX_SHARE,
                   help="refuse to delete more than this share of all groups (default %(default)s)")
    p.add_argument("--force", action="store_true", help="delete even above --max-share")
    p.add_argument("--parallelism", type=int, default=8, help="concurrent connections (default 8)")
    p.add_argument("--pipeline", type=int, default=32,
                   help="DELETEs in flight per connection (HTTP/1.1 pipelining; 1 = off; default 32)")
    p.add_argument("--retries", type=int, default=4, help="attempts per request (default 4)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per request (default 10)")
    p.add_argument("--user", help="basic-auth user")
    p.add_argument("--password-env", default="PUSHGATEWAY_PASSWORD",
                   help="environment variable holding the basic-auth password (default %(default)s)")
    p.set_defaults(func=run)


def build_criteria(args: argparse.Namespace) -> Criteria:
    keep_entries = list(args.keep)
    if args.keep_file:
        with open(args.keep_file, encoding="utf-8") as fh:
            keep_entries += [ln.strip() for ln in fh if ln.strip() and not ln.lstrip().startswith("#")]
    return Criteria(
        max_age=parse_duration(args.max_age, "--max-age"),
        job_regex=job_pattern(args.job_regex, args.job_prefix),
        matchers=tuple(parse_matcher(m, "--match") for m in args.match),
        keep=tuple(parse_keep(k, "--keep") for k in keep_entries),
        max_share=args.max_share,
        force=args.force,
    )


def run(args: argparse.Namespace) -> int:
    from flink_k8s.clients.pushgateway import PushgatewayClient, PushgatewayError, RetryPolicy, run_cleanup

    try:
        criteria = build_criteria(args)
        auth = None
        if args.user:
            password = os.environ.get(args.password_env)
            if password is None:
                raise SelectionError(f"--password-env={args.password_env!r}: variable is not set")
            auth = (args.user, password)
        client = PushgatewayClient(args.url, auth=auth, timeout=args.timeout,
                                   retry=RetryPolicy(attempts=max(args.retries, 1)))
    except (DurationError, SelectionError, ValueError, OSError) as exc:
        print(f"pushgateway-cleanup: {exc}", file=sys.stderr)
        return 2
    try:
        with client:
            report = run_cleanup(client, criteria, dry_run=args.dry_run, parallelism=args.parallelism,
                                 pipeline=args.pipeline)
    except PushgatewayError as exc:
        print(f"pushgateway-cleanup: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report.to_dict(max_groups=None), indent=2, ensure_ascii=False))
    else:
        print(report.summary() + f" (max age {format_duration(criteria.max_age)})")
        for group in report.deleted_groups:
            print(("would delete " if report.dry_run else "deleted ") + json.dumps(group, ensure_ascii=False))
        for failure in report.failures:
            print(f"FAILED {json.dumps(failure.labels, ensure_ascii=False)}: {failure.error}", file=sys.stderr)
    if report.refused:
        return 3
    return 1 if report.failures else 0
