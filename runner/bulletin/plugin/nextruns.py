"""`kubectl bulletin next`: upcoming run times from the schedule math the operator and runner use
(bulletin.schedule: presets, cron, weekdaysOnly, skipDates, a ReportCalendar's days off,
stagger, DST resolution), merged over the entries of spec.schedules, each in its own time
zone."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from bulletin.api.base import rfc3339
from bulletin.api.calendar import DaysOff
from bulletin.api.errors import describe
from bulletin.api.schedule import Schedule, ScheduleEntry
from bulletin.plugin.tables import human_duration, render
from bulletin.schedule import Rule, ScheduleError, compile_rule
from bulletin.timing import Entry, Timing

HEADERS = ("LOCAL", "UTC OFFSET", "UTC", "IN", "DST")


@dataclass(frozen=True)
class NextRun:
    """One upcoming run; ``shift`` is (old, new) UTC offset when it changed since the previous
    row (or, for the first row, since the reference time)."""

    utc: datetime
    local: datetime
    shift: tuple[timedelta, timedelta] | None
    entry: str | None = None  # the spec.schedules entry


def _days(schedule: Schedule, calendars: Mapping[str, DaysOff] | None) -> DaysOff | None:
    ref = schedule.calendar_ref
    return None if ref is None or calendars is None else calendars.get(ref.name)


def rule_for(obj: Mapping[str, Any], now: datetime,
             calendars: Mapping[str, DaysOff] | None = None) -> Timing:
    """The compiled schedules of a ReportSchedule object (skipping the days off of the
    ``calendars`` they name, by name), or ScheduleError naming the field."""
    spec = obj.get("spec") or {}
    meta = obj["metadata"]
    key = f"{meta['namespace']}/{meta['name']}"
    if spec.get("schedules") is None:
        try:
            schedule = Schedule.model_validate(spec.get("schedule") or {})
        except ValidationError as exc:
            raise ScheduleError(describe(exc, root="spec.schedule")) from exc
        return Timing((Entry(None, schedule, compile_rule(schedule, key, now,
                                                          _days(schedule, calendars))),))
    entries = []
    for n, raw in enumerate(spec["schedules"]):
        try:
            entry = ScheduleEntry.model_validate(raw)
            rule = compile_rule(entry, key, now, _days(entry, calendars))
            entries.append(Entry(entry.name, entry, rule))
        except ValidationError as exc:
            raise ScheduleError(describe(exc, root=f"spec.schedules[{n}]")) from exc
        except ScheduleError as exc:
            raise ScheduleError(str(exc).replace("spec.schedule", f"spec.schedules[{n}]", 1)
                                ) from exc
    return Timing(tuple(entries))


def _upcoming(rule: Rule, after: datetime, count: int, entry: str | None) -> list[NextRun]:
    runs: list[NextRun] = []
    offset = after.astimezone(rule.tz).utcoffset()
    when = after
    while len(runs) < count and (instant := rule.next_run(when)) is not None:
        local = instant.astimezone(rule.tz)
        new = local.utcoffset()
        shift = (offset, new) if offset is not None and new is not None and new != offset else None
        runs.append(NextRun(utc=instant, local=local, shift=shift, entry=entry))
        offset, when = new, instant
    return runs


def upcoming(timing: Timing, after: datetime, count: int) -> list[NextRun]:
    """The next ``count`` intended runs strictly after ``after``, of every entry, in time
    order; a DST mark compares with the previous run of the same entry."""
    runs = [r for e in timing.entries for r in _upcoming(e.rule, after, count, e.name)]
    return sorted(runs, key=lambda r: (r.utc, r.entry or ""))[:count]


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
    if any(r.entry for r in runs):  # spec.schedules: which entry runs
        return render(("ENTRY", *HEADERS),
                      [(r.entry or "", *row) for r, row in zip(runs, rows, strict=True)])
    return render(HEADERS, rows)


def next_records(runs: Sequence[NextRun]) -> list[dict[str, Any]]:
    """The upcoming runs for -o json|yaml."""
    return [{"time": rfc3339(r.utc), "localTime": r.local.isoformat(),
             "utcOffset": offset_text(r.local.utcoffset()), "offsetChanged": r.shift is not None,
             **({"entry": r.entry} if r.entry else {})}
            for r in runs]
