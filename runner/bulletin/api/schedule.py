"""When a report runs and what period it covers (spec.schedule, spec.period, run control)."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field, field_validator, model_validator

from bulletin.api.base import DNS_LABEL, OBJECT_NAME, ApiModel

HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
CRON = (
    r"^(@(yearly|annually|monthly|weekly|daily|hourly)"
    r"|(H|[0-9A-Za-z*?/,#-]+)(\s+[0-9A-Za-z*?/,#-]+){4})$"
)
DATE = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"


# staggerMinutes moves the preset's `at`; a cron expression has none, and names its minutes.
STAGGER_CRON = ("staggerMinutes works with daily, weekly and monthly, not with cron: a cron"
                ' expression names its own minutes (an "H" minute spreads load instead)')
_STAGGER_RULE = (
    "!has(self.cron) || !has(self.staggerMinutes)", STAGGER_CRON)


def _cel(*rules: tuple[str, str]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"x-kubernetes-validations": [
        {"rule": rule, "message": message} for rule, message in rules]})


class Weekday(StrEnum):
    """Day of the week."""

    MON = "MON"
    TUE = "TUE"
    WED = "WED"
    THU = "THU"
    FRI = "FRI"
    SAT = "SAT"
    SUN = "SUN"


class Occurrence(StrEnum):
    """Which weekday of the month: the first to fourth, or the last."""

    FIRST = "First"
    SECOND = "Second"
    THIRD = "Third"
    FOURTH = "Fourth"
    LAST = "Last"


class ConcurrencyPolicy(StrEnum):
    """What to do when a run is due while the previous one still runs."""

    FORBID = "Forbid"
    ALLOW = "Allow"
    REPLACE = "Replace"


class CatchUp(StrEnum):
    """What to do about runs missed while the cluster could not start them."""

    NONE = "None"
    LATEST = "Latest"
    ALL = "All"


class PeriodKind(StrEnum):
    """Which span of time a run reports on."""

    PREVIOUS_DAY = "PreviousDay"
    PREVIOUS_WEEK = "PreviousWeek"
    PREVIOUS_MONTH = "PreviousMonth"
    TRAILING_DAYS = "TrailingDays"
    SINCE_LAST_SUCCESS = "SinceLastSuccess"


At = Annotated[str, Field(pattern=HHMM, description='Time of day, "HH:MM" (24h), e.g. "09:00".')]


class Daily(ApiModel):
    """Every day at a wall-clock time in the schedule's time zone."""

    at: At


class Weekly(ApiModel):
    """Some weekdays at a wall-clock time."""

    days: Annotated[
        list[Weekday],
        Field(min_length=1, max_length=7, description="Weekdays to run on, e.g. [MON, THU]."),
    ]
    at: At


class Monthly(ApiModel):
    """Once a month: set one of day, lastDay, or weekday with occurrence."""

    model_config = _cel((
        "[has(self.day), has(self.lastDay) && self.lastDay, has(self.weekday)]"
        ".filter(x, x).size() == 1 && (has(self.weekday) == has(self.occurrence))",
        "spec.schedule.monthly: set exactly one of day, lastDay: true, or weekday"
        " (with occurrence, e.g. weekday: TUE, occurrence: Second)",
    ))

    day: Annotated[
        int | None,
        Field(ge=1, le=31, description="Day of the month, 1-31. Days 29-31 run on the last day"
              " of shorter months (day 31 runs on Feb 28/29, Apr 30, ...)."),
    ] = None
    last_day: Annotated[bool | None, Field(description="Run on the last day of the month.")] = None
    weekday: Annotated[
        Weekday | None, Field(description="Run on a weekday of the month, see occurrence.")
    ] = None
    occurrence: Annotated[
        Occurrence | None,
        Field(description="With weekday: First, Second, Third, Fourth or Last (e.g. last FRI)."),
    ] = None
    at: At

    @model_validator(mode="after")
    def _one_rule(self) -> Monthly:
        chosen = [self.day is not None, bool(self.last_day), self.weekday is not None]
        if sum(chosen) != 1 or (self.weekday is None) != (self.occurrence is None):
            raise ValueError(
                "spec.schedule.monthly: set exactly one of day, lastDay: true, or weekday"
                " (with occurrence, e.g. weekday: TUE, occurrence: Second)"
            )
        return self


class CalendarRef(ApiModel):
    """A ReportCalendar in the schedule's namespace."""

    name: Annotated[
        str, Field(pattern=OBJECT_NAME, max_length=253, description="The ReportCalendar's name.")
    ]


