"""Delivery failures, transient and permanent (of the family api.errors.DeliveryError), and
Retry-After (the schedule itself: bulletin.api.backoff)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

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
