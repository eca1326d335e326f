"""Schedule math with frozen clocks: presets, calendar rules, DST, staggering, validation."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from bulletin.api.calendar import ReportCalendarSpec, compile_calendar
from bulletin.api.schedule import Schedule
from bulletin.schedule import Rule, ScheduleError, compile_rule
from croniter import croniter
from pydantic import ValidationError

NOW = datetime(2026, 1, 1, tzinfo=UTC)
BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")


def rule(schedule: dict[str, Any], key: str = "ns/report") -> Rule:
    return compile_rule(Schedule.model_validate(schedule), key, NOW)


def kubernetes_firings(r: Rule, first: date, last: date) -> list[datetime]:
    """When Kubernetes fires r.cronjob: robfig/cron v3.0.1 (the library of the CronJob
    controller) skips wall times lost to spring-forward and fires a repeated wall time twice.
    Both facts were checked by running robfig's SpecSchedule.Next for these zones and dates."""
    out: list[datetime] = []
    itr = croniter(r.cronjob, datetime.combine(first, datetime.min.time()) - timedelta(minutes=1))
    while (wall := itr.get_next(datetime)).date() <= last:
        for fold in (0, 1):
            instant = wall.replace(tzinfo=r.tz, fold=fold).astimezone(UTC)
            if instant.astimezone(r.tz).replace(tzinfo=None) == wall and instant not in out:
                out.append(instant)
    return out


def runs(r: Rule, first: date, last: date) -> list[datetime]:
    """The firings that pass the runner's gate: the runs that actually happen."""
    return [i for i in kubernetes_firings(r, first, last) if r.intended(i)]


@pytest.mark.parametrize(
    ("schedule", "wall", "cronjob"),
    [
        ({"cron": "0  9 * * MON"}, "0 9 * * MON", "0 9 * * MON"),
        ({"daily": {"at": "07:05"}}, "5 7 * * *", "5 7 * * *"),
        ({"weekly": {"days": ["FRI", "MON", "MON"], "at": "18:30"}}, "30 18 * * 1,5",
         "30 18 * * 1,5"),
        ({"monthly": {"day": 15, "at": "06:00"}}, "0 6 15 * *", "0 6 15 * *"),
        ({"monthly": {"day": 31, "at": "06:00"}}, "0 6 28-31 * *", "0 6 28-31 * *"),
        ({"monthly": {"weekday": "TUE", "occurrence": "Second", "at": "06:00"}}, "0 6 * * 2",
         "0 6 * * 2"),
        ({"daily": {"at": "02:30"}, "timeZone": "Europe/Berlin"}, "30 2 * * *", "30 2,3 * * *"),
    ],
)
def test_presets_compile(schedule: dict[str, Any], wall: str, cronjob: str) -> None:
    r = rule(schedule)
    assert (r.wall_cron, r.cronjob) == (wall, cronjob)


def test_spring_forward_runs_once_an_hour_later() -> None:
    for tz, day in (("Europe/Berlin", date(2026, 3, 29)), ("America/New_York", date(2026, 3, 8))):
        r = rule({"daily": {"at": "02:30"}, "timeZone": tz})
        got = runs(r, day - timedelta(days=1), day + timedelta(days=1))
        local = [i.astimezone(r.tz).strftime("%m-%d %H:%M") for i in got]
        assert local == [f"{day - timedelta(days=1):%m-%d} 02:30", f"{day:%m-%d} 03:30",
                         f"{day + timedelta(days=1):%m-%d} 02:30"], tz


def test_fall_back_runs_exactly_once_at_the_first_occurrence() -> None:
    cases = (("Europe/Berlin", "02:30", date(2026, 10, 25)),
             ("America/New_York", "01:30", date(2026, 11, 1)))
    for tz, at, day in cases:
        r = rule({"daily": {"at": at}, "timeZone": tz})
        firings = kubernetes_firings(r, day, day)
        assert len(firings) >= 2, "Kubernetes fires a repeated wall time twice"
        got = runs(r, day, day)
        assert len(got) == 1
        assert got[0] == min(firings)
        assert got[0].astimezone(r.tz).dst() == timedelta(hours=1)  # still daylight time


@pytest.mark.parametrize("tz", ["Europe/Berlin", "America/New_York", "UTC", "Asia/Kolkata"])
@pytest.mark.parametrize("at", ["00:30", "01:30", "02:00", "02:30", "03:00", "23:59"])
def test_daily_runs_once_every_day_of_a_year(tz: str, at: str) -> None:
    r = rule({"daily": {"at": at}, "timeZone": tz})
    first, last = date(2026, 1, 1), date(2026, 12, 31)
    per_day = Counter(i.astimezone(r.tz).date() for i in runs(r, first, last))
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    assert [d for d in days if per_day[d] != 1] == []


