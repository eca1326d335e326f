"""Peers that accept a connection and then stop answering, for the slow-peer fault tests.

Each is a real asyncio server on LISTEN (devstack.ports), in a thread of its own, that keeps
every connection open without a reply at some point of its protocol:

- ``silent``: accepts and never writes a byte (a database that never completes its handshake);
- ``smtp_after_ehlo``: greets, reads EHLO, then says nothing more;
- ``smtp_after_data``: answers EHLO, MAIL, RCPT and DATA, takes the whole message, and never
  confirms it (the RFC 1047 case);
- ``http_no_answer``: reads a whole HTTP request and never answers.

What arrived is recorded: connections, SMTP messages taken, HTTP requests' headers.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from devstack.ports import HOST, LISTEN

Behaviour = Callable[["StallServer", asyncio.StreamReader, asyncio.StreamWriter],
                     Awaitable[None]]


@dataclass
class Seen:
    """What a stalling server received."""

    connections: int = 0
    smtp_messages: int = 0
    http_requests: list[dict[str, str]] = field(default_factory=list)


class StallServer:
    """``StallServer(behaviour).start()``; ``port``, ``host`` (what pods connect to), ``seen``."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.host = HOST
        self.port = 0
        self.seen = Seen()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    def start(self) -> StallServer:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        self._server = future.result(timeout=10)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def _start(self) -> asyncio.Server:
        return await asyncio.start_server(self._serve, LISTEN, 0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.seen.connections += 1
        self._writers.append(writer)
        try:
            await self.behaviour(self, reader, writer)
            await reader.read()  # then hold the connection open, silent, until the peer leaves
        except (ConnectionError, asyncio.IncompleteReadError):
            pass

    def stop(self) -> None:
        async def close() -> None:
            assert self._server is not None
            self._server.close()
            for writer in self._writers:
                writer.close()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)


async def silent(server: StallServer, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
    """Accept, and answer nothing at all."""


async def _reply(writer: asyncio.StreamWriter, line: str) -> None:
    writer.write(line.encode() + b"\r\n")
    await writer.drain()


async def smtp_after_ehlo(server: StallServer, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
    """Greet, read EHLO, then stall."""
    await _reply(writer, "220 stall.example ESMTP")
    await reader.readline()


async def smtp_after_data(server: StallServer, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
    """A plain SMTP dialogue up to the end of the message, which is never confirmed."""
    await _reply(writer, "220 stall.example ESMTP")
    while line := (await reader.readline()).decode().strip():
        verb = line.split(" ", 1)[0].split(":", 1)[0].upper()
        if verb in ("EHLO", "HELO"):
            await _reply(writer, "250 stall.example")
        elif verb == "DATA":
            await _reply(writer, "354 go ahead")
            await reader.readuntil(b"\r\n.\r\n")
            server.seen.smtp_messages += 1
            return
        else:
            await _reply(writer, "250 ok")


async def http_no_answer(server: StallServer, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
    """Read one whole request (headers and body), answer nothing."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    headers = dict(h.split(": ", 1) for h in head[1:] if ": " in h)
    length = int({k.lower(): v for k, v in headers.items()}.get("content-length", "0"))
    await reader.readexactly(length)
    server.seen.http_requests.append(headers)
