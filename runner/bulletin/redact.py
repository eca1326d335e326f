"""Keep secret values out of logs, status and Events."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

MASK = "****"


def url_secrets(url: str) -> list[str]:
    """The password (raw and decoded) embedded in a URL, if any."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    secret = parts.password
    return [s for s in {secret, unquote(secret)} if s] if secret else []


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret value (4+ characters) replaced by a mask."""
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text
