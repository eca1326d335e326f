"""Signed JSON webhooks: the payload, the signature, and how a receiver verifies it.

Every request carries

- ``X-Bulletin-Delivery``: ``<namespace>/<name>/<runId>/<target>``, the same on every attempt
  (also after a crash), so a receiver can drop a repeat it has already processed;
- ``X-Bulletin-Timestamp``: Unix seconds when this attempt was signed;
- ``X-Bulletin-Signature``: ``v1=<hex>``, HMAC-SHA256 with the signing key over
  ``<timestamp>.<raw body>``.

A receiver recomputes the HMAC over the raw body, compares in constant time, rejects
timestamps more than five minutes away from its clock (a replay), and dedupes on
``X-Bulletin-Delivery``. ``verify`` below does exactly that, minus the dedupe.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

DELIVERY_HEADER = "X-Bulletin-Delivery"
TIMESTAMP_HEADER = "X-Bulletin-Timestamp"
SIGNATURE_HEADER = "X-Bulletin-Signature"
TOLERANCE_SECONDS = 300


def sign(key: str, timestamp: int, body: bytes) -> str:
    """The signature header value for ``body`` signed at ``timestamp``."""
    mac = hmac.new(key.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def signed_headers(key: str | None, delivery_id: str, body: bytes,
                   now: float | None = None) -> dict[str, str]:
    """Headers of one attempt: the delivery id, and the signature when there is a key."""
    headers = {DELIVERY_HEADER: delivery_id}
    if key:
        timestamp = int(now if now is not None else time.time())
        headers[TIMESTAMP_HEADER] = str(timestamp)
        headers[SIGNATURE_HEADER] = sign(key, timestamp, body)
    return headers


def verify(key: str, headers: Mapping[str, str], body: bytes, now: float | None = None,
           tolerance: int = TOLERANCE_SECONDS) -> bool:
    """Receiver side: is this a fresh request signed with ``key``? (headers: any case)"""
    lower = {k.lower(): v for k, v in headers.items()}
    raw_ts = lower.get(TIMESTAMP_HEADER.lower(), "")
    if not raw_ts.isdigit():
        return False
    if abs((now if now is not None else time.time()) - int(raw_ts)) > tolerance:
        return False
    expected = sign(key, int(raw_ts), body)
    given = [v.strip() for v in lower.get(SIGNATURE_HEADER.lower(), "").split(",")]
    return any(hmac.compare_digest(expected, g) for g in given)


def payload(*, delivery_id: str, schedule: Mapping[str, str], run: Mapping[str, Any],
            period: Mapping[str, Any], summary: Mapping[str, Any],
            artifacts: Sequence[Mapping[str, Any]]) -> bytes:
    """The JSON body: ``{"type": "bulletin.report", "id", "schedule", "run", "period",
    "summary", "artifacts"}``; each artifact has name, contentType, bytes, sha256 and either
    ``content`` (base64) or ``url`` + ``expiresAt``."""
    doc = {"type": "bulletin.report", "id": delivery_id, "schedule": dict(schedule),
           "run": dict(run), "period": dict(period), "summary": dict(summary),
           "artifacts": list(artifacts)}
    return json.dumps(doc, separators=(",", ":"), default=str).encode()


def inline_artifact(name: str, content_type: str, data: bytes) -> dict[str, Any]:
    """An artifact embedded in the payload."""
    return {"name": name, "contentType": content_type, "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "content": base64.b64encode(data).decode()}
