"""Report periods in the schedule's zone, with frozen clocks."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from bulletin.api.spec import PeriodKind
from bulletin.period import PeriodError, compute, parse_override

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


def test_offset_trailing_and_since_last_success() -> None:
    ref = datetime(2026, 11, 21, 9, tzinfo=BERLIN)
    shifted = compute(PeriodKind.PREVIOUS_DAY, ref, BERLIN, offset=1)
    assert (shifted.start, shifted.end) == (datetime(2026, 11, 19, tzinfo=BERLIN),
                                            datetime(2026, 11, 20, tzinfo=BERLIN))
    trailing = compute(PeriodKind.TRAILING_DAYS, ref, BERLIN, days=7)
    assert (trailing.start, trailing.end) == (datetime(2026, 11, 14, tzinfo=BERLIN),
                                              datetime(2026, 11, 21, tzinfo=BERLIN))
    assert trailing.previous_start == datetime(2026, 11, 7, tzinfo=BERLIN)
    last = datetime(2026, 11, 18, 6, tzinfo=UTC)
    since = compute(PeriodKind.SINCE_LAST_SUCCESS, ref, BERLIN, last_success_end=last)
    assert (since.start, since.end) == (last, ref)


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2026-10", date(2026, 10, 1), date(2026, 11, 1)),
        ("2026-12", date(2026, 12, 1), date(2027, 1, 1)),
        ("2026-W53", date(2026, 12, 28), date(2027, 1, 4)),
        ("2028-02-29", date(2028, 2, 29), date(2028, 3, 1)),
        ("2026-10-01..2026-10-15", date(2026, 10, 1), date(2026, 10, 16)),
    ],
)
def test_period_overrides(text: str, start: date, end: date) -> None:
    p = parse_override(text, BERLIN)
    assert (p.start, p.end) == (datetime.combine(start, time(0), BERLIN),
                                datetime.combine(end, time(0), BERLIN))
    assert p.previous_end == p.start


@pytest.mark.parametrize("text", ["2026-13", "October", "2026-10-15..2026-10-01", "2026-W60"])
def test_bad_period_overrides_say_what_works(text: str) -> None:
    with pytest.raises(PeriodError, match="period"):
        parse_override(text, BERLIN)
