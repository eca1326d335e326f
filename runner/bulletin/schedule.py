"""Schedule math: what a schedule means in wall-clock time, and the CronJob that covers it.

A ReportSchedule may say things Kubernetes cron cannot: the last day of the month, day 31 in
short months (clamped to the last day), the 2nd Tuesday, weekdays only, holidays. And
Kubernetes' cron library skips a time that falls into the hour lost when clocks go forward,
and fires twice for a time in the hour repeated when clocks go back.

So the CronJob fires on a *superset* of the wanted times (`Rule.cronjob`), and each scheduled
firing asks `Rule.intended(instant)`: it runs only if the instant is one the schedule means.
What the schedule means is defined in wall-clock time, resolved with PEP 495 ``fold=0``: a
wall time that does not exist (02:30 on a spring-forward day in Berlin) runs as if clocks had
not moved yet (at 03:30 local), and a wall time that occurs twice runs at its first occurrence.
"""

from __future__ import annotations

import calendar
import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter

from bulletin.api.calendar import DaysOff
from bulletin.api.errors import SpecError
from bulletin.api.schedule import Occurrence, Schedule

_CRON_DAYS = {"MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6, "SUN": 0}
_WINDOWS = [timedelta(hours=2), timedelta(days=2), timedelta(days=40), timedelta(days=400),
            timedelta(days=4 * 366)]
_LOOKBACK = timedelta(hours=3)
_NEXT_MEMO = 8
_RULES_MAX = 4096


class ScheduleError(SpecError, ValueError):
    """A schedule that cannot run; the message names the field and the fix."""


@dataclass(frozen=True)
class Rule:
    """A compiled schedule: wall-clock cron, calendar filter, and the CronJob's superset cron."""

    wall_cron: str
    cronjob: str
    tz: ZoneInfo
    allow: Callable[[date], bool] = field(compare=False)
    # next_run by its start minute: a reconcile asks for the same minute more than once
    _next: dict[datetime, datetime | None] = field(default_factory=dict, compare=False,
                                                   repr=False)

    def intended(self, instant: datetime) -> bool:
        """Whether a scheduled firing at ``instant`` is a run the schedule means."""
        instant = instant.astimezone(UTC).replace(second=0, microsecond=0)
        return instant in set(self.instants(instant - _LOOKBACK, instant + timedelta(minutes=1)))

    def instants(self, start: datetime, end: datetime) -> Iterator[datetime]:
        """Intended run instants (UTC) in [start, end), in order, each once."""
        wall = start.astimezone(self.tz).replace(tzinfo=None) - _LOOKBACK
        wall_end = end.astimezone(self.tz).replace(tzinfo=None) + _LOOKBACK
        itr = croniter(self.wall_cron, wall - timedelta(minutes=1))
        seen: set[datetime] = set()
        pending: list[datetime] = []
        while True:
            try:
                local: datetime = itr.get_next(datetime)
            except CroniterBadDateError:
                break
            if local >= wall_end:
                break
            if not self.allow(local.date()):
                continue
            resolved = local.replace(tzinfo=self.tz, fold=0).astimezone(UTC)
            if start <= resolved < end and resolved not in seen:
                seen.add(resolved)
                pending.append(resolved)
        yield from sorted(pending)

    def next_run(self, after: datetime) -> datetime | None:
        """The first intended instant strictly after ``after``, within five years."""
        start = (after.astimezone(UTC) + timedelta(minutes=1)).replace(second=0, microsecond=0)
        try:
            return self._next[start]
        except KeyError:
            pass
        found = self._search(start)
        if len(self._next) >= _NEXT_MEMO:  # shared by threads: return ``found``, not a re-read
            self._next.clear()
        self._next[start] = found
        return found

    def _search(self, start: datetime) -> datetime | None:
        for window in _WINDOWS:
            for instant in self.instants(start, start + window):
                return instant
            start += window
        return None


def zone(schedule: Schedule) -> ZoneInfo:
    """The schedule's time zone, or ScheduleError naming spec.schedule.timeZone."""
    try:
        return ZoneInfo(schedule.time_zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(
            f"spec.schedule.timeZone: unknown time zone {schedule.time_zone!r};"
            ' use an IANA name such as "Europe/Berlin" or "UTC"'
        ) from exc


def stable_offset(key: str, modulo: int) -> int:
    """A minute offset in [0, modulo) that depends only on ``key`` (namespace/name)."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:12], 16) % modulo


def _at(at: str, schedule: Schedule, key: str) -> tuple[int, int]:
    hour, minute = (int(part) for part in at.split(":"))
    if schedule.stagger_minutes:
        total = hour * 60 + minute + stable_offset(key, schedule.stagger_minutes)
        if total >= 24 * 60:
            raise ScheduleError(
                f"spec.schedule.staggerMinutes: {at} plus up to {schedule.stagger_minutes}"
                " minutes passes midnight; pick an earlier time or a smaller stagger"
            )
        hour, minute = divmod(total, 60)
    return hour, minute


def _nth(occurrence: Occurrence) -> Callable[[date], bool]:
    if occurrence is Occurrence.LAST:
        return lambda d: d.day + 7 > calendar.monthrange(d.year, d.month)[1]
    index = list(Occurrence).index(occurrence)
    return lambda d: index * 7 < d.day <= (index + 1) * 7


def _wall_rule(schedule: Schedule, key: str) -> tuple[str, Callable[[date], bool]]:
    """The wall-clock cron and the calendar filter of the preset or cron."""
    if schedule.cron is not None:
        fields = schedule.cron.split()
        if fields[0] == "H":
            fields[0] = str(stable_offset(key, 60))
        return " ".join(fields), lambda d: True
    if schedule.daily is not None:
        hour, minute = _at(schedule.daily.at, schedule, key)
        return f"{minute} {hour} * * *", lambda d: True
    if schedule.weekly is not None:
        hour, minute = _at(schedule.weekly.at, schedule, key)
        days = ",".join(str(n) for n in sorted({_CRON_DAYS[d.value] for d in schedule.weekly.days}))
        return f"{minute} {hour} * * {days}", lambda d: True
    monthly = schedule.monthly
    assert monthly is not None
    hour, minute = _at(monthly.at, schedule, key)
    if monthly.weekday is not None and monthly.occurrence is not None:
        return f"{minute} {hour} * * {_CRON_DAYS[monthly.weekday.value]}", _nth(monthly.occurrence)
    if monthly.last_day:
        return f"{minute} {hour} 28-31 * *", lambda d: d.day == _month_days(d)
    day = monthly.day or 1
    if day <= 28:
        return f"{minute} {hour} {day} * *", lambda d: True
    return f"{minute} {hour} 28-31 * *", lambda d: d.day == min(day, _month_days(d))


def _month_days(d: date) -> int:
    return calendar.monthrange(d.year, d.month)[1]


@lru_cache(maxsize=512)
def gap_hours(tz_name: str, first_year: int, years: int = 6) -> frozenset[int]:
    """Local hours that contain non-existent wall times (spring-forward gaps) in ``tz_name``."""
    tz = ZoneInfo(tz_name)
    hours: set[int] = set()
    day = datetime(first_year, 1, 1, 12, tzinfo=tz)
    for _ in range(years * 366):
        nxt = day + timedelta(days=1)
        before, after = day.utcoffset(), nxt.utcoffset()
        if before is not None and after is not None and after > before:
            for hour in range(24):
                for minute in (0, 15, 30, 45, 59):
                    wall = datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)
                    for candidate in (wall, wall + timedelta(days=1)):
                        there = candidate.astimezone(UTC).astimezone(tz)
                        if there.replace(tzinfo=None) != candidate.replace(tzinfo=None):
                            hours.add(hour)
        day = nxt
    return frozenset(hours)


def _field(values: list[int | str]) -> str:
    return "*" if values == ["*"] else ",".join(str(v) for v in values)


def _cronjob_cron(wall_cron: str, tz: ZoneInfo, year: int) -> str:
    """The wall cron, plus the hour after any hour that a spring-forward gap can swallow."""
    minutes, hours, doms, months, dows = croniter(wall_cron).expanded
    if hours == ["*"]:
        return wall_cron
    gaps = gap_hours(str(tz), year)
    extra = {int(h) + 1 for h in hours if int(h) in gaps and int(h) < 23} - set(hours)
    if not extra:
        return wall_cron
    hours = sorted({int(h) for h in hours} | extra)
    return " ".join(_field(f) for f in (minutes, hours, doms, months, dows))


_DOM_OK = re.compile(r"^[0-9*?,/-]+$")


def _check_cron(expr: str) -> None:
    fields = expr.split()
    if expr.startswith("@"):
        return
    if len(fields) != 5:
        raise ScheduleError(
            f"spec.schedule.cron: {expr!r} must have exactly 5 fields"
            " (minute hour day-of-month month day-of-week); seconds are not supported"
        )
    if not _DOM_OK.match(fields[2]) or "#" in fields[4] or re.search(r"\dL", fields[4]):
        raise ScheduleError(
            f"spec.schedule.cron: {expr!r} uses L, W or #, which Kubernetes cron does not"
            " support; use schedule.monthly with lastDay or weekday/occurrence instead"
        )
    if not croniter.is_valid(expr):
        raise ScheduleError(
            f"spec.schedule.cron: {expr!r} is not a valid 5-field cron expression"
            ' (minute hour day-of-month month day-of-week), e.g. "0 9 * * MON"'
        )


_rules: dict[tuple[str, str | None, int], Rule] = {}


def compile_rule(schedule: Schedule, key: str, now: datetime,
                 days_off: DaysOff | None = None) -> Rule:
    """Compile ``schedule`` for the ReportSchedule ``key`` (namespace/name), or ScheduleError.
    ``days_off``: the ReportCalendar that schedule.calendarRef names, when it was read.
    Schedules alike (same fields, no calendar, and ``key`` used only by a stagger or an "H"
    minute) share one compiled rule per year, and with it its next runs."""
    if days_off is not None:
        return _compile(schedule, key, now, days_off)
    uses_key = bool(schedule.stagger_minutes) or (schedule.cron or "").startswith("H")
    cache_key = (schedule.model_dump_json(), key if uses_key else None, now.year)
    rule = _rules.get(cache_key)
    if rule is None:
        if len(_rules) >= _RULES_MAX:
            _rules.clear()
        rule = _rules[cache_key] = _compile(schedule, key, now, None)
    return rule


def _compile(schedule: Schedule, key: str, now: datetime, days_off: DaysOff | None) -> Rule:
    tz = zone(schedule)
    if schedule.cron is not None:
        _check_cron(schedule.cron.replace("H", "0", 1) if schedule.cron.startswith("H") else
                    schedule.cron)
    wall_cron, calendar_ok = _wall_rule(schedule, key)
    skip = {date.fromisoformat(d) for d in schedule.skip_dates}
    weekdays_only = schedule.weekdays_only

    def allow(d: date) -> bool:
        return (calendar_ok(d) and d not in skip and not (weekdays_only and d.weekday() >= 5)
                and (days_off is None or days_off.works(d)))

    rule = Rule(wall_cron=wall_cron, cronjob=_cronjob_cron(wall_cron, tz, now.year - 1),
                tz=tz, allow=allow)
    if rule.next_run(now) is None:
        raise ScheduleError(
            f"spec.schedule: {wall_cron!r} never runs in the next five years (for example"
            " February 30, or every date skipped); pick a date that exists"
        )
    return rule
