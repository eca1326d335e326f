"""The operator's archive writer on the suite's real PostgreSQL: it writes the runs a status
gains or changes (once each), and a failing archive costs a metric and a log line without
the URL's password, never an exception."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from bulletin.api.status import ReportScheduleStatus
from bulletin.archive.store import Archive
from bulletin_operator import archiving
from devstack.postgres import Postgres

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _history(*runs: dict[str, object]) -> ReportScheduleStatus:
    return ReportScheduleStatus.parse({"history": list(runs)})


def _run(n: int, result: str | None = "Succeeded") -> dict[str, object]:
    start = (T0 + timedelta(hours=n)).isoformat()
    return {"runId": f"r-{n}", "trigger": "Scheduled", "startTime": start,
            **({"result": result, "endTime": start} if result else {})}


def test_writes_new_and_changed_runs_once(postgres: Postgres) -> None:
    ns = f"t-{uuid.uuid4().hex[:8]}"
    archiver = archiving.Archiver(Archive(postgres.url), 90, 3600)
    try:
        assert archiver.observe(ns, "weekly", _history(_run(2, None), _run(1))) == 2
        assert archiver.observe(ns, "weekly", _history(_run(2, None), _run(1))) == 0
        assert archiver.observe(ns, "weekly", _history(_run(2), _run(1))) == 1
        found = archiver.archive.runs(ns, "weekly", T0)
        assert [(a.record.run_id, a.record.result) for a in found] == [
            ("r-2", "Succeeded"), ("r-1", "Succeeded")]
    finally:
        archiver.stop()


def test_prune_keeps_the_retention(postgres: Postgres) -> None:
    ns = f"t-{uuid.uuid4().hex[:8]}"
    archiver = archiving.Archiver(Archive(postgres.url), 1, 3600)
    archiver.observe(ns, "weekly", _history(*[_run(n) for n in (0, 40, 60)]))
    archiver.prune(now=T0 + timedelta(hours=60))
    assert [a.record.run_id for a in archiver.archive.runs(ns, "weekly", T0)] == ["r-60", "r-40"]
    archiver.stop()


def test_a_failing_archive_is_counted_and_the_password_not_logged(
        caplog: pytest.LogCaptureFixture) -> None:
    url = "postgresql://bulletin:hunter2-secret@127.0.0.1:9/nowhere"
    archiver = archiving.Archiver(Archive(url), 90, 3600)
    before = archiving.FAILURES.labels("write")._value.get()
    with caplog.at_level(logging.INFO):
        assert archiver.observe("ns", "weekly", _history(_run(1))) == 0
    archiver.stop()
    assert archiving.FAILURES.labels("write")._value.get() == before + 1
    assert "not written" in caplog.text and "hunter2" not in caplog.text


def test_configured_by_the_mounted_url(tmp_path: Path, postgres: Postgres) -> None:
    assert archiving.from_env({}) is None
    (tmp_path / "url").write_text(postgres.url + "\n")
    env = {"BULLETIN_ARCHIVE_URL_FILE": str(tmp_path / "url"),
           "BULLETIN_ARCHIVE_RETENTION_DAYS": "30"}
    found = archiving.from_env(env)
    assert found is not None and found.retention_days == 30
    with pytest.raises(ValueError) as caught:
        (tmp_path / "url").write_text("sqlite:///x?password=hunter2")
        archiving.from_env(env)
    assert "hunter2" not in str(caught.value)


def test_events_only_queue_runs_for_the_writer(postgres: Postgres) -> None:
    """The handler's submit() returns at once; the writer thread writes each change once, and a
    failed write is tried again at the next status change."""
    from support import wait_for

    ns = f"t-{uuid.uuid4().hex[:8]}"
    archiver = archiving.Archiver(Archive(postgres.url), 90, 3600)
    try:
        archiver.submit(ns, "weekly", _history(_run(1)))
        assert archiver.changed(ns, "weekly", _history(_run(1))) == []  # queued
        wait_for(lambda: archiver.archive.count(ns, "weekly", T0) == 1, "the queued run")
    finally:
        archiver.stop()
    dead = archiving.Archiver(Archive("postgresql://u:hunter2@127.0.0.1:9/x"), 90, 3600)
    before = archiving.FAILURES.labels("write")._value.get()
    try:
        dead.submit(ns, "weekly", _history(_run(2)))
        wait_for(lambda: archiving.FAILURES.labels("write")._value.get() == before + 1,
                 "the failed write")
        wait_for(lambda: dead.changed(ns, "weekly", _history(_run(2))) != [],
                 "the failed run to be due again")
    finally:
        dead.stop()
