"""Pure formatting of `kubectl bulletin status`: one get-style row per ReportSchedule."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from bulletin.api.status import ReportScheduleStatus
from bulletin.plugin.tables import NONE, age, render, result, until

HEADERS = ("NAME", "SCHEDULE", "READY", "LAST RESULT", "LAST RUN", "NEXT RUN", "FAILURES", "AGE")
WIDE = ("TIMEZONE", "SUSPENDED", "CRONJOB", "LAST SUCCESS")


def schedule_text(schedule: Mapping[str, Any]) -> str:
    """spec.schedule in a few words: the cron, or "weekly MON,THU 09:00", "monthly last 18:00"."""
    if schedule.get("cron"):
        text = str(schedule["cron"])
    elif daily := schedule.get("daily"):
        text = f"daily {daily.get('at')}"
    elif weekly := schedule.get("weekly"):
        text = f"weekly {','.join(weekly.get('days') or [])} {weekly.get('at')}"
    elif monthly := schedule.get("monthly"):
        if monthly.get("weekday"):
            day = f"{monthly.get('occurrence')} {monthly['weekday']}"
        else:
            day = "last" if monthly.get("lastDay") else str(monthly.get("day") or 1)
        text = f"monthly {day} {monthly.get('at')}"
    else:
        return NONE
    return text + (" weekdays" if schedule.get("weekdaysOnly") else "")


def schedules_text(spec: Mapping[str, Any]) -> str:
    """spec.schedule, or each spec.schedules entry as "name: text", in a few words."""
    entries = spec.get("schedules")
    if not entries:
        return schedule_text(spec.get("schedule") or {})
    return "; ".join(f"{e.get('name')}: {schedule_text(e)}" for e in entries)


def zones_text(spec: Mapping[str, Any]) -> str:
    """The time zone of spec.schedule, or of each spec.schedules entry."""
    entries = spec.get("schedules") or [spec.get("schedule") or {}]
    return ",".join(dict.fromkeys(str(e.get("timeZone") or "UTC") for e in entries))


def next_run(spec: Mapping[str, Any], status: ReportScheduleStatus, now: datetime) -> str:
    """When the next scheduled run is due, or why there is none."""
    if spec.get("suspend"):
        return "<suspended>"
    if status.condition_status("Paused") == "True":
        return "<paused>"
    return until(status.next_run_time, now)


def row(obj: Mapping[str, Any], now: datetime, *, namespace: bool, wide: bool) -> list[str]:
    """One schedule's cells."""
    meta, spec, status = obj["metadata"], obj.get("spec") or {}, ReportScheduleStatus.of(obj)
    last = status.last_run
    cells = [meta["name"], schedules_text(spec),
             status.condition_status("Ready") or "Unknown", result(last) if last else NONE,
             age(last.start_time if last else None, now), next_run(spec, status, now),
             str(status.consecutive_failures), age(meta.get("creationTimestamp"), now)]
    if namespace:
        cells.insert(0, meta.get("namespace", ""))
    if wide:
        cells += [zones_text(spec),
                  str(bool(spec.get("suspend"))).lower(), status.cron_job_name or NONE,
                  age(status.last_success_time, now)]
    return cells


def status_table(objs: Sequence[Mapping[str, Any]], now: datetime, *, namespace: bool = False,
                 wide: bool = False) -> str:
    """The get-style table of ``objs`` (sorted by namespace and name)."""
    headers = [*(["NAMESPACE"] if namespace else []), *HEADERS, *(WIDE if wide else [])]
    ordered = sorted(objs, key=lambda o: (o["metadata"].get("namespace", ""),
                                          o["metadata"]["name"]))
    return render(headers, [row(o, now, namespace=namespace, wide=wide) for o in ordered])
