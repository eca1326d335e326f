"""ReportCalendar: holidays and weekend days shared by many ReportSchedules, its spec (the CRD
is generated from it) and the days off it compiles to. A schedule that names a calendar
(spec.schedule.calendarRef) does not run on its days off.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator

from bulletin.api.base import ApiModel
from bulletin.api.errors import SpecError, describe
from bulletin.api.schedule import Weekday
from bulletin.api.spec import ReportScheduleSpec

CALENDAR_KIND = "ReportCalendar"
CALENDAR_PLURAL = "reportcalendars"

# English names, whatever the locale (calendar.month_name follows it).
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
ORDINALS = ["First", "Second", "Third", "Fourth", "Last"]


def _either_case(words: list[str]) -> str:
    return "|".join(f"[{w[0]}{w[0].lower()}]{w[1:]}" for w in words)


_DAY = r"(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
# What admission lets through; the model also refuses dates that never exist (02-30).
HOLIDAY = (rf"^([0-9]{{4}}-)?{_DAY}$"
           rf"|^({_either_case(ORDINALS)}) ({_either_case(WEEKDAYS)}) of ({_either_case(MONTHS)})$")
_RULE = re.compile(HOLIDAY)


def holiday_error(text: str) -> str | None:
    """Why ``text`` is no holiday entry, or None when it is one."""
    if not _RULE.match(text):
        return ('use a date "2026-12-24", a yearly date "12-25" (MM-DD) or a yearly weekday'
                ' rule "last Monday of May" (First..Fourth or Last, a weekday, a month)')
    if text[0].isdigit():
        parts = [int(p) for p in text.split("-")]
        year, month, day = parts if len(parts) == 3 else [2024, *parts]  # 2024: has Feb 29
        try:
            date(year or 1, month, day)
        except ValueError as exc:
            return f"{exc}"
        if year == 0:
            return "year 0 does not exist"
    return None


class ReportCalendarSpec(ApiModel):
    """Days off shared by ReportSchedules: holidays (dates and yearly rules) and, optionally,
    the weekend. A schedule with spec.schedule.calendarRef naming this calendar skips runs
    that fall on a day off (in the schedule's time zone), like its own skipDates."""

    holidays: Annotated[
        list[Annotated[str, Field(pattern=HOLIDAY, max_length=40)]],
        Field(max_length=1000,
              description='Days off: dates ("2026-04-03"), yearly dates as MM-DD ("12-25")'
              ' and yearly weekday rules ("last Monday of May", "First Monday of September";'
              " First, Second, Third, Fourth or Last)."),
    ] = []
    weekend: Annotated[
        list[Weekday] | None,
        Field(max_length=7,
              description="Weekdays that are days off too, e.g. [FRI, SAT] or [SAT, SUN]. Unset:"
              " the calendar has no weekend (a schedule's weekdaysOnly still skips SAT and"
              " SUN)."),
    ] = None

    @field_validator("holidays")
    @classmethod
    def _real_days(cls, entries: list[str]) -> list[str]:
        """The pattern lets through e.g. 02-30: name the entry and the fix here."""
        for n, entry in enumerate(entries):
            if why := holiday_error(entry):
                raise ValueError(f"spec.holidays[{n}]: {entry!r}: {why}")
        return entries


_WEEKDAY_CODES = ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"]


class CalendarError(SpecError, ValueError):
    """A ReportCalendar that cannot be used; the message names it and the fix."""


def _index(words: list[str], word: str) -> int:
    return [w.lower() for w in words].index(word.lower())


def _yearly_rule(text: str) -> Callable[[date], bool]:
    """A predicate for "last Monday of May"-style rules (entries already validated)."""
    ordinal, weekday, _of, month = text.split()
    nth, wday, mon = _index(ORDINALS, ordinal), _index(WEEKDAYS, weekday), _index(MONTHS, month) + 1

    def matches(d: date) -> bool:
        if d.month != mon or d.weekday() != wday:
            return False
        if nth == len(ORDINALS) - 1:
            return d.day + 7 > calendar.monthrange(d.year, d.month)[1]
        return nth * 7 < d.day <= (nth + 1) * 7

    return matches


@dataclass(frozen=True)
class DaysOff:
    """A compiled calendar: ``reason(day)`` says why a day is off, or None for a working day."""

    name: str
    dates: frozenset[date]
    yearly: frozenset[tuple[int, int]]
    rules: tuple[tuple[str, Callable[[date], bool]], ...]
    weekend: frozenset[int]

    def reason(self, day: date) -> str | None:
        """Why ``day`` is a day off in this calendar, or None."""
        where = f"ReportCalendar {self.name!r}"
        if day in self.dates:
            return f"{day.isoformat()} is a holiday in {where}"
        if (day.month, day.day) in self.yearly:
            return f"{day:%m-%d} is a yearly holiday in {where}"
        for text, matches in self.rules:
            if matches(day):
                return f"{day.isoformat()} is {text!r} in {where}"
        if day.weekday() in self.weekend:
            return f"{day.isoformat()} ({_WEEKDAY_CODES[day.weekday()]}) is weekend in {where}"
        return None

    def works(self, day: date) -> bool:
        """Whether runs may happen on ``day``."""
        return self.reason(day) is None


def compile_calendar(name: str, spec: ReportCalendarSpec) -> DaysOff:
    """The days off of a validated calendar spec."""
    dates: set[date] = set()
    yearly: set[tuple[int, int]] = set()
    rules: list[tuple[str, Callable[[date], bool]]] = []
    for entry in spec.holidays:
        if entry[0].isdigit() and len(entry) == 10:
            dates.add(date.fromisoformat(entry))
        elif entry[0].isdigit():
            month, day = (int(p) for p in entry.split("-"))
            yearly.add((month, day))
        else:
            rules.append((entry, _yearly_rule(entry)))
    weekend = frozenset(_WEEKDAY_CODES.index(d.value) for d in spec.weekend or [])
    return DaysOff(name=name, dates=frozenset(dates), yearly=frozenset(yearly),
                   rules=tuple(rules), weekend=weekend)


def from_object(name: str, obj: Mapping[str, Any] | None) -> DaysOff:
    """The days off of a ReportCalendar object (as read from the API), or CalendarError when it
    is missing or invalid, naming spec.schedule.calendarRef and the fix."""
    if obj is None:
        raise CalendarError(
            f"spec.schedule.calendarRef: ReportCalendar {name!r} not found in this namespace;"
            " create it, or remove calendarRef")
    try:
        spec = ReportCalendarSpec.model_validate(obj.get("spec") or {})
    except ValidationError as exc:
        raise CalendarError(f"spec.schedule.calendarRef: ReportCalendar {name!r} is invalid:"
                            f" {describe(exc)}") from exc
    return compile_calendar(name, spec)


def calendar_names(spec: ReportScheduleSpec) -> list[str]:
    """The ReportCalendars that spec.schedule or the entries of spec.schedules name, each once."""
    schedules = spec.schedules if spec.schedules is not None else [spec.schedule]
    return sorted({s.calendar_ref.name for s in schedules if s.calendar_ref is not None})


def named_in(spec: Mapping[str, Any]) -> list[str]:
    """calendar_names of a spec as stored (unvalidated: a bad spec is reconcile's to report)."""
    entries = spec.get("schedules") or [spec.get("schedule")]
    names = {((e or {}).get("calendarRef") or {}).get("name") for e in entries
             if isinstance(e, Mapping)}
    return sorted(n for n in names if isinstance(n, str) and n)
