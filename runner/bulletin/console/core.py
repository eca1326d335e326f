"""The console's settings and the request helpers the app and its pages share."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from bulletin.console import csrf
from bulletin.console.access import Access
from bulletin.console.actions import Backfills

CSP = ("default-src 'none'; script-src 'none'; style-src 'self'; img-src 'self';"
       " form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY",
           "Cross-Origin-Opener-Policy": "same-origin"}


@dataclass
class Console:
    """The console's settings and state."""

    access: Access
    namespaces: list[str] = field(default_factory=list)  # empty: list cluster-wide
    owner_label: str = "owner"
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    backfills: Backfills = field(default_factory=Backfills)
    answer_timeout: float | None = None  # seconds to wait for the operator (default 60)
    archive: Any = None  # the run archive (bulletin.archive.store.Archive), if reachable
    archive_note: str = ""  # why there is none, when it is configured but out of reach


def scheme(request: Request) -> str:
    """http or https, as the browser sees it (a proxy may end TLS)."""
    return request.headers.get("x-forwarded-proto") or request.url.scheme


def cookie(name: str, value: str, request: Request, max_age: int | None = None) -> str:
    """A Set-Cookie value: HttpOnly, SameSite=Strict, Secure over https."""
    secure = "; Secure" if scheme(request) == "https" else ""
    age = f"; Max-Age={max_age}" if max_age is not None else ""
    return f"{name}={value}; Path=/; HttpOnly; SameSite=Strict{secure}{age}"


def csrf_session(request: Request) -> str:
    """The browser's CSRF cookie (or the one being set with this response)."""
    return request.cookies.get(csrf.COOKIE) or request.scope.get("state", {}).get(
        "csrf_session", "")