def test_monthly_day_31_clamps_to_the_last_day() -> None:
    r = rule({"monthly": {"day": 31, "at": "09:00"}, "timeZone": "Europe/Berlin"})
    got = [i.astimezone(BERLIN).date() for i in runs(r, date(2027, 12, 1), date(2028, 12, 31))]
    assert got == [date(2027, 12, 31), date(2028, 1, 31), date(2028, 2, 29), date(2028, 3, 31),
                   date(2028, 4, 30), date(2028, 5, 31), date(2028, 6, 30), date(2028, 7, 31),
                   date(2028, 8, 31), date(2028, 9, 30), date(2028, 10, 31), date(2028, 11, 30),
                   date(2028, 12, 31)]


def test_day_30_in_february_and_last_day() -> None:
    thirty = rule({"monthly": {"day": 30, "at": "09:00"}})
    last = rule({"monthly": {"lastDay": True, "at": "09:00"}})
    feb = (date(2026, 2, 1), date(2026, 3, 31))
    assert [i.date() for i in runs(thirty, *feb)] == [date(2026, 2, 28), date(2026, 3, 30)]
    assert [i.date() for i in runs(last, *feb)] == [date(2026, 2, 28), date(2026, 3, 31)]


def test_second_tuesday_and_last_friday() -> None:
    tue = rule({"monthly": {"weekday": "TUE", "occurrence": "Second", "at": "08:00"}})
    fri = rule({"monthly": {"weekday": "FRI", "occurrence": "Last", "at": "08:00"}})
    span = (date(2026, 1, 1), date(2026, 4, 30))
    assert [i.date() for i in runs(tue, *span)] == [
        date(2026, 1, 13), date(2026, 2, 10), date(2026, 3, 10), date(2026, 4, 14)]
    assert [i.date() for i in runs(fri, *span)] == [
        date(2026, 1, 30), date(2026, 2, 27), date(2026, 3, 27), date(2026, 4, 24)]


def test_weekdays_only_and_holidays() -> None:
    r = rule({"daily": {"at": "09:00"}, "weekdaysOnly": True,
              "skipDates": ["2026-12-24", "2026-12-25"]})
    got = [i.date() for i in runs(r, date(2026, 12, 21), date(2026, 12, 28))]
    assert got == [date(2026, 12, 21), date(2026, 12, 22), date(2026, 12, 23), date(2026, 12, 28)]


def test_year_end_in_the_zone() -> None:
    r = rule({"daily": {"at": "23:30"}, "timeZone": "America/New_York"})
    got = runs(r, date(2026, 12, 31), date(2027, 1, 1))
    assert [i.astimezone(NEW_YORK).date() for i in got] == [date(2026, 12, 31), date(2027, 1, 1)]
    assert got[0] == datetime(2027, 1, 1, 4, 30, tzinfo=UTC)


def test_next_run_in_zone() -> None:
    r = rule({"cron": "0 9 * * MON", "timeZone": "Europe/Berlin"})
    assert r.next_run(datetime(2026, 11, 21, 12, tzinfo=UTC)) == datetime(2026, 11, 23, 8,
                                                                           tzinfo=UTC)


def test_stagger_is_stable_and_spreads() -> None:
    schedule = {"weekly": {"days": ["MON"], "at": "09:00"}, "staggerMinutes": 15}
    minutes = [int(rule(schedule, f"team-{n}/weekly").wall_cron.split()[0]) for n in range(300)]
    assert minutes == [int(rule(schedule, f"team-{n}/weekly").wall_cron.split()[0])
                       for n in range(300)]
    assert set(minutes) == set(range(15))
    assert max(Counter(minutes).values()) < 300 / 15 * 2
    hashed = {rule({"cron": "H 9 * * MON"}, f"ns/{n}").wall_cron for n in range(100)}
    assert len(hashed) > 30


def test_exactly_one_kind_is_required() -> None:
    with pytest.raises(ValidationError, match="exactly one of cron, daily, weekly or monthly"):
        Schedule.model_validate({"cron": "0 9 * * *", "daily": {"at": "09:00"}})
    with pytest.raises(ValidationError, match="found none"):
        Schedule.model_validate({"timeZone": "UTC"})
    with pytest.raises(ValidationError, match="String should match pattern"):
        Schedule.model_validate({"cron": "0 0 9 * * *"})  # six fields: seconds are not cron
    with pytest.raises(ValidationError, match="set exactly one of day, lastDay"):
        Schedule.model_validate({"monthly": {"day": 3, "lastDay": True, "at": "09:00"}})


