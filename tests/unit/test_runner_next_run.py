"""A run's final status write sets status.nextRunTime once the recorded one has passed (issue
22: NEXT RUN showed the run's own past minute until the operator's once-a-minute refresh).
The runner in-process on a ReportSchedule held in memory, with fixed dates and a fixed clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bulletin import run as runner
from bulletin.api import client, history
from bulletin.api.spec import ReportScheduleSpec
from bulletin.api.status import ReportScheduleStatus, RunRecord, RunResult
from bulletin.context import RunContext
from bulletin.period import Period
from doubles import MemoryKube

DUE = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday: a firing of "0 9 * * MON"
NEXT = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
MONDAYS = {"cron": "0 9 * * MON", "timeZone": "UTC"}


class _Datetime(datetime):
    """run.py's clock: 40 s after the firing."""

    @classmethod
    def now(cls, tz: Any = None) -> Any:
        return DUE + timedelta(seconds=40)


def _kube(schedule: dict[str, Any], next_run: str | None = "2026-11-23T09:00:00Z",
          accepted: bool = True) -> MemoryKube:
    status = {"schedule": "0 9 * * 1" if accepted else None, "nextRunTime": next_run}
    return MemoryKube({
        "metadata": {"name": "weekly", "namespace": "ns"},
        "spec": {**schedule,
                 "source": {"connectionSecretRef": {"name": "db", "key": "url"}},
                 "datasets": [{"name": "main", "query": "SELECT 1 AS one"}],
                 "delivery": {"email": {"smtpSecretRef": {"name": "smtp"},
                                        "to": ["team@example.com"]}}},
        "status": status,
    }, {"holidays": {"spec": {"holidays": ["2026-11-30"]}}})


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A fixed clock, and a run that succeeds without querying anything."""
    def execute(ctx: RunContext, spec: ReportScheduleSpec, record: RunRecord, period: Period,
                kube: Any) -> None:
        record.rows, record.result = 1, RunResult.SUCCEEDED

    monkeypatch.setattr(runner, "datetime", _Datetime)
    monkeypatch.setattr(runner, "execute", execute)
    yield


def _run(fake: MemoryKube, monkeypatch: pytest.MonkeyPatch, trigger: str = "Scheduled") -> None:
    monkeypatch.setattr(client, "Kube", lambda: fake)
    run_id = f"weekly-{int(DUE.timestamp()) // 60}"
    ctx = RunContext.from_env({"BULLETIN_NAMESPACE": "ns", "BULLETIN_SCHEDULE": "weekly",
                               "BULLETIN_RUN_ID": run_id, "BULLETIN_TRIGGER": trigger})
    assert runner.run(ctx) == 0


def test_the_final_write_sets_the_next_run_after_the_one_that_ran(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = _kube({"schedule": MONDAYS})
    _run(fake, monkeypatch)
    status = fake.status()
    assert status.last_run is not None and status.last_run.result is RunResult.SUCCEEDED
    assert status.next_run_time == NEXT


def test_the_next_run_follows_the_entries_and_their_calendars(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The earliest next run of any spec.schedules entry (not only the entry that ran), each
    skipping its calendar's days off: the Monday entry skips the 30th, a holiday."""
    fake = _kube({"schedules": [
        {"name": "monday", **MONDAYS, "calendarRef": {"name": "holidays"}},
        {"name": "first", "cron": "0 6 1 * *", "timeZone": "UTC"}]})
    _run(fake, monkeypatch)
    assert fake.status().next_run_time == datetime(2026, 12, 1, 6, 0, tzinfo=UTC)

    fake = _kube({"schedule": {**MONDAYS, "calendarRef": {"name": "holidays"}}})
    _run(fake, monkeypatch)
    assert fake.status().next_run_time == NEXT + timedelta(days=7)


def test_a_next_run_still_ahead_or_unknown_is_left_to_the_operator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ahead = _kube({"schedule": MONDAYS}, next_run="2026-11-30T09:00:00Z")
    _run(ahead, monkeypatch, trigger="Manual")
    assert ahead.obj["status"]["nextRunTime"] == "2026-11-30T09:00:00Z"

    missing = _kube({"schedule": {**MONDAYS, "calendarRef": {"name": "gone"}}})
    _run(missing, monkeypatch, trigger="Manual")  # the calendar is reconcile's to report
    assert missing.obj["status"]["nextRunTime"] == "2026-11-23T09:00:00Z"
    assert missing.status().last_run is not None

    refused = _kube({"schedule": MONDAYS}, accepted=False)  # no status.schedule yet
    _run(refused, monkeypatch)
    assert refused.obj["status"]["nextRunTime"] == "2026-11-23T09:00:00Z"


def test_with_next_run() -> None:
    ended = DUE + timedelta(seconds=40)
    status = {"schedule": "0 9 * * 1", "nextRunTime": "2026-11-23T09:00:00Z"}

    def with_next_run(status: dict[str, Any], upcoming: datetime | None, now: datetime
                      ) -> dict[str, Any]:  # the fields Kube.update_status writes
        before = ReportScheduleStatus.parse(status)
        return before.changes(history.with_next_run(before, upcoming, now))

    assert with_next_run(status, NEXT, ended) == {"nextRunTime": "2026-11-30T09:00:00Z"}
    assert with_next_run(status, None, ended) == {"nextRunTime": None}  # no run ahead
    assert with_next_run({**status, "nextRunTime": None}, NEXT, ended) == {
        "nextRunTime": "2026-11-30T09:00:00Z"}
    assert with_next_run({**status, "nextRunTime": "2026-11-30T09:00:00Z"}, NEXT, ended) == {}
    assert with_next_run({**status, "nextRunTime": "soon"}, NEXT, ended) == {}
