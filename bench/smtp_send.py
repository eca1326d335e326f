"""Benchmark: a report with a 10 MB attachment sent to a local SMTP server (aiosmtpd).

Compares Bulletin's send (bulletin.deliver.email.send: aiosmtplib, one transaction) with a raw
smtplib send of the very same message bytes, alternating rounds, medians compared. The server
runs in its own process so the two clients do not share it a GIL. Goal: ours <= 1.5x smtplib.
Last line: ``BENCH smtp_send ratio=<ours/baseline> goal=1.5 ...``.
"""

from __future__ import annotations

import os
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROUNDS = 5
SIZE = 10 * 1024 * 1024
GOAL = 1.5


def serve(port: int) -> None:
    """The SMTP server: aiosmtpd, accepting and discarding every message."""
    from aiosmtpd.controller import Controller

    class Discard:
        async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
            return "250 OK"

    controller = Controller(Discard(), hostname="127.0.0.1", port=port,
                            data_size_limit=64 * 1024 * 1024)
    controller.start()
    sys.stdin.read()  # until the parent closes our stdin
    controller.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _message(directory: Path) -> bytes:
    from bulletin.deliver.email import Letter, build_message
    from doubles import FileArtifact

    attachment = directory / "usage.xlsx"
    attachment.write_bytes(os.urandom(SIZE))
    letter = Letter(sender="Reports <reports@example.com>", to=["team@example.com"], cc=[],
                    subject="Weekly usage", text="The report is attached.\n",
                    html="<p>The report is attached.</p>",
                    attachments=[FileArtifact(attachment, "application/octet-stream")])
    return build_message(letter).as_bytes()


def main() -> int:
    from bulletin.deliver.email import Smtp, send
    from bulletin.runconfig import SmtpSettings

    port = _free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port)],
                              stdin=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        with tempfile.TemporaryDirectory() as tmp:
            data = _message(Path(tmp))
        smtp = Smtp(SmtpSettings(host="127.0.0.1", port=port, security="none"))
        recipients = ["team@example.com"]

        def ours() -> None:
            result = send(smtp, "reports@example.com", recipients, data)
            assert result.accepted == recipients

        def baseline() -> None:
            with smtplib.SMTP("127.0.0.1", port) as client:
                client.sendmail("reports@example.com", recipients, data)

        timings: dict[str, list[float]] = {"ours": [], "baseline": []}
        ours()  # warm up both paths (imports, first connection)
        baseline()
        for _ in range(ROUNDS):
            for name, fn in (("ours", ours), ("baseline", baseline)):
                start = time.perf_counter()
                fn()
                timings[name].append(time.perf_counter() - start)
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(timeout=30)
    ours_s, base_s = (statistics.median(timings[k]) for k in ("ours", "baseline"))
    ratio = ours_s / base_s
    print(f"message {len(data) / 1e6:.1f} MB on the wire, {ROUNDS} rounds each, medians:"
          f" ours {ours_s * 1000:.0f} ms, smtplib {base_s * 1000:.0f} ms")
    print(f"BENCH smtp_send ratio={ratio:.2f} goal={GOAL} ours_ms={ours_s * 1000:.0f}"
          f" baseline_ms={base_s * 1000:.0f} message_mb={len(data) / 1e6:.1f} rounds={ROUNDS}")
    return 0 if ratio <= GOAL else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve(int(sys.argv[2]))
        sys.exit(0)
    sys.exit(main())
