"""Keep secret values out of logs, status and Events."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from urllib.parse import unquote, urlsplit

from bulletin.api import podenv

MASK = "****"


def url_secrets(url: str) -> list[str]:
    """The password (raw and decoded) embedded in a URL, if any."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    secret = parts.password
    return [s for s in {secret, unquote(secret)} if s] if secret else []


def _url_parts(url: str) -> list[str]:
    """A secret URL and the parts of it that carry the secret (path and query, password)."""
    parts = urlsplit(url)
    tail = parts.path + (f"?{parts.query}" if parts.query else "")
    return [url, *url_secrets(url), *([tail] if len(tail) >= 8 else [])]


def delivery_secrets(env: Mapping[str, str]) -> list[str]:
    """Every delivery secret value in a runner's pod ``env`` (bulletin.api.podenv)."""
    found: list[str] = []
    for name, value in env.items():
        if value and podenv.is_secret_url(name):
            found += _url_parts(value)
        elif value and podenv.is_delivery_secret(name):
            found.append(value)
            if name == podenv.PROMETHEUS_HEADERS:  # each header's value on its own too
                found += [line.partition(":")[2].strip() for line in value.splitlines()]
    return found


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret value (4+ characters) replaced by a mask."""
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


class RedactingFilter(logging.Filter):
    """A handler filter that masks secret values in every record, whoever logged it."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = list(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message, self.secrets)
        if clean != message:
            record.msg, record.args = clean, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info),
                                     self.secrets)
        return True


@contextmanager
def redacted_logs(secrets: Iterable[str]) -> Iterator[None]:
    """Mask ``secrets`` in everything the root logger's handlers write, for a while; and keep
    httpx from logging request URLs (they may carry tokens) at INFO."""
    root, noisy = logging.getLogger(), logging.getLogger("httpx")
    masking = RedactingFilter(secrets)
    handlers = list(root.handlers)
    level = noisy.level
    for handler in handlers:
        handler.addFilter(masking)
    noisy.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(masking)
        noisy.setLevel(level)
