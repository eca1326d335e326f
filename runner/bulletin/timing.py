"""All the schedules of a ReportSchedule: spec.schedule, or each entry of spec.schedules.

Each entry compiles on its own (bulletin.schedule: its time zone, DST resolution, stagger,
calendar rules) into its own CronJob; the next run of the ReportSchedule is the earliest
next run of any entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from bulletin.api.calendar import DaysOff
from bulletin.api.schedule import Schedule
from bulletin.api.spec import ReportScheduleSpec
from bulletin.schedule import Rule, ScheduleError, compile_rule

ZONES_SHOWN = 3  # status.timeZone, a kubectl get column, names at most this many zones


@dataclass(frozen=True)
class Entry:
    """One compiled schedule; ``name`` is None for spec.schedule."""

    name: str | None
    schedule: Schedule
    rule: Rule


@dataclass(frozen=True)
class Timing:
    """The compiled schedules of one ReportSchedule, in spec order."""

    entries: tuple[Entry, ...]

    @property
    def single(self) -> bool:
        """Whether this is spec.schedule (one unnamed entry)."""
        return len(self.entries) == 1 and self.entries[0].name is None

    @property
    def cronjob(self) -> str:
        """The CronJob schedule as status.schedule shows it: the cron of spec.schedule, or
        "name: cron (time zone)" for each entry."""
        if self.single:
            return self.entries[0].rule.cronjob
        return "; ".join(f"{e.name}: {e.rule.cronjob} ({e.schedule.time_zone})"
                         for e in self.entries)

    @property
    def time_zone(self) -> str:
        """The zone as status.timeZone shows it: each entry's zone once, in spec order, or
        "several (N)" for more than ZONES_SHOWN."""
        zones = list(dict.fromkeys(e.schedule.time_zone for e in self.entries))
        return ",".join(zones) if len(zones) <= ZONES_SHOWN else f"several ({len(zones)})"

    def crons(self) -> str | dict[str, str]:
        """What the CronJob builders take: the cron of spec.schedule, or entry name -> cron."""
        if self.single:
            return self.entries[0].rule.cronjob
        return {str(e.name): e.rule.cronjob for e in self.entries}

    def next_run(self, after: datetime) -> datetime | None:
        """The first intended instant of any entry strictly after ``after``."""
        found = [t for e in self.entries if (t := e.rule.next_run(after)) is not None]
        return min(found, default=None)


def _days_off(schedule: Schedule, calendars: Mapping[str, DaysOff] | None) -> DaysOff | None:
    ref = schedule.calendar_ref
    return None if ref is None or calendars is None else calendars.get(ref.name)


def compile_timing(spec: ReportScheduleSpec, key: str, now: datetime,
                   calendars: Mapping[str, DaysOff] | None = None) -> Timing:
    """Compile every schedule of ``spec`` for ``key`` (namespace/name), or ScheduleError
    naming the entry. Every entry staggers by the same ``key``; ``calendars`` (by name) are
    the ReportCalendars whose days off the entries naming them skip, when read."""
    if spec.schedules is None:
        rule = compile_rule(spec.schedule, key, now, _days_off(spec.schedule, calendars))
        return Timing((Entry(None, spec.schedule, rule),))
    entries = []
    for n, entry in enumerate(spec.schedules):
        try:
            rule = compile_rule(entry, key, now, _days_off(entry, calendars))
        except ScheduleError as exc:
            raise ScheduleError(str(exc).replace("spec.schedule", f"spec.schedules[{n}]", 1)
                                ) from exc
        entries.append(Entry(entry.name, entry, rule))
    return Timing(tuple(entries))
