"""nextRunTime refresh: only schedules whose next run has passed are patched."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bulletin_operator.nextrun import due_updates
from support import report_schedule

NOW = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)


def _obj(name: str, status: dict[str, Any], cron: str = "0 9 * * MON") -> dict[str, Any]:
    obj = report_schedule(name, schedule={"cron": cron, "timeZone": "Europe/Berlin"})
    return {**obj, "metadata": {"namespace": "ns", "name": name}, "status": status}


def test_only_passed_runs_are_refreshed() -> None:
    items = [
        _obj("passed", {"schedule": "0 9 * * MON", "nextRunTime": "2026-11-23T08:00:00Z"}),
        _obj("future", {"schedule": "0 9 * * MON", "nextRunTime": "2026-11-30T08:00:00Z"}),
        _obj("missing", {"schedule": "0 9 * * MON"}),
        _obj("invalid", {}),  # never reconciled as valid: reconcile owns it
        _obj("stalled", {"schedule": "x", "nextRunTime": "2026-01-01T00:00:00Z"}, cron="bad"),
    ]
    assert due_updates(items, NOW) == [
        ("ns", "passed", "2026-11-30T08:00:00Z"),
        ("ns", "missing", "2026-11-30T08:00:00Z"),
    ]
