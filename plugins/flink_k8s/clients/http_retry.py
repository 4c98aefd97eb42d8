"""Bounded retries with exponential backoff for HTTP clients (stdlib only, no I/O of its own).

Why a helper: every client must retry the same way — only transient failures (connection errors,
5xx answers), a fixed number of tries, growing delays with a cap — and tests must be able to run it
with an injected `sleep`. 4xx answers are the caller's mistake and are never retried.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """`attempts` tries in total; delay before try n+1 = min(backoff * multiplier**(n-1), max_backoff)."""

    attempts: int = 4
    backoff: float = 0.2
    multiplier: float = 2.0
    max_backoff: float = 5.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts={self.attempts}: must be at least 1 (1 = no retry)")
        if self.backoff < 0 or self.max_backoff < 0:
            raise ValueError(f"backoff={self.backoff}, max_backoff={self.max_backoff}: must not be negative")
        if self.multiplier < 1:
            raise ValueError(f"multiplier={self.multiplier}: must be at least 1")

    def delays(self) -> list[float]:
        """The sleeps between tries (attempts - 1 of them)."""
        return [min(self.backoff * self.multiplier**i, self.max_backoff) for i in range(self.attempts - 1)]


class RetriesExhausted(Exception):
    """Every try failed transiently; `last` is the final failure, `tries` how many were made."""

    def __init__(self, last: BaseException, tries: int) -> None:
        super().__init__(f"{tries} tries failed; last: {last}")
        self.last = last
        self.tries = tries


def call_with_retries(
    fn: Callable[[], T],
    is_transient: Callable[[BaseException], bool],
    policy: RetryPolicy = RetryPolicy(),
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[int, BaseException, float], None] | None = None,
) -> T:
    """Call `fn` until it returns; retry only exceptions `is_transient` accepts, at most `policy.attempts` tries.

    A non-transient exception propagates at once; after the last transient failure `RetriesExhausted`
    is raised from it. `on_retry(try_number, error, delay)` is told before each sleep (for logging).
    """
    delays = policy.delays()
    for attempt in range(1, policy.attempts + 1):
        try:
            return fn()
        except Exception as exc:
            if not is_transient(exc):
                raise
            if attempt == policy.attempts:
                raise RetriesExhausted(exc, attempt) from exc
            delay = delays[attempt - 1]
            if on_retry:
                on_retry(attempt, exc, delay)
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover
