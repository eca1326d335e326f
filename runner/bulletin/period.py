"""Report periods: the span a run reports on, computed in the schedule's time zone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bulletin.api.errors import SpecError
from bulletin.api.schedule import PeriodKind

UTC_ZONE = ZoneInfo("UTC")


class PeriodError(SpecError, ValueError):
    """A period override that cannot be read."""


@dataclass(frozen=True)
class Period:
    """A half-open span [start, end) with the span of equal length before it, for trends, and
    the schedule's time zone it was computed in (its queries' session zone, its labels')."""

    start: datetime
    end: datetime
    previous_start: datetime
    previous_end: datetime
    tz: ZoneInfo = UTC_ZONE

    @property
    def time_zone(self) -> str:
        """The zone's IANA name, e.g. Europe/Berlin."""
        return self.tz.key

    def params(self) -> dict[str, datetime | date]:
        """Bound parameters for queries and variables for templates."""
        return {
            "period_start": self.start,
            "period_end": self.end,
            "previous_start": self.previous_start,
            "previous_end": self.previous_end,
            "period_start_date": self.start.date(),
            "period_end_date": self.end.date(),
        }

    def label(self) -> str:
        """A short human label, e.g. 2026-10-01..2026-10-31."""
        last = (self.end - timedelta(microseconds=1)).date()
        first = self.start.date()
        return first.isoformat() if first == last else f"{first.isoformat()}..{last.isoformat()}"


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz)


def _month_start(day: date, months_back: int) -> date:
    index = day.year * 12 + (day.month - 1) - months_back
    return date(index // 12, index % 12 + 1, 1)


def _span(first: date, end: date, previous: date, tz: ZoneInfo) -> Period:
    return Period(start=_midnight(first, tz), end=_midnight(end, tz),
                  previous_start=_midnight(previous, tz), previous_end=_midnight(first, tz),
                  tz=tz)


def compute(
    kind: PeriodKind,
    reference: datetime,
    tz: ZoneInfo,
    *,
    days: int | None = None,
    offset: int = 0,
    last_success_end: datetime | None = None,
) -> Period:
    """The period of ``kind`` that ends at or before ``reference`` (local calendar in ``tz``).

    ``offset`` shifts calendar periods back by whole periods. SinceLastSuccess runs from
    ``last_success_end`` (or one day back when there is none) to ``reference`` itself.
    """
    today = reference.astimezone(tz).date()
    if kind is PeriodKind.SINCE_LAST_SUCCESS:
        since = (last_success_end or reference - timedelta(days=1)).astimezone(tz)
        until = reference.astimezone(tz)
        return Period(start=since, end=until, previous_start=since - (until - since),
                      previous_end=since, tz=tz)
    if kind is PeriodKind.PREVIOUS_DAY:
        end = today - timedelta(days=offset)
        return _span(end - timedelta(days=1), end, end - timedelta(days=2), tz)
    if kind is PeriodKind.TRAILING_DAYS:
        length = timedelta(days=days or 7)
        end = today - offset * length
        return _span(end - length, end, end - 2 * length, tz)
    if kind is PeriodKind.PREVIOUS_WEEK:
        end = today - timedelta(days=today.weekday()) - timedelta(weeks=offset)
        return _span(end - timedelta(weeks=1), end, end - timedelta(weeks=2), tz)
    end = _month_start(today, offset)
    return _span(_month_start(end, 1), end, _month_start(end, 2), tz)


_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_override(text: str, tz: ZoneInfo) -> Period:
    """A period named by a user: 2026-10, 2026-W43, 2026-10-05 or 2026-10-01..2026-10-15."""
    text = text.strip()
    try:
        if match := _MONTH.match(text):
            first = date(int(match[1]), int(match[2]), 1)
            return _span(first, _month_start(first, -1), _month_start(first, 1), tz)
        if match := _WEEK.match(text):
            first = date.fromisocalendar(int(match[1]), int(match[2]), 1)
            return _span(first, first + timedelta(weeks=1), first - timedelta(weeks=1), tz)
        if _DAY.match(text):
            first = date.fromisoformat(text)
            return _span(first, first + timedelta(days=1), first - timedelta(days=1), tz)
        if ".." in text:
            left, right = (date.fromisoformat(p) for p in text.split("..", 1))
            end = right + timedelta(days=1)
            if end <= left:
                raise PeriodError(f"period {text!r}: the end is before the start")
            return _span(left, end, left - (end - left), tz)
    except ValueError as exc:
        raise PeriodError(f"period {text!r}: {exc}") from exc
    raise PeriodError(
        f"period {text!r} not understood; use 2026-10, 2026-W43, 2026-10-05"
        " or 2026-10-01..2026-10-15"
    )
