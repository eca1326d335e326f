"""ReportCalendar rules: dates, yearly dates, yearly weekday rules and weekends (fixed dates)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from bulletin.api.calendar import (
    CalendarError,
    ReportCalendarSpec,
    compile_calendar,
    from_object,
    named_in,
)
from bulletin.api.schedule import Schedule
from bulletin.api.spec import ReportScheduleSpec
from bulletin.plugin.nextruns import rule_for, upcoming
from bulletin.schedule import compile_rule
from bulletin_operator import builders
from bulletin_operator.nextrun import due_updates
from pydantic import ValidationError

US = ReportCalendarSpec.model_validate({"holidays": [
    "2026-11-27", "12-25", "01-01", "last Monday of May", "First monday of September",
    "Fourth Thursday of November"]})


@pytest.mark.parametrize(("day", "off"), [
    (date(2026, 11, 27), True),   # a date
    (date(2027, 11, 27), False),  # ... of one year only
    (date(2026, 12, 25), True),   # yearly
    (date(2031, 12, 25), True),
    (date(2026, 5, 25), True),    # last Monday of May 2026
    (date(2026, 5, 18), False),
    (date(2027, 5, 31), True),    # last Monday of May 2027 (a 31st)
    (date(2026, 9, 7), True),     # first Monday of September
    (date(2026, 9, 14), False),
    (date(2026, 11, 26), True),   # fourth Thursday of November
    (date(2026, 11, 19), False),
    (date(2026, 12, 26), False),
])
def test_days_off(day: date, off: bool) -> None:
    assert (compile_calendar("us", US).reason(day) is not None) is off


def test_reason_names_the_calendar_and_the_rule() -> None:
    days = compile_calendar("us", US)
    assert days.reason(date(2026, 5, 25)) == (
        "2026-05-25 is 'last Monday of May' in ReportCalendar 'us'")
    assert days.reason(date(2026, 12, 25)) == "12-25 is a yearly holiday in ReportCalendar 'us'"


def test_weekend_is_off_only_when_defined() -> None:
    gulf = compile_calendar("gulf", ReportCalendarSpec.model_validate({"weekend": ["FRI", "SAT"]}))
    assert [gulf.works(date(2026, 11, d)) for d in range(27, 31)] == [False, False, True, True]
    assert compile_calendar("none", ReportCalendarSpec()).works(date(2026, 11, 28))


@pytest.mark.parametrize("entry", ["02-30", "2026-02-29", "13-01", "Fifth Monday of May",
                                   "last Monday in May", "12/25", "0000-01-01"])
def test_bad_entries_are_refused_naming_them(entry: str) -> None:
    with pytest.raises(ValidationError, match=r"spec\.holidays\[1\]|holidays\.1"):
        ReportCalendarSpec.model_validate({"holidays": ["12-25", entry]})


def test_leap_day_is_a_yearly_holiday() -> None:
    days = compile_calendar("x", ReportCalendarSpec.model_validate({"holidays": ["02-29"]}))
    assert not days.works(date(2028, 2, 29)) and days.works(date(2027, 2, 28))


def test_missing_or_invalid_calendar_names_the_field_and_fix() -> None:
    with pytest.raises(CalendarError, match=r"calendarRef: ReportCalendar 'x' not found.*create"):
        from_object("x", None)
    with pytest.raises(CalendarError, match=r"'x' is invalid: spec.holidays\[0\]"):
        from_object("x", {"spec": {"holidays": ["02-30"]}})


def test_schedule_skips_calendar_days() -> None:
    schedule = Schedule.model_validate({"daily": {"at": "09:00"}, "timeZone": "Europe/Berlin",
                                        "calendarRef": {"name": "us"}})
    now = datetime(2026, 12, 23, 12, tzinfo=UTC)
    rule = compile_rule(schedule, "ns/x", now, compile_calendar("us", US))
    runs = [t.date() for t in rule.instants(now, datetime(2026, 12, 28, tzinfo=UTC))]
    assert runs == [date(2026, 12, 24), date(2026, 12, 26), date(2026, 12, 27)]
    assert rule.intended(datetime(2026, 12, 24, 8, tzinfo=UTC))
    assert not rule.intended(datetime(2026, 12, 25, 8, tzinfo=UTC))


def test_plugin_next_honours_the_calendar() -> None:
    obj = {"metadata": {"namespace": "ns", "name": "x"},
           "spec": {"schedule": {"weekly": {"days": ["MON"], "at": "07:00"},
                                 "calendarRef": {"name": "us"}}}}
    after = datetime(2026, 5, 12, tzinfo=UTC)
    timing = rule_for(obj, after, {"us": compile_calendar("us", US)})
    assert [r.utc.date() for r in upcoming(timing, after, 2)] == [date(2026, 5, 18),
                                                                 date(2026, 6, 1)]


def test_each_schedules_entry_skips_the_days_of_its_own_calendar() -> None:
    spec: dict[str, Any] = {"schedules": [
        {"name": "us", "daily": {"at": "09:00"}, "timeZone": "America/New_York",
         "calendarRef": {"name": "us"}},
        {"name": "gulf", "daily": {"at": "09:00"}, "timeZone": "Asia/Dubai",
         "calendarRef": {"name": "gulf"}}]}
    obj = {"metadata": {"namespace": "ns", "name": "x"}, "spec": spec}
    assert named_in(spec) == ["gulf", "us"]
    gulf = compile_calendar("gulf", ReportCalendarSpec.model_validate({"weekend": ["FRI", "SAT"]}))
    after = datetime(2026, 12, 24, 12, tzinfo=UTC)  # a Thursday
    timing = rule_for(obj, after, {"us": compile_calendar("us", US), "gulf": gulf})
    runs = [(r.entry, r.local.date().isoformat()) for r in upcoming(timing, after, 3)]
    # us: not on Dec 25 (12-25); gulf: not on Friday 25 or Saturday 26 (its weekend)
    assert runs == [("us", "2026-12-24"), ("us", "2026-12-26"), ("gulf", "2026-12-27")]


def test_runner_role_reads_exactly_its_calendar() -> None:
    owner = builders.Owner(name="x", namespace="ns", uid="u")
    base = {"source": {"connectionSecretRef": {"name": "db", "key": "url"}},
            "datasets": [{"name": "a", "query": "SELECT 1"}],
            "delivery": {"webhooks": [{"name": "h", "url": "https://example.com/h"}]}}
    plain = ReportScheduleSpec.model_validate({**base, "schedule": {"daily": {"at": "09:00"}}})
    with_calendar = ReportScheduleSpec.model_validate(
        {**base, "schedule": {"daily": {"at": "09:00"}, "calendarRef": {"name": "us"}}})
    assert builders.role(owner, plain) == builders.role(owner)
    rules = builders.role(owner, with_calendar)["rules"]
    assert rules[-1] == {"apiGroups": ["bulletin.dev"], "resources": ["reportcalendars"],
                         "resourceNames": ["us"], "verbs": ["get"]}
    assert not any("reportcalendars" in r["resources"] for r in builders.role(owner)["rules"])
    entries = ReportScheduleSpec.model_validate({**base, "schedules": [
        {"name": "a", "daily": {"at": "09:00"}, "calendarRef": {"name": "us"}},
        {"name": "b", "daily": {"at": "10:00"}, "calendarRef": {"name": "gulf"}},
        {"name": "c", "daily": {"at": "11:00"}, "calendarRef": {"name": "us"}}]})
    assert builders.role(owner, entries)["rules"][-1]["resourceNames"] == ["gulf", "us"]


def test_operator_next_run_time_skips_calendar_days() -> None:
    obj = {"metadata": {"namespace": "ns", "name": "x"},
           "spec": {"schedule": {"daily": {"at": "09:00"}, "timeZone": "UTC",
                                 "calendarRef": {"name": "us"}},
                    "source": {"connectionSecretRef": {"name": "db", "key": "url"}},
                    "datasets": [{"name": "a", "query": "SELECT 1"}],
                    "delivery": {"webhooks": [{"name": "h", "url": "https://example.com/h"}]}},
           "status": {"schedule": "0 9 * * *", "nextRunTime": "2026-12-24T09:00:00Z"}}
    now = datetime(2026, 12, 24, 9, 30, tzinfo=UTC)
    calendars = {("ns", "us"): {"spec": US.wire()}}
    assert due_updates([obj], now, calendars) == [("ns", "x", "2026-12-26T09:00:00Z")]
    assert due_updates([obj], now, {}) == []  # a missing calendar: reconcile stalls it
