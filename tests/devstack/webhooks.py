"""A real HTTP receiver for webhook tests: it verifies Bulletin's signature the documented way.

Verification is written here from docs/delivery.md, not imported from the runner: HMAC-SHA256
with the signing key over ``<X-Bulletin-Timestamp>.<raw body>``, ``X-Bulletin-Signature:
v1=<hex>``, timestamps older than 300 s rejected (401). Each request is recorded; a request is
*delivered* when it was answered 2xx. Scripted failures (``fail``), a held request (``hold``:
the n-th request waits until ``release``) and Slack-style "ok" answers are available.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from devstack.ports import HOST, LISTEN

TOLERANCE = 300


@dataclass
class Received:
    """One request as the receiver saw it."""

    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool | None
    status: int = 0

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class _Script:
    statuses: list[int] = field(default_factory=list)
    retry_after: str | None = None
    bodies: list[bytes] = field(default_factory=list)


def signature_ok(key: str, headers: dict[str, str], body: bytes, now: float) -> bool:
    """The receiver's check, as docs/delivery.md describes it."""
    timestamp = headers.get("x-bulletin-timestamp", "")
    if not timestamp.isdigit() or abs(now - int(timestamp)) > TOLERANCE:
        return False
    expected = "v1=" + hmac.new(key.encode(), timestamp.encode() + b"." + body,
                                hashlib.sha256).hexdigest()
    given = headers.get("x-bulletin-signature", "")
    return any(hmac.compare_digest(expected, g.strip()) for g in given.split(","))


class WebhookServer:
    """Listens on LISTEN (devstack.ports); ``url(path)`` for each endpoint, on ``host``: the
    node address by default (pods reach it), or loopback for tests about addresses."""

    def __init__(self, key: str | None = None, host: str = HOST) -> None:
        self.host = host
        self.key = key
        self.received: list[Received] = []
        self._scripts: dict[str, _Script] = {}
        self._hold_at: int | None = None
        self._held = threading.Event()
        self._release = threading.Event()
        self._release_status = 503
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status, headers, reply = server._answer(self.path, dict(self.headers), body)
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                except OSError:
                    pass  # the client is gone (killed while held)

        self._httpd = ThreadingHTTPServer((LISTEN, 0), Handler)
        self._httpd.daemon_threads = True
        self.port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,),
                                        daemon=True)

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def fail(self, path: str, statuses: list[int], retry_after: str | None = None) -> None:
        """Answer the next requests to ``path`` with ``statuses``, then 200."""
        with self._lock:
            self._scripts[path] = _Script(list(statuses), retry_after)

    def reply(self, path: str, bodies: list[bytes]) -> None:
        """Answer the next requests to ``path`` 200 with these bodies (a Teams quirk)."""
        with self._lock:
            self._scripts[path] = _Script(bodies=list(bodies))

    def hold(self, nth: int) -> None:
        """Keep the ``nth`` request (counting all paths, 1-based) waiting until release()."""
        with self._lock:
            self._hold_at = nth

    def wait_held(self, timeout: float) -> bool:
        return self._held.wait(timeout)

    def release(self, status: int = 503) -> None:
        """Answer the held request with ``status``."""
        self._release_status = status
        self._release.set()

    def delivered(self, path: str | None = None) -> list[Received]:
        """Requests answered 2xx (to ``path``, or to any)."""
        with self._lock:
            return [r for r in self.received
                    if 200 <= r.status < 300 and (path is None or r.path == path)]

    def _answer(self, path: str, raw_headers: dict[str, str], body: bytes
                ) -> tuple[int, dict[str, str], bytes]:
        headers = {k.lower(): v for k, v in raw_headers.items()}
        verified = None
        if self.key is not None and "x-bulletin-signature" in headers:
            verified = signature_ok(self.key, headers, body, time.time())
        record = Received(path, headers, body, verified)
        with self._lock:
            self.received.append(record)
            hold = self._hold_at == len(self.received)
            script = self._scripts.get(path)
            status = script.statuses.pop(0) if script and script.statuses else 200
            retry_after = script.retry_after if script else None
            reply = script.bodies.pop(0) if script and script.bodies else None
        if hold:
            self._held.set()
            self._release.wait(300)
            status = self._release_status
        if verified is False:
            status = 401
        answer: dict[str, str] = {}
        if status in (429, 503) and retry_after:
            answer["Retry-After"] = retry_after
        record.status = status
        return status, answer, reply or (b"ok" if status < 300 else b"error")

    def start(self) -> WebhookServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
