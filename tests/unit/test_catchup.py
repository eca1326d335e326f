"""catchUp: All planning on fixed dates: which missed runs run, in what order, what is left out."""

from __future__ import annotations

from datetime import UTC, datetime

from bulletin.api.calendar import ReportCalendarSpec, compile_calendar
from bulletin.api.schedule import Schedule
from bulletin.api.status import ReportScheduleStatus
from bulletin.catchup import last_scheduled, plan
from bulletin.schedule import Rule, compile_rule


def _utc(day: int, hour: int = 9, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def _daily(zone: str = "UTC", **extra: object) -> Rule:
    schedule = Schedule.model_validate({"daily": {"at": "09:00"}, "timeZone": zone, **extra})
    return compile_rule(schedule, "ns/x", _utc(1))


def test_every_missed_run_oldest_first_without_the_bounds() -> None:
    found = plan(_daily(), since=_utc(1), current=_utc(5), limit=10)
    assert found.missed == (_utc(2), _utc(3), _utc(4))
    assert found.dropped == () and found.dropped_text(10) is None


def test_nothing_missed_between_consecutive_runs() -> None:
    assert plan(_daily(), since=_utc(4), current=_utc(5), limit=10).missed == ()
    # the schedule was created after the last run time before this one
    assert plan(_daily(), since=_utc(4, 9).replace(second=30), current=_utc(5), limit=10
                ).missed == ()


def test_the_bound_keeps_the_newest_and_names_the_rest() -> None:
    found = plan(_daily(), since=_utc(1), current=_utc(10), limit=3)
    assert found.missed == (_utc(7), _utc(8), _utc(9))
    assert found.dropped == tuple(_utc(d) for d in range(2, 7))
    assert not found.more_dropped
    text = found.dropped_text(3)
    assert text is not None and text.startswith("5 missed run(s) from 2026-11-02 09:00Z to"
                                                " 2026-11-06 09:00Z were not run: maxCatchUp 3")


def test_a_long_outage_is_bounded_by_the_look_back() -> None:
    found = plan(_daily(), since=datetime(2020, 1, 1, tzinfo=UTC), current=_utc(10), limit=10)
    assert found.missed[-1] == _utc(9) and len(found.missed) == 10
    assert found.more_dropped
    assert (found.dropped_text(10) or "").startswith("more than ")


def test_skipped_days_and_calendar_days_are_not_missed_runs() -> None:
    days_off = compile_calendar("c", ReportCalendarSpec.model_validate({"holidays": ["11-03"]}))
    schedule = Schedule.model_validate({"daily": {"at": "09:00"}, "skipDates": ["2026-11-06"],
                                        "weekdaysOnly": True})
    rule = compile_rule(schedule, "ns/x", _utc(1), days_off)
    # Nov 7 and 8 2026 are a Saturday and a Sunday
    assert plan(rule, since=_utc(1), current=_utc(10), limit=10).missed == (
        _utc(2), _utc(4), _utc(5), _utc(9))


def test_wall_clock_times_across_dst() -> None:
    # Europe/Berlin leaves summer time on 2026-10-25: 09:00 local is 07:00Z then 08:00Z.
    found = plan(_daily("Europe/Berlin"), since=_utc(23, 7, month=10),
                 current=_utc(27, 8, month=10), limit=10)
    assert found.missed == (_utc(24, 7, month=10), _utc(25, 8, month=10), _utc(26, 8, month=10))


def _history(*entries: dict[str, str]) -> ReportScheduleStatus:
    """Status with these history entries (with the fields the CRD requires)."""
    return ReportScheduleStatus.parse({"history": [
        {"trigger": "Scheduled", "startTime": "2026-11-01T00:00:00Z", **e} for e in entries]})


def test_baseline_is_the_newest_other_scheduled_run() -> None:
    status = _history(
        {"runId": "x-29899980", "scheduledTime": "2026-11-05T09:00:00+00:00"},  # this run
        {"runId": "x-now-1", "startTime": "2026-11-04T12:00:00Z"},  # manual: no scheduledTime
        {"runId": "x-29892780", "scheduledTime": "2026-10-31T09:00:00+00:00"},
        {"runId": "x-29894220", "scheduledTime": "2026-11-01T09:00:00+00:00"},
    )
    assert last_scheduled(status, "x-29899980", _utc(5)) == _utc(1)
    assert last_scheduled(_history(), "x-1", _utc(5)) is None


def test_each_schedules_entry_catches_up_its_own_runs() -> None:
    status = _history(
        {"runId": "x-emea-2", "scheduledTime": "2026-11-04T09:00:00Z", "scheduleEntry": "emea"},
        {"runId": "x-apac-1", "scheduledTime": "2026-11-02T01:00:00Z", "scheduleEntry": "apac"},
    )
    assert last_scheduled(status, "x-apac-9", _utc(5), "apac") == _utc(2, 1)
    assert last_scheduled(status, "x-emea-9", _utc(5), "emea") == _utc(4)
    assert last_scheduled(status, "x-9", _utc(5)) is None
