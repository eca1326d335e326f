"""CSRF protection: a random per-browser cookie, and in every form an HMAC of it under the
server's secret (a cross-site page can neither read the cookie nor forge the HMAC)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

COOKIE = "bulletin_csrf"
FIELD = "csrf"


def new_session() -> str:
    """A fresh random value for the CSRF cookie."""
    return secrets.token_urlsafe(24)


def token_for(secret: bytes, session: str) -> str:
    """The form token of the browser whose CSRF cookie is ``session``."""
    return hmac.new(secret, session.encode(), hashlib.sha256).hexdigest()


def valid(secret: bytes, session: str | None, submitted: str | None) -> bool:
    """Whether a POST carries the token of its own cookie."""
    if not session or not submitted:
        return False
    return hmac.compare_digest(token_for(secret, session), submitted)


def same_origin(origin: str | None, host: str | None, scheme: str) -> bool:
    """Whether the Origin header (when the browser sends one) names this server."""
    if origin is None:
        return True
    return origin == f"{scheme}://{host}" or (
        scheme == "http" and origin == f"https://{host}")  # TLS ended at a proxy
