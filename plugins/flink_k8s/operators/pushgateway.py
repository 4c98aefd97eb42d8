"""PushgatewayCleanupOperator: delete stale Pushgateway groups; the report goes to XCom.

All decisions live in `flink_k8s.core.stale_groups`; I/O in `flink_k8s.clients.pushgateway`. The
task fails when the gateway stays unreachable after the client's bounded retries, when a deletion
fails, or when the safety guard refuses a mass deletion (`fail_on_refusal`, default on, not in dry
runs): a nightly run that needs a human says so in red, and a rerun with `force` proceeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator

from flink_k8s.core.durations import parse_duration
from flink_k8s.core.stale_groups import DEFAULT_MAX_SHARE, Criteria, job_pattern, parse_keep, parse_matcher


def as_bool(value: Any, field: str) -> bool:
    """Params rendered through Jinja arrive as strings; accept the usual spellings only."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off", "", "none"):
        return False
    raise ValueError(f"{field}={value!r}: expected true/false")


def _optional(value: Any) -> str | None:
    return None if value is None or str(value).strip() in ("", "None") else str(value)


class PushgatewayCleanupOperator(BaseOperator):
    """Delete Pushgateway groups whose last successful push is older than `max_age`.

    :param max_age: '15m', '2h', '1d', 'PT15M' or seconds (templated)
    :param dry_run: report only (templated); kept as `dry_run_only`, since `dry_run` is BaseOperator's method
    :param job_prefix: the Flink reporter's jobName; matches `<jobName><32 hex>` (templated)
    :param job_regex: full-match regex on `job`, instead of job_prefix (templated)
    :param matchers: label matchers like `cluster=prod`, `instance=~tm-.*`
    :param keep: keep-list entries like `job=flink-critical,instance=x`
    :param max_share: refuse to delete more than this share of all groups unless `force`
    :param force: delete even above max_share (templated)
    :param fail_on_refusal: fail the task when the guard refuses (default True; never in dry runs)
    :param parallelism: connections used for deletes; `pipeline`: DELETEs in flight per connection
    :param url: gateway URL; when unset, from connection `pushgateway_conn_id`
    """

    template_fields: Sequence[str] = ("max_age", "dry_run_only", "job_prefix", "job_regex", "force", "url")
    ui_color = "#e6522c"

    def __init__(
        self,
        *,
        max_age: str | float = "1d",
        dry_run: bool | str = False,
        job_prefix: str | None = None,
        job_regex: str | None = None,
        matchers: Sequence[str] = (),
        keep: Sequence[str] = (),
        max_share: float = DEFAULT_MAX_SHARE,
        force: bool | str = False,
        fail_on_refusal: bool = True,
        parallelism: int = 8,
        pipeline: int = 32,
        pushgateway_conn_id: str = "pushgateway_default",
        url: str | None = None,
        request_timeout: float = 10.0,
        request_attempts: int = 4,
        retry_backoff: float = 0.5,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.max_age = max_age
        self.dry_run_only = dry_run
        self.job_prefix = job_prefix
        self.job_regex = job_regex
        self.matchers = list(matchers)
        self.keep = list(keep)
        self.max_share = max_share
        self.force = force
        self.fail_on_refusal = fail_on_refusal
        self.parallelism = parallelism
        self.pipeline = pipeline
        self.pushgateway_conn_id = pushgateway_conn_id
        self.url = url
        self.request_timeout = request_timeout
        self.request_attempts = request_attempts
        self.retry_backoff = retry_backoff

    def criteria(self) -> Criteria:
        return Criteria(
            max_age=parse_duration(self.max_age, "max_age"),
            job_regex=job_pattern(_optional(self.job_regex), _optional(self.job_prefix)),
            matchers=tuple(parse_matcher(m, "matchers") for m in self.matchers),
            keep=tuple(parse_keep(k, "keep") for k in self.keep),
            max_share=float(self.max_share),
            force=as_bool(self.force, "force"),
        )

    def execute(self, context) -> dict:
        from flink_k8s.clients.pushgateway import run_cleanup
        from flink_k8s.hooks.pushgateway import PushgatewayHook

        criteria = self.criteria()
        dry_run = as_bool(self.dry_run_only, "dry_run")
        hook = PushgatewayHook(self.pushgateway_conn_id, url=_optional(self.url))
        with hook.get_client(self.request_timeout, self.request_attempts, self.retry_backoff) as client:
            self.log.info("Cleaning %s: max_age=%ss job_regex=%r dry_run=%s force=%s", client.url,
                          criteria.max_age, criteria.job_regex, dry_run, criteria.force)
            report = run_cleanup(client, criteria, dry_run=dry_run, parallelism=self.parallelism,
                                 pipeline=self.pipeline)
        self.log.info("%s", report.summary())
        for group in report.deleted_groups[:50]:
            self.log.info("%s %s", "would delete" if dry_run else "deleted", group)
        if report.failures:
            raise RuntimeError(f"{len(report.failures)} of {report.stale} stale groups could not be deleted; "
                               f"first: {report.failures[0].labels}: {report.failures[0].error}")
        if report.refused:
            self.log.warning("Safety guard: %s", report.refused)
            if self.fail_on_refusal and not dry_run:
                raise RuntimeError(f"safety guard refused the cleanup: {report.refused}")
        return report.to_dict()
