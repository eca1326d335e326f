"""Bursting with spec.protection: every recipient's files protected, with their own password from
burst.passwordColumn (else the Secret's), opened by 7-Zip and qpdf; the run goes through
execute_burst against a real SQLite database and a real SMTP server."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from bulletin.api.podenv import PROTECTION_PASSWORD
from bulletin.api.spec import ReportScheduleSpec
from bulletin.api.status import RunRecord, RunResult, Trigger
from bulletin.execution import execute_burst
from delivery_support import PERIOD, context
from devstack.mailsink import MailSink
from doubles import MemoryLedger, memory_book

PINS = {"north": "pin-north-1", "south": "pin-south-2", "east": ""}  # east: no own password
SHARED = "shared secret 9"
INSTRUCTIONS = "Your password is the PIN HR gave you; others call HR on 555-0199."


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = tmp_path / "sales.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE managers (email TEXT, region TEXT, pin TEXT)")
        conn.execute("CREATE TABLE sales (region TEXT, amount INTEGER)")
        conn.executemany("INSERT INTO managers VALUES (?, ?, ?)",
                         [(f"{r}@example.com", r, p) for r, p in PINS.items()])
        conn.executemany("INSERT INTO sales VALUES (?, ?)",
                         [(r, 1000 + i) for i, r in enumerate(PINS)])
    return f"sqlite:///{path}"


@pytest.fixture
def sink() -> Iterator[MailSink]:
    server = MailSink().start()
    yield server
    server.stop()


def _spec(protection: dict[str, Any]) -> ReportScheduleSpec:
    return ReportScheduleSpec.model_validate({
        "schedule": {"cron": "0 9 * * MON"},
        "source": {"connectionSecretRef": {"name": "db", "key": "url"}},
        "datasets": [{"name": "managers",
                      "query": "SELECT email, region, pin FROM managers ORDER BY email"},
                     {"name": "sales",
                      "query": "SELECT region, amount FROM sales WHERE region = :region"}],
        "formats": ["csv", "pdf"],
        "protection": {"instructions": INSTRUCTIONS, **protection},
        "delivery": {"email": {"smtpSecretRef": {"name": "smtp"}},
                     "burst": {"dataset": "managers", "passwordColumn": "pin"},
                     "retry": {"attempts": 1}}})


def _run(sink: MailSink, tmp_path: Path, db: str, spec: ReportScheduleSpec,
         **env: str) -> RunRecord:
    record = RunRecord(run_id="weekly-29000000", trigger=Trigger.SCHEDULED,
                       start_time=datetime(2026, 11, 23, 9, tzinfo=UTC))
    ctx = context({"BULLETIN_SMTP_host": "127.0.0.1", "BULLETIN_SMTP_port": str(sink.port),
                   "BULLETIN_SMTP_security": "none", **env}, tmp_path)
    execute_burst(ctx, spec, record, PERIOD, db, MemoryLedger(), memory_book())
    return record


def _opens(tool: str, path: Path, password: str, out: Path) -> bool:
    exe = shutil.which(tool)
    assert exe, f"needs {tool} (tests/setup/deps.sh)"
    argv = ([exe, "x", f"-p{password}", f"-o{out}", "-y", str(path)] if tool == "7z" else
            [exe, f"--password={password}", "--check", str(path)])
    return subprocess.run(argv, capture_output=True, timeout=60).returncode == 0


def _received(sink: MailSink, tmp_path: Path) -> dict[str, dict[str, Path]]:
    """Each recipient's attachments, saved under tmp_path/received/<address>/."""
    found: dict[str, dict[str, Path]] = {}
    for rcpt, message in sink.messages:
        folder = tmp_path / "received" / rcpt[0]
        folder.mkdir(parents=True)
        for part in message.iter_attachments():
            path = folder / str(part.get_filename())
            path.write_bytes(part.get_content())
            found.setdefault(rcpt[0], {})[path.suffix] = path
        body = message.get_body(("plain",))
        assert body is not None and INSTRUCTIONS in body.get_content()
        assert b"pin-" not in message.as_bytes()
    return found


def test_each_recipient_gets_files_only_their_own_password_opens(
        db: str, sink: MailSink, tmp_path: Path) -> None:
    record = _run(sink, tmp_path, db, _spec({}))
    assert record.result is RunResult.PARTIALLY_DELIVERED, record.message
    assert record.message == (
        "burst: 3 recipients: 2 sent, 1 failed, 0 skipped; east@example.com: no password for"
        " this recipient (burst.passwordColumn is empty and spec.protection has no"
        " passwordSecretRef); nothing was sent")
    got = _received(sink, tmp_path)
    assert sorted(got) == ["north@example.com", "south@example.com"]
    for address, files in got.items():
        own, other = (PINS["north"], PINS["south"]) if address.startswith("north") else (
            PINS["south"], PINS["north"])
        assert sorted(files) == [".pdf", ".zip"]
        assert not _opens("qpdf", files[".pdf"], other, tmp_path)
        assert _opens("qpdf", files[".pdf"], own, tmp_path)
        assert not _opens("7z", files[".zip"], other, tmp_path / "x" / address)
        assert _opens("7z", files[".zip"], own, tmp_path / "ok" / address)
    assert "pin-" not in record.model_dump_json()


def test_an_empty_column_falls_back_to_the_secrets_password(
        db: str, sink: MailSink, tmp_path: Path) -> None:
    spec = _spec({"passwordSecretRef": {"name": "report-password", "key": "password"}})
    record = _run(sink, tmp_path, db, spec, **{PROTECTION_PASSWORD: SHARED})
    assert record.result is RunResult.SUCCEEDED, record.message
    east = _received(sink, tmp_path)["east@example.com"]
    assert _opens("qpdf", east[".pdf"], SHARED, tmp_path)
    assert _opens("7z", east[".zip"], SHARED, tmp_path / "east")
    assert SHARED not in record.model_dump_json()
