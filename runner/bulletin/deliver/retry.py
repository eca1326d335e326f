"""Delivery failures, transient and permanent (of the family api.errors.DeliveryError),
Retry-After, and the one retry loop of every delivery peer (SMTP, HTTP, S3), on the one
schedule (bulletin.api.backoff). The peers' libraries retry nothing underneath: smtplib and
httpx never do, and boto3 is told not to (deliver/storage.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from bulletin.api.backoff import Backoff
from bulletin.api.errors import DeliveryError


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


def wait_after(exc: DeliveryError, backoff: Backoff, n: int, limit: int) -> float | None:
    """The wait before the next attempt when attempt ``n`` of ``limit`` failed with ``exc``;
    None when there is none (a permanent failure, the last attempt, or a Retry-After beyond
    the backoff's cap)."""
    return backoff.delay(n, exc.retry_after) if exc.transient and n < limit else None


def attempted(attempt: Callable[[int], float | None], limit: int,
              sleep: Callable[[float], None]) -> None:
    """The delivery retry loop: ``attempt(n)`` for n = 1 .. ``limit``, sleeping the wait it
    returns (``wait_after``) before the next one, until it returns None (sent, or given up)."""
    for n in range(1, limit + 1):
        if (wait := attempt(n)) is None:
            return
        sleep(wait)
