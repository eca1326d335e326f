"""The period `bulletin preview` renders, and a check of sample rows against it.

The period is the one a run at ``--at`` reports on; without ``--at``, the period a sample file
names (``period: 2026-W02``, as `kubectl bulletin run --period` takes it), else the one a run
now would report on. Sample rows dated outside the period get a warning: the header and the
subject would name one week while the rows are from another.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from bulletin.api.spec import ReportScheduleSpec
from bulletin.assembly.plan import ReportError
from bulletin.assembly.rows import sample_rows
from bulletin.period import Period, compute, parse_override
from bulletin.schedule import zone

_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}")


def preview_period(spec: ReportScheduleSpec, at: datetime | None,
                   sample: Mapping[str, Any] | None) -> Period:
    """``at``'s period, else the sample's ``period``, else now's (PeriodError if the sample's
    is no period)."""
    tz = zone(spec.schedule)
    named = (sample or {}).get("period")
    if at is None and named is not None:
        return parse_override(str(named), tz)
    return compute(spec.period_kind(), at or datetime.now(UTC), tz)


def _when(value: Any, tz: tzinfo) -> datetime | date | None:
    """A sample cell as a date or an aware time, if it is one (YAML dates, ISO strings)."""
    if isinstance(value, str) and _ISO_DAY.match(value):
        try:
            value = (date.fromisoformat(value) if len(value) == 10
                     else datetime.fromisoformat(value))
        except ValueError:
            return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=tz)
    return value if isinstance(value, date) else None


def _inside(when: datetime | date, period: Period) -> bool:
    if isinstance(when, datetime):  # a step's end time may be the period's end
        return period.start <= when <= period.end
    last = (period.end - timedelta(microseconds=1)).date()
    return period.start.date() <= when <= last


def _dated(columns: list[str], rows: Iterator[tuple[Any, ...]], tz: tzinfo
           ) -> tuple[str | None, list[datetime | date]]:
    """The first column holding dates, and each row's date in it."""
    column: int | None = None
    found: list[datetime | date] = []
    for row in rows:
        if column is None:
            column = next((i for i, v in enumerate(row) if _when(v, tz) is not None), None)
        when = _when(row[column], tz) if column is not None and column < len(row) else None
        if when is not None:
            found.append(when)
    return (columns[column] if column is not None else None), found


def outside(sample: Mapping[str, Any], period: Period, tz: tzinfo) -> list[str]:
    """A warning for each dataset of ``sample`` with rows dated outside ``period``."""
    warnings = []
    for name in (sample.get("datasets") or {}):
        try:
            column, dates = _dated(*sample_rows(sample, name, previous=False, tz=tz), tz=tz)
        except ReportError:
            continue  # the report itself says what is wrong with the sample
        off = sorted(str(d.date() if isinstance(d, datetime) else d)
                     for d in dates if not _inside(d, period))
        if off:
            warnings.append(
                f"{len(off)} of {len(dates)} sample rows of {name!r} ({column}: {off[0]} to"
                f" {off[-1]}) fall outside the period {period.label()}; name the sample's"
                " period (e.g. `period: 2026-W02` in the file) or pass --at")
    return warnings
