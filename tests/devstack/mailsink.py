"""A real SMTP server (aiosmtpd) that keeps every message, optionally as .eml files."""

from __future__ import annotations

import email
import email.policy
import threading
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from devstack.ports import free_port


class _Handler:
    def __init__(self, sink: MailSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        self.sink.add(list(envelope.rcpt_tos), msg, raw)
        return "250 Message accepted for delivery"


class MailSink:
    """Start with start(); messages land in ``messages`` as (envelope recipients, message)."""

    def __init__(self, save_dir: Path | None = None) -> None:
        self.port = free_port()
        self.save_dir = save_dir
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self._lock = threading.Lock()
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    def add(self, rcpt: list[str], msg: EmailMessage, raw: bytes) -> None:
        with self._lock:
            self.messages.append((rcpt, msg))
            if self.save_dir is not None:
                self.save_dir.mkdir(parents=True, exist_ok=True)
                (self.save_dir / f"{len(self.messages):04d}.eml").write_bytes(raw)

    def start(self) -> MailSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()