class Schedule(ApiModel):
    """When the report runs: exactly one of cron, daily, weekly or monthly, in a time zone.

    Wall-clock times follow the time zone through DST: a time skipped when clocks go forward
    runs one hour later (02:30 becomes 03:30), and a time that occurs twice when clocks go back
    runs once, at its first occurrence.
    """

    model_config = _cel((
        "[has(self.cron), has(self.daily), has(self.weekly), has(self.monthly)]"
        ".filter(x, x).size() == 1",
        "spec.schedule: set exactly one of cron, daily, weekly or monthly",
    ), _STAGGER_RULE)

    cron: Annotated[
        str | None,
        Field(
            pattern=CRON,
            max_length=100,
            description='A 5-field cron expression, e.g. "0 9 * * MON". An "H" minute picks a'
            " stable minute from the ReportSchedule's name, to spread load.",
        ),
    ] = None
    daily: Annotated[Daily | None, Field(description="Preset: every day at a time.")] = None
    weekly: Annotated[Weekly | None, Field(description="Preset: on weekdays at a time.")] = None
    monthly: Annotated[
        Monthly | None,
        Field(description="Preset: a day of the month, its last day, or e.g. its 2nd Tuesday."),
    ] = None
    time_zone: Annotated[
        str,
        Field(min_length=1, max_length=64,
              description='IANA time zone of the schedule, e.g. "Europe/Berlin". Default UTC.'),
    ] = "UTC"
    weekdays_only: Annotated[
        bool, Field(description="Skip runs that fall on a Saturday or Sunday.")
    ] = False
    skip_dates: Annotated[
        list[Annotated[str, Field(pattern=DATE)]],
        Field(max_length=400, description='Dates to skip, e.g. holidays: ["2026-12-25"].'),
    ] = []
    calendar_ref: Annotated[
        CalendarRef | None,
        Field(description="A ReportCalendar of this namespace whose days off (holidays,"
              " weekend) this schedule skips, like skipDates; shared by many schedules."),
    ] = None
    stagger_minutes: Annotated[
        int | None,
        Field(ge=1, le=60,
              description="Spread the start over this many minutes after the set time, by a"
              " stable hash of namespace/name, so many 09:00 schedules do not start at once."
              " With daily, weekly or monthly only: the API server refuses it with cron (an"
              ' "H" minute spreads a cron schedule instead).'),
    ] = None

    @field_validator("skip_dates")
    @classmethod
    def _real_dates(cls, days: list[str]) -> list[str]:
        """The pattern lets through e.g. 0000-01-01 and 2026-02-30: name the entry here."""
        for n, day in enumerate(days):
            try:
                date.fromisoformat(day)
            except ValueError as exc:
                raise ValueError(f"spec.schedule.skipDates[{n}]: {day!r} is no date: {exc}"
                                 ) from None
        return days

    @model_validator(mode="after")
    def _exactly_one(self) -> Schedule:
        chosen = [n for n in ("cron", "daily", "weekly", "monthly") if getattr(self, n) is not None]
        if len(chosen) != 1:
            raise ValueError(  # errors.describe prefixes the field: schedule or schedules[n]
                "set exactly one of cron, daily, weekly or monthly"
                f" (found {', '.join(chosen) or 'none'})"
            )
        return self

    @model_validator(mode="after")
    def _stagger_with_a_preset(self) -> Schedule:
        """The CEL rule's twin, for objects admitted before it (the operator says why)."""
        if self.cron is not None and self.stagger_minutes is not None:
            raise ValueError(STAGGER_CRON)
        return self


class PeriodConfig(ApiModel):
    """The span of time each run reports on, in the schedule's time zone."""

    kind: Annotated[
        PeriodKind,
        Field(description="PreviousDay, PreviousWeek (ISO, Monday to Monday), PreviousMonth,"
              " TrailingDays (the `days` days before the run's day) or SinceLastSuccess (from the"
              " end of the last successful run's period to the run's time). Default follows the"
              " schedule: weekly presets PreviousWeek, monthly PreviousMonth, else PreviousDay."),
    ]
    days: Annotated[
        int | None, Field(ge=1, le=366, description="Length of a TrailingDays period.")
    ] = None
    offset: Annotated[
        int,
        Field(ge=0, le=120, description="Shift the period back by this many periods, e.g. 1"
              " with PreviousDay reports on the day before yesterday."),
    ] = 0


class ScheduleEntry(Schedule):
    """One of several schedules (spec.schedules): a named schedule with its own time zone.

    Each entry gets its own CronJob, named after the ReportSchedule and the entry, and each
    run records the entry that started it (status.history[].scheduleEntry).
    """

    model_config = _cel((
        "[has(self.cron), has(self.daily), has(self.weekly), has(self.monthly)]"
        ".filter(x, x).size() == 1",
        "spec.schedules: set exactly one of cron, daily, weekly or monthly in each entry",
    ), _STAGGER_RULE)

    name: Annotated[
        str,
        Field(pattern=DNS_LABEL, max_length=30,
              description='Name of the entry, unique in spec.schedules, e.g. "emea"; part of'
              " its CronJob's name and recorded in each run's history entry."),
    ]
