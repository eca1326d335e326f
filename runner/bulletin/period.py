"""Report periods: the span a run reports on, computed in the schedule's time zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bulletin.api.spec import PeriodKind


@dataclass(frozen=True)
class Period:
    """A half-open span [start, end) with the span before it, for trends."""

    start: datetime
    end: datetime
    previous_start: datetime
    previous_end: datetime

    def params(self) -> dict[str, datetime]:
        """Bound parameters for queries and variables for templates."""
        return {
            "period_start": self.start,
            "period_end": self.end,
            "previous_start": self.previous_start,
            "previous_end": self.previous_end,
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


def compute(kind: PeriodKind, reference: datetime, tz: ZoneInfo) -> Period:
    """The period of ``kind`` that ends at or before ``reference`` (local calendar in ``tz``)."""
    today = reference.astimezone(tz).date()
    if kind is PeriodKind.PREVIOUS_DAY:
        days = [today - timedelta(days=n) for n in (2, 1, 0)]
    elif kind is PeriodKind.PREVIOUS_WEEK:
        monday = today - timedelta(days=today.weekday())
        days = [monday - timedelta(weeks=n) for n in (2, 1, 0)]
    else:
        days = [_month_start(today, n) for n in (2, 1, 0)]
    bounds = [_midnight(d, tz) for d in days]
    return Period(
        start=bounds[1], end=bounds[2], previous_start=bounds[0], previous_end=bounds[1]
    )
