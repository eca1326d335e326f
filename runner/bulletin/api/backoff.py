"""The one retry schedule, for delivery attempts, status conflicts and ledger writes:
exponential steps from ``initial`` up to ``cap`` seconds, with equal jitter (half of each step
fixed, half random) so that concurrent retries spread out."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from bulletin.api.delivery import Retry

T = TypeVar("T")


class Backoff:
    """How long to wait before retry number ``n`` (1-based)."""

    def __init__(self, initial: float, cap: float, rng: random.Random | None = None) -> None:
        self.initial, self.cap = initial, cap
        self.rng = rng or random.Random()

    @classmethod
    def of(cls, policy: Retry, rng: random.Random | None = None) -> Backoff:
        """The schedule of a spec.delivery.retry policy."""
        return cls(float(policy.initial_backoff_seconds), float(policy.max_backoff_seconds), rng)

    def wait(self, retry: int) -> float:
        """Seconds before retry ``retry``."""
        step = min(self.cap, self.initial * 2.0 ** (retry - 1))
        return step / 2 + self.rng.uniform(0, step / 2)

    def delay(self, retry: int, retry_after: float | None = None) -> float | None:
        """Like ``wait``, but a server's Retry-After is obeyed; None when it asks for longer
        than the cap (give up rather than hammer)."""
        if retry_after is not None:
            return retry_after if retry_after <= self.cap else None
        return self.wait(retry)


def retried(call: Callable[[], T], *, backoff: Backoff, limit: float,
            retryable: Callable[[BaseException, float], bool],
            on_retry: Callable[[BaseException, float], None] = lambda exc, wait: None,
            sleep: Callable[[float], None] = time.sleep,
            clock: Callable[[], float] = time.monotonic) -> T:
    """``call()``, tried again after ``backoff``'s waits while ``retryable(exc, wait)`` says so
    and the next try would start within ``limit`` s of the first: the loop under the API
    clients' outage retries (the runner's and the operator's), which differ in policy only."""
    deadline, attempt = clock() + limit, 0
    while True:
        try:
            return call()
        except Exception as exc:
            attempt += 1
            wait = backoff.wait(attempt)
            if not retryable(exc, wait) or clock() + wait > deadline:
                raise
            on_retry(exc, wait)
            sleep(wait)