def test_a_stagger_with_cron_is_refused_as_at_admission() -> None:
    """staggerMinutes moves a preset's `at`; with cron it was silently ignored. The model says
    what the CRD's CEL rule says, on spec.schedule and on each spec.schedules entry."""
    from bulletin.api import crd
    from bulletin.api.errors import describe
    from bulletin.api.schedule import STAGGER_CRON
    from bulletin.api.spec import ReportScheduleSpec

    with pytest.raises(ValidationError) as raised:
        Schedule.model_validate({"cron": "H 9 * * *", "staggerMinutes": 15})
    assert describe(raised.value, "spec.schedule") == f"spec.schedule: {STAGGER_CRON}"
    assert "not with cron" in STAGGER_CRON
    base = {"source": {"connectionSecretRef": {"name": "db", "key": "url"}},
            "datasets": [{"name": "d", "query": "SELECT 1"}],
            "delivery": {"email": {"smtpSecretRef": {"name": "smtp"}, "to": ["a@example.com"]}}}
    with pytest.raises(ValidationError, match="not with cron"):
        ReportScheduleSpec.model_validate({**base, "schedules": [
            {"name": "eu", "daily": {"at": "09:00"}, "staggerMinutes": 15},
            {"name": "us", "cron": "0 9 * * *", "staggerMinutes": 15}]})
    rule({"daily": {"at": "09:00"}, "staggerMinutes": 15})  # a preset keeps its stagger
    spec = crd.crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    for node in (spec["properties"]["schedule"], spec["properties"]["schedules"]["items"]):
        rules = {r["rule"]: r["message"] for r in node["x-kubernetes-validations"]}
        assert rules["!has(self.cron) || !has(self.staggerMinutes)"] == STAGGER_CRON
    explained = spec["properties"]["schedule"]["properties"]["staggerMinutes"]["description"]
    assert "refuses it with cron" in explained


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ({"cron": "0 9 * * *", "timeZone": "Mars/Olympus"},
         r"spec\.schedule\.timeZone: unknown time zone 'Mars/Olympus'"),
        ({"cron": "0 99 * * *"}, r"spec\.schedule\.cron: '0 99 \* \* \*' is not a valid"),
        ({"cron": "0 9 L * *"}, r"use schedule\.monthly with lastDay"),
        ({"cron": "0 9 30 2 *"}, r"never runs in the next five years"),
        ({"daily": {"at": "23:55"}, "staggerMinutes": 10}, r"staggerMinutes: .* passes midnight"),
    ],
)
def test_invalid_schedules_name_the_field(schedule: dict[str, Any], message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        rule(schedule)


@pytest.mark.parametrize("day", ["0000-01-01", "2026-02-30", "2025-04-31"])
def test_a_skip_date_that_matches_the_pattern_but_is_no_date_names_its_field(day: str) -> None:
    from bulletin.api.errors import describe

    with pytest.raises(ValidationError) as raised:
        Schedule.model_validate({"daily": {"at": "09:00"}, "skipDates": ["2026-12-25", day]})
    assert describe(raised.value).startswith(f"spec.schedule.skipDates[1]: {day!r} is no date")


def test_schedules_alike_share_one_compiled_rule_and_its_next_runs() -> None:
    daily = {"daily": {"at": "09:00"}, "timeZone": "Europe/Berlin"}
    shared = rule(daily, "a/one")
    assert rule(daily, "b/two") is shared
    assert shared.next_run(NOW) == shared.next_run(NOW) == datetime(2026, 1, 1, 8, tzinfo=UTC)
    # the key matters with a stagger or an "H" minute: no sharing across schedules
    staggered = {**daily, "staggerMinutes": 30}
    assert rule(staggered, "a/one") is not rule(staggered, "b/two")
    assert rule(staggered, "a/one") is rule(staggered, "a/one")
    assert rule({"cron": "H 9 * * *"}, "a/one") is not rule({"cron": "H 9 * * *"}, "b/two")
    # other fields, another year: another rule
    assert rule({**daily, "weekdaysOnly": True}, "a/one") is not shared
    assert compile_rule(Schedule.model_validate(daily), "a/one",
                        NOW.replace(year=2027)) is not shared
    # a calendar's days off are the schedule's own (read at each reconcile): never shared
    days_off = compile_calendar("weekend", ReportCalendarSpec.model_validate(
        {"weekend": ["SAT", "SUN"]}))
    with_calendar = compile_rule(Schedule.model_validate(daily), "a/one", NOW, days_off)
    assert with_calendar is not shared
    assert with_calendar.next_run(datetime(2026, 1, 2, 9, tzinfo=UTC)) == datetime(
        2026, 1, 5, 8, tzinfo=UTC)


def test_a_memoized_next_run_is_the_one_computed_afresh() -> None:
    schedule = Schedule.model_validate({"weekly": {"days": ["TUE"], "at": "07:30"},
                                        "timeZone": "America/New_York"})
    memoized = compile_rule(schedule, "ns/r", NOW)
    for minutes in range(0, 60 * 24 * 30, 997):
        after = NOW + timedelta(minutes=minutes)
        assert memoized.next_run(after) == memoized.next_run(after)
        fresh = Rule(memoized.wall_cron, memoized.cronjob, memoized.tz, memoized.allow)
        assert memoized.next_run(after) == fresh.next_run(after)
