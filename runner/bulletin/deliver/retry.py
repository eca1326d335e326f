"""Failure classes and the retry schedule: exponential backoff with jitter, Retry-After aware."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from bulletin.api.delivery import Retry


class DeliveryError(Exception):
    """A failed attempt, with a message fit for status (no secret values)."""

    transient = False

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Transient(DeliveryError):
    """Worth retrying: connection errors, timeouts, SMTP 4xx, HTTP 5xx/408/429."""

    transient = True


class Permanent(DeliveryError):
    """Retrying cannot help: SMTP 5xx, HTTP 4xx, bad configuration."""


def http_error(status: int, what: str, retry_after: str | None = None,
               detail: str = "") -> DeliveryError:
    """The failure an HTTP status means: 5xx, 408 and 429 are transient, the rest permanent."""
    message = f"{what}: HTTP {status}" + (f": {detail}" if detail else "")
    if status >= 500 or status in (408, 429):
        return Transient(message, retry_after=parse_retry_after(retry_after))
    return Permanent(message)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class Backoff:
    """How long to wait before retry number ``n`` (1-based) of a target."""

    def __init__(self, policy: Retry, rng: random.Random | None = None) -> None:
        self.policy = policy
        self.rng = rng or random.Random()

    def delay(self, retry: int, retry_after: float | None = None) -> float | None:
        """Equal jitter: half the exponential step fixed, half random. A Retry-After is obeyed;
        None when it asks for longer than maxBackoffSeconds (give up rather than hammer)."""
        cap = float(self.policy.max_backoff_seconds)
        if retry_after is not None:
            return retry_after if retry_after <= cap else None
        step = min(cap, self.policy.initial_backoff_seconds * 2.0 ** (retry - 1))
        return step / 2 + self.rng.uniform(0, step / 2)
