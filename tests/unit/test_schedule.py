"""Schedule math with frozen clocks."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from bulletin.api.spec import Schedule
from bulletin.schedule import ScheduleError, cron_expression, next_run, validate
from pydantic import ValidationError

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ({"cron": "0  9 * * MON"}, "0 9 * * MON"),
        ({"daily": {"at": "07:05"}}, "5 7 * * *"),
        ({"weekly": {"days": ["FRI", "MON", "MON"], "at": "18:30"}}, "30 18 * * 1,5"),
        ({"monthly": {"day": 15, "at": "06:00"}}, "0 6 15 * *"),
    ],
)
def test_presets_become_cron(schedule: dict[str, object], expected: str) -> None:
    assert cron_expression(Schedule.model_validate(schedule)) == expected


def test_exactly_one_kind_is_required() -> None:
    with pytest.raises(ValidationError, match="exactly one of cron, daily, weekly or monthly"):
        Schedule.model_validate({"cron": "0 9 * * *", "daily": {"at": "09:00"}})
    with pytest.raises(ValidationError, match="found none"):
        Schedule.model_validate({"timeZone": "UTC"})


def test_bad_time_is_rejected() -> None:
    with pytest.raises(ValidationError, match=r"daily\.at"):
        Schedule.model_validate({"daily": {"at": "25:00"}})


def test_unknown_zone_names_the_field() -> None:
    with pytest.raises(ScheduleError, match=r"spec\.schedule\.timeZone: unknown time zone"):
        validate(Schedule.model_validate({"cron": "0 9 * * *", "timeZone": "Mars/Olympus"}), NOW)


def test_invalid_cron_names_the_field() -> None:
    expected = r"spec\.schedule\.cron: '0 99 \* \* \*' is not a valid"
    with pytest.raises(ScheduleError, match=expected):
        validate(Schedule.model_validate({"cron": "0 99 * * *"}), NOW)


def test_never_firing_cron_is_rejected() -> None:
    with pytest.raises(ScheduleError, match="never fires"):
        validate(Schedule.model_validate({"cron": "0 9 30 2 *"}), NOW)


def test_next_run_in_zone() -> None:
    nxt = next_run("0 9 * * 1", ZoneInfo("Europe/Berlin"), NOW)
    assert nxt is not None
    assert nxt.astimezone(UTC) == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
