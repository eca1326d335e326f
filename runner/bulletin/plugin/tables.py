"""Pure formatting for the plugin's tables: kubectl's relative ages and column layout."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from bulletin.api.status import ReportScheduleStatus, RunRecord

NONE = "<none>"
ERROR_WIDTH = 60


def human_duration(seconds: float) -> str:
    """A duration the way kubectl prints ages: 45s, 3m20s, 95m, 5h10m, 30h, 3d4h, 20d, 2y10d."""
    secs = int(seconds)
    if secs < -1:
        return "<invalid>"
    if secs < 120:
        return f"{max(secs, 0)}s"
    minutes = secs // 60
    if minutes < 10:
        return f"{minutes}m{secs % 60}s" if secs % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 24 * 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if days < 365 * 2:
        return f"{days}d"
    if days < 365 * 8:
        return f"{days // 365}y{days % 365}d" if days % 365 else f"{days // 365}y"
    return f"{days // 365}y"


def parse_time(stamp: str) -> datetime:
    """An RFC 3339 timestamp from the API."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _when(stamp: datetime | str | None) -> datetime | None:
    return stamp if isinstance(stamp, datetime) else parse_time(stamp) if stamp else None


def age(stamp: datetime | str | None, now: datetime) -> str:
    """How long ago ``stamp`` was, or <none>."""
    when = _when(stamp)
    return human_duration((now - when).total_seconds()) if when else NONE


def until(stamp: datetime | str | None, now: datetime) -> str:
    """How long until ``stamp``: "in 3d4h", "due" once it has passed, or <none>."""
    when = _when(stamp)
    if when is None:
        return NONE
    left = (when - now).total_seconds()
    return f"in {human_duration(left)}" if left >= 1 else "due"


def render(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell with three spaces between, like kubectl's printer."""
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]
    lines = ["   ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))
             .rstrip() for row in [headers, *rows]]
    return "\n".join(lines) + "\n"


def truncate(text: str | None, width: int = ERROR_WIDTH) -> str:
    """One line of at most ``width`` characters, or <none>."""
    if not text:
        return NONE
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 3] + "..."


def recipients(addresses: Sequence[str]) -> str:
    """Up to two addresses, else the first and how many more: "team@example.com +2"."""
    if not addresses:
        return NONE
    if len(addresses) <= 2:
        return ",".join(addresses)
    return f"{addresses[0]} +{len(addresses) - 1}"


def trigger(record: RunRecord) -> str:
    """How the run started, with the spec.schedules entry that fired it: "Schedule/amer"."""
    entry = record.schedule_entry
    return f"{record.trigger.value}/{entry}" if entry else record.trigger.value


def receivers(record: RunRecord) -> str:
    """Who received the report: addresses, or a burst's counts ("burst 48/50 sent, 2 failed")."""
    bursts = [d.burst for d in record.deliveries if d.burst]
    if not bursts:
        return recipients(record.recipients)
    sent = sum(b.sent for b in bursts)
    total = sum(b.recipients for b in bursts)
    failed = sum(b.failed for b in bursts)
    return f"burst {sent}/{total} sent" + (f", {failed} failed" if failed else "")


def period(record: RunRecord, tz: ZoneInfo) -> str:
    """The reported period in the schedule's zone: 2026-10-01..2026-10-31, or local times when
    it does not start and end at midnight."""
    from bulletin.period import Period

    start, end = record.period_start, record.period_end
    if not start or not end:
        return NONE
    first, last = start.astimezone(tz), end.astimezone(tz)
    if first.time() == last.time() == time(0):
        return Period(first, last, first, first).label()
    return f"{first:%Y-%m-%d %H:%M}..{last:%Y-%m-%d %H:%M}"


def result(record: RunRecord) -> str:
    """The run's result, or Running while it has not ended."""
    if record.result is not None:
        return record.result.value
    return "Running" if not record.end_time else "Unknown"


def duration(record: RunRecord, now: datetime) -> str:
    """How long the run took (or has taken so far)."""
    end = record.end_time or now
    return human_duration((end - record.start_time).total_seconds())


HISTORY_HEADERS = ("RUN", "TRIGGER", "STARTED", "PERIOD", "RESULT", "DURATION", "ROWS",
                   "RECIPIENTS", "ERROR")


def history_row(r: RunRecord, tz: ZoneInfo, now: datetime) -> list[str]:
    """One run's row of the history table."""
    return [r.run_id, trigger(r), age(r.start_time, now), period(r, tz), result(r),
            duration(r, now), str(r.rows), receivers(r), truncate(r.message)]


def history_table(records: Sequence[RunRecord], tz: ZoneInfo, now: datetime) -> str:
    """status.history as a table, newest first."""
    return render(HISTORY_HEADERS, [history_row(r, tz, now) for r in records])


def runs_of(objs: Sequence[Mapping[str, Any]], limit: int | None
            ) -> list[tuple[Mapping[str, Any], RunRecord]]:
    """(schedule, run) of every schedule's status.history, newest first, at most ``limit``."""
    pairs = [(o, r) for o in objs for r in ReportScheduleStatus.of(o).history]
    pairs.sort(key=lambda p: (p[1].start_time, p[0]["metadata"]["name"]), reverse=True)
    return pairs[:limit]


def all_history_table(pairs: Sequence[tuple[Mapping[str, Any], RunRecord]],
                      now: datetime, namespace: bool) -> str:
    """The runs of several schedules, with a SCHEDULE column (and NAMESPACE with -A)."""
    headers = [*(["NAMESPACE"] if namespace else []), "SCHEDULE", *HISTORY_HEADERS]
    rows = [[*([o["metadata"].get("namespace", "")] if namespace else []),
             o["metadata"]["name"], *history_row(r, zone_of(o), now)] for o, r in pairs]
    return render(headers, rows)


def zone_of(obj: Mapping[str, Any]) -> ZoneInfo:
    """The zone of spec.schedule, or of the first spec.schedules entry (UTC when unset or
    unknown)."""
    spec = obj.get("spec") or {}
    entries = spec.get("schedules") or [{}]
    schedule: Mapping[str, Any] = spec.get("schedule") or entries[0]
    name = schedule.get("timeZone") or "UTC"
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError):
        return ZoneInfo("UTC")


