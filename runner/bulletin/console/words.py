"""A schedule in words: "every Monday at 09:00 Europe/Berlin, for the previous week"."""

from __future__ import annotations

from bulletin.api.schedule import Monthly, PeriodConfig, PeriodKind, Schedule, Weekday

DAYS = {Weekday.MON: "Monday", Weekday.TUE: "Tuesday", Weekday.WED: "Wednesday",
        Weekday.THU: "Thursday", Weekday.FRI: "Friday", Weekday.SAT: "Saturday",
        Weekday.SUN: "Sunday"}
PERIODS = {PeriodKind.PREVIOUS_DAY: "the previous day",
           PeriodKind.PREVIOUS_WEEK: "the previous week",
           PeriodKind.PREVIOUS_MONTH: "the previous month",
           PeriodKind.SINCE_LAST_SUCCESS: "the time since the last successful run"}
UNITS = {PeriodKind.PREVIOUS_DAY: "day", PeriodKind.PREVIOUS_WEEK: "week",
         PeriodKind.PREVIOUS_MONTH: "month", PeriodKind.TRAILING_DAYS: "period",
         PeriodKind.SINCE_LAST_SUCCESS: "period"}


def listed(items: list[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _monthly(monthly: Monthly) -> str:
    if monthly.last_day:
        day = "the last day"
    elif monthly.weekday is not None and monthly.occurrence is not None:
        day = f"the {monthly.occurrence.value.lower()} {DAYS[monthly.weekday]}"
    else:
        day = f"day {monthly.day}"
    return f"on {day} of every month at {monthly.at}"


def when(schedule: Schedule) -> str:
    """When the schedule runs, in its time zone, with what it skips."""
    if schedule.daily is not None:
        text = f"every day at {schedule.daily.at}"
    elif schedule.weekly is not None:
        days = [DAYS[d] for d in DAYS if d in schedule.weekly.days]
        text = f"every {listed(days)} at {schedule.weekly.at}"
    elif schedule.monthly is not None:
        text = _monthly(schedule.monthly)
    else:
        text = f"on the cron schedule \u201c{schedule.cron}\u201d"
    text += f" {schedule.time_zone}"
    extras = []
    if schedule.weekdays_only:
        extras.append("weekdays only")
    if schedule.calendar_ref is not None:
        extras.append(f"skipping the days off of calendar {schedule.calendar_ref.name}")
    if schedule.skip_dates:
        count = len(schedule.skip_dates)
        extras.append(f"skipping {count} date{'s' if count != 1 else ''}")
    if schedule.stagger_minutes:
        extras.append(f"spread over {schedule.stagger_minutes} minutes")
    return "; ".join([text, *extras])


def period(kind: PeriodKind, configured: PeriodConfig | None) -> str:
    """What each run reports on: "for the previous week", "for the 7 days before"."""
    if kind is PeriodKind.TRAILING_DAYS:
        days = configured.days if configured is not None and configured.days else 1
        text = f"for the {days} day{'s' if days != 1 else ''} before the run's day"
    else:
        text = f"for {PERIODS[kind]}"
    offset = configured.offset if configured is not None else 0
    if offset:
        text += f", {offset} {UNITS[kind]}{'s' if offset != 1 else ''} further back"
    return text


def in_words(schedule: Schedule, kind: PeriodKind, configured: PeriodConfig | None) -> str:
    """The whole sentence: when it runs and what it covers."""
    return f"{when(schedule)}, {period(kind, configured)}"
