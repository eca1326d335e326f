"""A scheduled firing is Scheduled when it starts on time and CatchUp when it starts late."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bulletin.api.status import Trigger
from bulletin.context import RunContext
from bulletin.run import CATCH_UP_AFTER, trigger_of


def _ctx(trigger: Trigger, scheduled: datetime | None) -> RunContext:
    return RunContext.from_env({
        "BULLETIN_NAMESPACE": "ns", "BULLETIN_SCHEDULE": "s", "BULLETIN_TRIGGER": trigger.value,
        "BULLETIN_RUN_ID": f"s-{int(scheduled.timestamp()) // 60}" if scheduled else "s-manual",
    })


def test_on_time_late_and_manual_starts() -> None:
    # Times relative to now, so the outcome is the same on any date.
    due = datetime.now(UTC).replace(second=0, microsecond=0)
    ctx = _ctx(Trigger.SCHEDULED, due)
    assert ctx.scheduled_time == due
    assert trigger_of(ctx, due + timedelta(seconds=30)) is Trigger.SCHEDULED
    assert trigger_of(ctx, due + CATCH_UP_AFTER + timedelta(seconds=1)) is Trigger.CATCH_UP
    manual = _ctx(Trigger.MANUAL, None)
    assert trigger_of(manual, due + timedelta(days=1)) is Trigger.MANUAL
