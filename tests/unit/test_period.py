"""Report periods in the schedule's zone, with frozen clocks."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bulletin.api.spec import PeriodKind
from bulletin.period import compute

BERLIN = ZoneInfo("Europe/Berlin")


def test_previous_day_is_local() -> None:
    # 23:30 UTC on Nov 20 is already Nov 21 in Berlin.
    p = compute(PeriodKind.PREVIOUS_DAY, datetime(2026, 11, 20, 23, 30, tzinfo=UTC), BERLIN)
    assert p.start == datetime(2026, 11, 20, tzinfo=BERLIN)
    assert p.end == datetime(2026, 11, 21, tzinfo=BERLIN)
    assert p.previous_start == datetime(2026, 11, 19, tzinfo=BERLIN)
    assert p.label() == "2026-11-20"


def test_previous_iso_week_across_year_end() -> None:
    p = compute(PeriodKind.PREVIOUS_WEEK, datetime(2027, 1, 4, 9, tzinfo=BERLIN), BERLIN)
    assert p.start == datetime(2026, 12, 28, tzinfo=BERLIN)
    assert p.end == datetime(2027, 1, 4, tzinfo=BERLIN)
    assert p.previous_end == p.start


def test_previous_month_in_january_and_march() -> None:
    jan = compute(PeriodKind.PREVIOUS_MONTH, datetime(2027, 1, 1, 6, tzinfo=BERLIN), BERLIN)
    assert (jan.start, jan.end) == (datetime(2026, 12, 1, tzinfo=BERLIN),
                                    datetime(2027, 1, 1, tzinfo=BERLIN))
    assert jan.previous_start == datetime(2026, 11, 1, tzinfo=BERLIN)
    mar = compute(PeriodKind.PREVIOUS_MONTH, datetime(2028, 3, 1, 6, tzinfo=BERLIN), BERLIN)
    assert mar.start == datetime(2028, 2, 1, tzinfo=BERLIN)
    assert mar.label() == "2028-02-01..2028-02-29"


def test_day_across_dst_change_is_23_hours() -> None:
    p = compute(PeriodKind.PREVIOUS_DAY, datetime(2026, 3, 30, 9, tzinfo=BERLIN), BERLIN)
    # Aware datetimes in one zone subtract as wall clock; compare instants in UTC.
    assert (p.end.astimezone(UTC) - p.start.astimezone(UTC)).total_seconds() == 23 * 3600
