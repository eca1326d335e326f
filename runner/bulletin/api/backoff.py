"""The one retry schedule, for delivery attempts, status conflicts and ledger writes:
exponential steps from ``initial`` up to ``cap`` seconds, with equal jitter (half of each step
fixed, half random) so that concurrent retries spread out."""

from __future__ import annotations

import random

from bulletin.api.delivery import Retry


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
