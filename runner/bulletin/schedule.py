"""Schedule math: presets to cron, validation, and the next run time in the schedule's zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from bulletin.api.spec import Schedule

_CRON_DAYS = {"MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6, "SUN": 0}
_HORIZON_YEARS = 5


class ScheduleError(ValueError):
    """A schedule that cannot run; the message names the field and the fix."""


def _hhmm(at: str) -> tuple[int, int]:
    hour, minute = at.split(":")
    return int(hour), int(minute)


def cron_expression(schedule: Schedule) -> str:
    """The 5-field cron expression the CronJob runs on."""
    if schedule.cron is not None:
        return " ".join(schedule.cron.split())
    if schedule.daily is not None:
        hour, minute = _hhmm(schedule.daily.at)
        return f"{minute} {hour} * * *"
    if schedule.weekly is not None:
        hour, minute = _hhmm(schedule.weekly.at)
        days = ",".join(str(n) for n in sorted({_CRON_DAYS[d.value] for d in schedule.weekly.days}))
        return f"{minute} {hour} * * {days}"
    assert schedule.monthly is not None
    hour, minute = _hhmm(schedule.monthly.at)
    return f"{minute} {hour} {schedule.monthly.day} * *"


def zone(schedule: Schedule) -> ZoneInfo:
    """The schedule's time zone, or ScheduleError naming spec.schedule.timeZone."""
    try:
        return ZoneInfo(schedule.time_zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(
            f"spec.schedule.timeZone: unknown time zone {schedule.time_zone!r};"
            ' use an IANA name such as "Europe/Berlin" or "UTC"'
        ) from exc


def validate(schedule: Schedule, now: datetime) -> str:
    """Check what admission cannot: cron syntax, time zone, and that the schedule ever fires.

    Returns the effective cron expression.
    """
    expr = cron_expression(schedule)
    tz = zone(schedule)
    if not croniter.is_valid(expr):
        raise ScheduleError(
            f"spec.schedule.cron: {expr!r} is not a valid 5-field cron expression"
            ' (minute hour day-of-month month day-of-week), e.g. "0 9 * * MON"'
        )
    if len(expr.split()) != 5 and not expr.startswith("@"):
        raise ScheduleError(
            f"spec.schedule.cron: {expr!r} must have exactly 5 fields"
            " (minute hour day-of-month month day-of-week); seconds are not supported"
        )
    if next_run(expr, tz, now) is None:
        raise ScheduleError(
            f"spec.schedule.cron: {expr!r} never fires (for example February 30);"
            " pick a date that exists"
        )
    return expr


def next_run(expr: str, tz: ZoneInfo, after: datetime) -> datetime | None:
    """The first time strictly after ``after`` that ``expr`` fires in ``tz``, or None."""
    itr = croniter(expr, after.astimezone(tz), day_or=True)
    limit = after.replace(year=after.year + _HORIZON_YEARS)
    try:
        nxt: datetime = itr.get_next(datetime)
    except (StopIteration, ValueError, KeyError):
        return None
    return nxt if nxt <= limit.astimezone(tz) else None
