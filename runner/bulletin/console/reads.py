"""The console's reads, each made as the requesting user: schedules (across the namespaces
they may read), one schedule's Events, next runs and days off."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from bulletin.plugin.kube import KubeSession

EVENTS_SHOWN = 20
DAYS_OFF_SHOWN = 10
T = TypeVar("T")


def status_code(exc: BaseException) -> int | None:
    """The HTTP status of an API error (either client's), else None."""
    code = getattr(exc, "status", None)
    return code if isinstance(code, int) else None


def api_errors() -> tuple[type[BaseException], ...]:
    """The exception classes the API clients raise for an error status."""
    from kubernetes.client.exceptions import ApiException

    from bulletin.plugin.rest import RestError

    return (ApiException, RestError)


@dataclass(frozen=True)
class Listing:
    """Schedules found, and the namespaces the user may not list."""

    items: list[dict[str, Any]]
    denied: list[str]


def schedules(kube: KubeSession, namespaces: Sequence[str], selector: str | None) -> Listing:
    """The ReportSchedules of ``namespaces`` (as ``scoped`` reads them)."""
    found, denied = scoped(kube, namespaces, lambda k, every: k.list(every, selector))
    return Listing([obj for _, items in found for obj in items], denied)


def scoped(kube: KubeSession, namespaces: Sequence[str],
           read: Callable[[KubeSession, bool], T]) -> tuple[list[tuple[str | None, T]], list[str]]:
    """``read`` (a client, cluster-wide?) of every namespace (scope None) when ``namespaces``
    is empty and the user may list cluster-wide, else of each of ``namespaces`` (the client's
    own when empty) the user may list; and the namespaces they may not."""
    if not namespaces:
        try:
            return [(None, read(kube, True))], []
        except api_errors() as exc:
            if status_code(exc) != 403:
                raise
            namespaces = [kube.namespace]
    found: list[tuple[str | None, T]] = []
    denied: list[str] = []
    for namespace in dict.fromkeys(namespaces):
        try:
            found.append((namespace, read(replace(kube, namespace=namespace), False)))
        except api_errors() as exc:
            if status_code(exc) != 403:
                raise
            denied.append(namespace)
    return found, denied


@dataclass(frozen=True)
class EventLine:
    """One Event of a schedule, newest first."""

    when: str
    type: str
    reason: str
    message: str
    count: int


def events(kube: KubeSession, name: str) -> list[EventLine] | None:
    """The schedule's recent Events, or None when the user may not read Events."""
    try:
        found = kube.core.list_namespaced_event(
            kube.namespace, field_selector=f"involvedObject.name={name},"
            "involvedObject.kind=ReportSchedule").items
    except api_errors() as exc:
        if status_code(exc) != 403:
            raise
        return None

    def stamp(e: Any) -> datetime | None:
        return e.last_timestamp or e.event_time or e.metadata.creation_timestamp

    found.sort(key=lambda e: s.timestamp() if (s := stamp(e)) else 0.0, reverse=True)
    return [EventLine(when=(s.isoformat(timespec="seconds") if (s := stamp(e)) else ""),
                      type=str(e.type or ""), reason=str(e.reason or ""),
                      message=str(e.message or ""), count=int(e.count or 1))
            for e in found[:EVENTS_SHOWN]]


@dataclass(frozen=True)
class Upcoming:
    """The next runs (local time, entry, UTC), the days off among them, or why none."""

    runs: list[tuple[str, str, str]]
    days_off: list[str]
    error: str | None = None


def days_off_between(calendars: Mapping[str, Any], skip: Sequence[str], first: date,
                     last: date) -> list[str]:
    """Why the days from ``first`` to ``last`` are off: skipDates, then each calendar's
    reason, day by day (at most DAYS_OFF_SHOWN)."""
    found: list[str] = [f"{d} is in skipDates" for d in sorted(skip)
                        if first.isoformat() <= d <= last.isoformat()]
    day = first
    while day <= last and len(found) < DAYS_OFF_SHOWN:
        for calendar in calendars.values():
            if (why := calendar.reason(day)) is not None:
                found.append(why)
        day += timedelta(days=1)
    return found[:DAYS_OFF_SHOWN]


def upcoming(kube: KubeSession, obj: Mapping[str, Any], now: datetime, count: int = 5) -> Upcoming:
    """The next ``count`` runs from the schedule math the operator uses, with the days off
    (skipDates, ReportCalendars) the schedule skips on the way."""
    from bulletin.api.calendar import CalendarError
    from bulletin.plugin.commands import days_off
    from bulletin.plugin.nextruns import rule_for
    from bulletin.plugin.nextruns import upcoming as next_of
    from bulletin.schedule import ScheduleError

    try:
        calendars = days_off(kube, obj)
        timing = rule_for(obj, now, calendars)
    except (ScheduleError, CalendarError) as exc:
        return Upcoming([], [], str(exc))
    except api_errors() as exc:
        return Upcoming([], [], f"cannot read its ReportCalendar (HTTP {status_code(exc)})")
    runs = next_of(timing, now, count)
    if not runs:
        return Upcoming([], [], "no run in the next five years")
    skip = [d for e in timing.entries for d in e.schedule.skip_dates]
    first, last = runs[0].local.date(), runs[-1].local.date()
    return Upcoming([(f"{r.local:%Y-%m-%d %a %H:%M %Z}", r.entry or "",
                      f"{r.utc:%Y-%m-%d %H:%M}Z") for r in runs],
                    days_off_between(calendars, skip, min(first, now.date()), last))
