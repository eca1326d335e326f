"""A real SMTP server (aiosmtpd) that keeps every message, optionally as .eml files.

Options for delivery tests: ``security`` ("none", "starttls" or "tls", with a throw-away CA
in ``tls.ca_pem``), ``users`` to require AUTH (``mechanisms`` limits what is offered, e.g.
["LOGIN"]), ``refuse(n)`` to answer the next n connections with 421 and hang up, and
``reject`` to refuse some recipients with a given reply (e.g. {"x@y.z": "550 no such user"}),
and ``hold(n)``: the n-th message waits at DATA until ``release()`` and is then refused (451),
so a test can kill its sender mid-delivery without the held message counting as received.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import shutil
import tempfile
import threading
import warnings
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from devstack.ports import LISTEN, free_port
from devstack.tls import ServerTls, make_server_tls

ALL_MECHANISMS = ("PLAIN", "LOGIN")


class _Handler:
    def __init__(self, sink: MailSink) -> None:
        self.sink = sink

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        reply = self.sink.reject.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.sink.take_hold(envelope.rcpt_tos):
            await asyncio.get_running_loop().run_in_executor(None, self.sink.wait_release)
            return "451 4.3.0 Held by the test and dropped"
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        self.sink.add(list(envelope.rcpt_tos), msg, raw, session)
        return "250 Message accepted for delivery"


class _SinkSMTP(SMTP):
    """aiosmtpd's server, able to turn connections away with 421 while told to."""

    def __init__(self, sink: MailSink, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sink = sink

    async def _handle_client(self) -> None:
        if self.sink.take_refusal():
            await self.push("421 4.3.2 Service not available, try again later")
            if self.transport is not None:
                self.transport.close()
            return
        await super()._handle_client()


class _Controller(Controller):
    def __init__(self, sink: MailSink, **kwargs: Any) -> None:
        super().__init__(_Handler(sink), **kwargs)
        self.sink = sink

    def factory(self) -> SMTP:
        with warnings.catch_warnings():  # AUTH without STARTTLS is fine over implicit TLS
            warnings.simplefilter("ignore", UserWarning)
            return _SinkSMTP(self.sink, self.handler, **self.SMTP_kwargs)


class MailSink:
    """Start with start(); messages land in ``messages`` as (envelope recipients, message)."""

    def __init__(self, save_dir: Path | None = None, *, security: str = "none",
                 users: dict[str, str] | None = None,
                 mechanisms: tuple[str, ...] = ALL_MECHANISMS) -> None:
        self.port = free_port()
        self.save_dir = save_dir
        self.security = security
        self.users = users
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.raw: list[bytes] = []
        self.logins: list[str] = []
        self.reject: dict[str, str] = {}
        self.refused = 0
        self._refuse = 0
        self._lock = threading.Lock()
        self._data_commands = 0
        self._hold_at: int | None = None
        self.held_for: list[str] = []  # the held message's recipients
        self._held = threading.Event()
        self._release = threading.Event()
        self.tls: ServerTls | None = None
        self._tls_dir: Path | None = None
        kwargs: dict[str, Any] = {"hostname": LISTEN, "port": self.port,
                                  "server_hostname": "localhost"}
        if security != "none":
            self._tls_dir = Path(tempfile.mkdtemp(prefix="mailsink-tls-"))
            self.tls = make_server_tls(self._tls_dir)
            if security == "tls":
                kwargs["ssl_context"] = self.tls.server_context()
            else:
                kwargs["tls_context"] = self.tls.server_context()
                kwargs["require_starttls"] = True
        if users is not None:
            kwargs.update(authenticator=self._authenticate, auth_required=True,
                          auth_require_tls=security == "starttls",
                          auth_exclude_mechanism=[m for m in ALL_MECHANISMS
                                                  if m not in mechanisms])
        self._controller = _Controller(self, **kwargs)

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str,
                      auth_data: Any) -> AuthResult:
        if not isinstance(auth_data, LoginPassword) or self.users is None:
            return AuthResult(success=False, handled=False)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        ok = self.users.get(login) == password
        if ok:
            with self._lock:
                self.logins.append(f"{mechanism}:{login}")
        return AuthResult(success=ok, handled=False)

    def refuse(self, connections: int) -> None:
        """Answer the next ``connections`` connections with 421 and close them."""
        with self._lock:
            self._refuse = connections

    def take_refusal(self) -> bool:
        with self._lock:
            if self._refuse <= 0:
                return False
            self._refuse -= 1
            self.refused += 1
            return True

    def hold(self, nth: int) -> None:
        """Keep the ``nth`` message (1-based, counting DATA commands) waiting until release();
        it is then refused, never received."""
        with self._lock:
            self._hold_at = nth

    def take_hold(self, rcpt: list[str]) -> bool:
        with self._lock:
            self._data_commands += 1
            hold = self._data_commands == self._hold_at
            if hold:
                self.held_for = list(rcpt)
        if hold:
            self._held.set()
        return hold

    def wait_held(self, timeout: float) -> bool:
        return self._held.wait(timeout)

    def wait_release(self) -> None:
        self._release.wait(300)

    def release(self) -> None:
        self._release.set()

    def add(self, rcpt: list[str], msg: EmailMessage, raw: bytes, session: Any = None) -> None:
        with self._lock:
            self.messages.append((rcpt, msg))
            self.raw.append(raw)
            if self.save_dir is not None:
                self.save_dir.mkdir(parents=True, exist_ok=True)
                (self.save_dir / f"{len(self.messages):04d}.eml").write_bytes(raw)

    def copies(self) -> dict[str, int]:
        """How many messages each envelope recipient received."""
        with self._lock:
            counts: dict[str, int] = {}
            for rcpt, _ in self.messages:
                for address in rcpt:
                    counts[address] = counts.get(address, 0) + 1
            return counts

    def start(self) -> MailSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self._controller.stop()
        if self._tls_dir is not None:
            shutil.rmtree(self._tls_dir, ignore_errors=True)
