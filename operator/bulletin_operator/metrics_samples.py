"""Pure functions from a ReportSchedule's spec and status to its metric samples
(docs: /metrics in the README's "Operating Bulletin"; names fixed with the chart's alerts).

Every per-schedule series carries the labels namespace and name first; a Sample holds the
values of the labels after those two. Nothing here reads the clock: the interval is measured
from status.nextRunTime, so the same snapshot always gives the same samples.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from datetime import datetime
from typing import Any, NamedTuple

from bulletin.api.schedule import Schedule
from bulletin.api.status import ReportScheduleStatus, RunRecord, RunResult
from bulletin.schedule import compile_rule
from pydantic import ValidationError

PREFIX = "bulletin_report_"
RESULTS = tuple(r.value for r in RunResult)
# Metric name (without PREFIX) -> (help text, label names after namespace and name).
GAUGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "info": ("The schedule: its cron expression (status.schedule) and time zone; always 1.",
             ("schedule", "timezone")),
    "ready": ("1 if the Ready condition is True, else 0.", ()),
    "paused": ("1 if scheduled runs are paused (spec.suspend, or after failures), else 0.", ()),
    "last_run_result": ("The last ended run's result, one-hot over " + "|".join(RESULTS)
                        + "; absent before any run ended.", ("result",)),
    "last_run_timestamp_seconds": ("When the last ended run started (unix seconds).", ()),
    "last_run_duration_seconds": ("How long the last ended run took.", ()),
    "last_run_rows": ("Data rows in the last ended run's report.", ()),
    "last_run_bytes": ("Size of the last ended run's report files.", ()),
    "last_success_timestamp_seconds": ("status.lastSuccessTime (unix seconds); absent if the"
                                       " schedule never succeeded.", ()),
    "consecutive_failures": ("Failed runs since the last success.", ()),
    "next_run_timestamp_seconds": ("status.nextRunTime (unix seconds); absent if none.", ()),
    "interval_seconds": ("Seconds between the next two firings of the schedule.", ()),
}

# The full names, one string each, shared by every schedule's samples.
NAMES = {key: PREFIX + key for key in GAUGES}


class Sample(NamedTuple):
    """One per-schedule series: full metric name, the label values after (namespace, name)."""

    metric: str
    labels: tuple[str, ...]
    value: float


class EndedRun(NamedTuple):
    """A run seen ended, for the runs counter and the duration histogram."""

    result: str
    trigger: str
    duration: float | None


def timestamp(value: datetime | None) -> float | None:
    """A status timestamp as unix seconds (None when unset)."""
    return value.timestamp() if value is not None else None


def last_ended(status: ReportScheduleStatus) -> RunRecord | None:
    """The newest run that has ended: lastRun, or while it runs, the newest ended in history
    (so a retry in progress does not hide the failure before it)."""
    return next((e for e in status.runs() if e.end_time and e.result), None)


def _duration(entry: RunRecord) -> float | None:
    if entry.end_time is None:
        return None
    return max((entry.end_time - entry.start_time).total_seconds(), 0.0)


def _condition_true(status: ReportScheduleStatus, type_: str) -> bool:
    return status.condition_status(type_) == "True"


def depends_on_name(schedule: Mapping[str, Any]) -> bool:
    """Whether the schedule's firings depend on namespace/name (an "H" minute, or a stagger),
    so its interval cannot be shared with other schedules'."""
    return bool(schedule.get("staggerMinutes")) or str(schedule.get("cron") or "").startswith("H")


def interval_seconds(namespace: str, name: str, schedule: Mapping[str, Any],
                     next_run: datetime | None) -> float | None:
    """Seconds from status.nextRunTime to the firing after it, by the schedule's own rule
    (time zone, presets, skipped dates); None without a next run or with an invalid schedule."""
    if next_run is None:
        return None
    start, anchor = next_run, next_run.timestamp()
    try:
        rule = compile_rule(Schedule.model_validate(dict(schedule)), f"{namespace}/{name}", start)
    except (ValidationError, ValueError):
        return None
    following = rule.next_run(start)
    return following.timestamp() - anchor if following is not None else None


def schedule_samples(spec: Mapping[str, Any], status: ReportScheduleStatus,
                     interval: float | None) -> tuple[Sample, ...]:
    """The per-schedule series of one snapshot (``interval`` from interval_seconds)."""
    entries = spec.get("schedules") or [spec.get("schedule") or {}]  # each with its zone
    zone = ",".join(dict.fromkeys(str(e.get("timeZone") or "UTC") if isinstance(e, Mapping)
                                  else "UTC" for e in entries))
    paused = bool(spec.get("suspend")) or _condition_true(status, "Paused")
    out = [
        Sample(NAMES["info"], (status.schedule or "", zone), 1.0),
        Sample(NAMES["ready"], (), float(_condition_true(status, "Ready"))),
        Sample(NAMES["paused"], (), float(paused)),
        Sample(NAMES["consecutive_failures"], (), float(status.consecutive_failures)),
    ]
    last = last_ended(status)
    if last is not None:
        out += [Sample(NAMES["last_run_result"], (r,), float(last.result == r))
                for r in RESULTS]
        out += [Sample(NAMES["last_run_rows"], (), float(last.rows)),
                Sample(NAMES["last_run_bytes"], (), float(last.bytes))]
        optional = {"last_run_timestamp_seconds": last.start_time.timestamp(),
                    "last_run_duration_seconds": _duration(last)}
    else:
        optional = {}
    optional["last_success_timestamp_seconds"] = timestamp(status.last_success_time)
    optional["next_run_timestamp_seconds"] = timestamp(status.next_run_time)
    optional["interval_seconds"] = interval
    out += [Sample(NAMES[k], (), v) for k, v in optional.items() if v is not None]
    return tuple(out)


def ended_runs(status: ReportScheduleStatus) -> dict[str, EndedRun]:
    """The runs status shows as ended, by run id."""
    return {e.run_id: EndedRun(e.result.value if e.result else "Unknown", e.trigger.value,
                               _duration(e))
            for e in reversed(status.runs()) if e.run_id and e.end_time}


def newly_ended(status: ReportScheduleStatus, seen: Set[str] | None
                ) -> tuple[list[EndedRun], frozenset[str]]:
    """Runs ended since ``seen`` (the ids ended at the previous snapshot; None: this is the
    first snapshot, whose runs ended before we watched and are not counted), and the new
    ``seen``."""
    ended = ended_runs(status)
    fresh = [] if seen is None else [run for key, run in ended.items() if key not in seen]
    return fresh, frozenset(ended)
