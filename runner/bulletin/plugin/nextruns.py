"""`kubectl bulletin next`: upcoming run times from the schedule math the operator and runner use
(bulletin.schedule: presets, cron, weekdaysOnly, skipDates, stagger, DST resolution)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from bulletin.api.base import rfc3339
from bulletin.api.errors import describe
from bulletin.api.schedule import Schedule
from bulletin.plugin.tables import human_duration, render
from bulletin.schedule import Rule, ScheduleError, compile_rule

HEADERS = ("LOCAL", "UTC OFFSET", "UTC", "IN", "DST")


@dataclass(frozen=True)
class NextRun:
    """One upcoming run; ``shift`` is (old, new) UTC offset when it changed since the previous
    row (or, for the first row, since the reference time)."""

    utc: datetime
    local: datetime
    shift: tuple[timedelta, timedelta] | None


def rule_for(obj: Mapping[str, Any], now: datetime) -> Rule:
    """The compiled schedule of a ReportSchedule object, or ScheduleError naming the field."""
    raw = (obj.get("spec") or {}).get("schedule") or {}
    try:
        schedule = Schedule.model_validate(raw)
    except ValidationError as exc:
        raise ScheduleError(describe(exc, root="spec.schedule")) from exc
    meta = obj["metadata"]
    return compile_rule(schedule, f"{meta['namespace']}/{meta['name']}", now)


def upcoming(rule: Rule, after: datetime, count: int) -> list[NextRun]:
    """The next ``count`` intended runs strictly after ``after``."""
    runs: list[NextRun] = []
    offset = after.astimezone(rule.tz).utcoffset()
    when = after
    while len(runs) < count and (instant := rule.next_run(when)) is not None:
        local = instant.astimezone(rule.tz)
        new = local.utcoffset()
        shift = (offset, new) if offset is not None and new is not None and new != offset else None
        runs.append(NextRun(utc=instant, local=local, shift=shift))
        offset, when = new, instant
    return runs


def offset_text(offset: timedelta | None) -> str:
    """A UTC offset as +02:00 / -03:30."""
    minutes = int((offset or timedelta()).total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def shift_text(run: NextRun) -> str:
    """The DST mark: "+01:00 -> +02:00" when the offset changed, else empty."""
    return f"{offset_text(run.shift[0])} -> {offset_text(run.shift[1])}" if run.shift else ""


def next_table(runs: Sequence[NextRun], reference: datetime) -> str:
    """The upcoming runs: local time (with zone abbreviation), offset, UTC, time left, DST mark."""
    rows = [(f"{r.local:%Y-%m-%d %a %H:%M %Z}", offset_text(r.local.utcoffset()),
             f"{r.utc.astimezone(UTC):%Y-%m-%d %H:%M}Z",
             f"in {human_duration((r.utc - reference).total_seconds())}", shift_text(r))
            for r in runs]
    return render(HEADERS, rows)


def next_records(runs: Sequence[NextRun]) -> list[dict[str, Any]]:
    """The upcoming runs for -o json|yaml."""
    return [{"time": rfc3339(r.utc), "localTime": r.local.isoformat(),
             "utcOffset": offset_text(r.local.utcoffset()), "offsetChanged": r.shift is not None}
            for r in runs]
