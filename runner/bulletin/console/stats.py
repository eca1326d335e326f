"""Run statistics from status history: success rate, durations, rows and bytes per schedule
and per namespace over the last N days (pure: ``now`` is given)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median
from typing import Any

from bulletin.api.status import ReportScheduleStatus, RunRecord, RunResult

WINDOWS = (7, 30, 90)
FAILED = {RunResult.FAILED, RunResult.PARTIALLY_DELIVERED}


@dataclass(frozen=True)
class Run:
    """One run of one schedule."""

    namespace: str
    schedule: str
    record: RunRecord


@dataclass(frozen=True)
class Stats:
    """Figures of a group of runs (a schedule, or a namespace)."""

    key: str
    runs: int
    succeeded: int
    failed: int
    skipped: int
    median_seconds: float | None
    max_seconds: float | None
    rows: int
    bytes: int

    @property
    def success_rate(self) -> float | None:
        """Succeeded over runs that succeeded or failed (skipped runs do not count)."""
        decided = self.succeeded + self.failed
        return self.succeeded / decided if decided else None


def records(obj: Mapping[str, Any]) -> list[RunRecord]:
    """A ReportSchedule's status.history as models (entries that do not parse are left out)."""
    return ReportScheduleStatus.of(obj, only=("history",)).history


def runs_of(objs: Iterable[Mapping[str, Any]]) -> list[Run]:
    """Every run in the history of ``objs``."""
    return [Run(o["metadata"].get("namespace", ""), o["metadata"]["name"], r)
            for o in objs for r in records(o)]


def archived_runs(archive: Any, objs: Iterable[Mapping[str, Any]], now: datetime,
                  days: int) -> list[Run]:
    """The runs of ``objs`` (the schedules the user may list) in the run archive, started in
    the ``days`` days before ``now``: every run, not only the status window's."""
    visible = {(o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in objs}
    if not visible:
        return []
    found = archive.figures(sorted({ns for ns, _ in visible}), now - timedelta(days=days))
    return [Run(ns, name, record) for ns, name, record in found if (ns, name) in visible]


def seconds(record: RunRecord) -> float | None:
    """How long an ended run took."""
    if record.end_time is None:
        return None
    return (record.end_time - record.start_time).total_seconds()


def summarize(key: str, runs: Sequence[Run]) -> Stats:
    """The figures of ``runs``."""
    results = [r.record.result for r in runs]
    durations = [s for r in runs if (s := seconds(r.record)) is not None]
    return Stats(key=key, runs=len(runs),
                 succeeded=results.count(RunResult.SUCCEEDED),
                 failed=sum(1 for x in results if x in FAILED),
                 skipped=results.count(RunResult.SKIPPED),
                 median_seconds=median(durations) if durations else None,
                 max_seconds=max(durations) if durations else None,
                 rows=sum(r.record.rows for r in runs),
                 bytes=sum(r.record.bytes for r in runs))


def within(runs: Iterable[Run], now: datetime, days: int) -> list[Run]:
    """The runs that started in the ``days`` days before ``now``."""
    since = now - timedelta(days=days)
    return [r for r in runs if since <= r.record.start_time <= now]


def grouped(runs: Sequence[Run], by_namespace: bool) -> list[Stats]:
    """Figures per schedule ("namespace/name") or per namespace, sorted by key."""
    groups: dict[str, list[Run]] = {}
    for run in runs:
        key = run.namespace if by_namespace else f"{run.namespace}/{run.schedule}"
        groups.setdefault(key, []).append(run)
    return [summarize(key, groups[key]) for key in sorted(groups)]


def oldest(runs: Sequence[Run]) -> datetime | None:
    """When the oldest run kept started: how far back the status window reaches."""
    return min((r.record.start_time for r in runs), default=None)


def percent(rate: float | None) -> str:
    """A success rate as "97.5%", or an em dash when there were no runs to count."""
    return "\u2014" if rate is None else f"{rate * 100:.1f}%"


def size(count: int) -> str:
    """Bytes as 512 B, 2.0 KiB, 3.4 MiB, 1.2 GiB."""
    value, unit = float(count), "B"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            break
        value /= 1024
    return f"{count} B" if unit == "B" else f"{value:.1f} {unit}"
