"""catchUp: All: the runs missed since the last scheduled run, run once each, oldest first.

Kubernetes starts at most the latest missed firing of a CronJob, so the runner of a scheduled
firing works out what else was missed: the run times the schedule means between the newest
scheduled run in status.history (or the schedule's creation) and this firing. Each runs with
the run id the CronJob would have given it, so a retried Job never repeats a recorded one, and
is recorded as a CatchUp run however late it starts.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bulletin.api.names import scheduled_minute
from bulletin.api.schedule import CatchUp
from bulletin.api.spec import ReportScheduleSpec
from bulletin.api.status import ReportScheduleStatus, Trigger
from bulletin.schedule import Rule, compile_rule

if TYPE_CHECKING:
    from bulletin.api.calendar import DaysOff
    from bulletin.api.client import Kube
    from bulletin.context import RunContext

log = logging.getLogger("bulletin.runner")
_LOOKBACK = [timedelta(days=2), timedelta(days=40), timedelta(days=400), timedelta(days=4 * 366)]


@dataclass(frozen=True)
class CatchUpPlan:
    """Missed run times to run (oldest first), and those left out beyond the bound."""

    missed: tuple[datetime, ...]
    dropped: tuple[datetime, ...] = ()
    more_dropped: bool = False  # even older missed runs exist beyond the look-back

    def dropped_text(self, limit: int) -> str | None:
        """The Event message about left-out runs, or None when none were."""
        if not self.dropped:
            return None
        count = f"{'more than ' if self.more_dropped else ''}{len(self.dropped)}"
        return (f"{count} missed run(s) from {self.dropped[0]:%Y-%m-%d %H:%M}Z to"
                f" {self.dropped[-1]:%Y-%m-%d %H:%M}Z were not run: maxCatchUp {limit} runs"
                " the newest only; backfill the others with `kubectl bulletin run NAME"
                " --period ...`")


def plan(rule: Rule, since: datetime, current: datetime, limit: int) -> CatchUpPlan:
    """The run times ``rule`` means strictly after ``since`` and before ``current``: the newest
    ``limit`` to run, oldest first, and the older ones left out."""
    start = since.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    current = current.astimezone(UTC)
    found: list[datetime] = []
    window_start = start
    for lookback in _LOOKBACK:
        window_start = max(start, current - lookback)
        found = list(rule.instants(window_start, current))
        if len(found) > limit or window_start == start:
            break
    keep = found[-limit:] if found else []
    return CatchUpPlan(missed=tuple(keep), dropped=tuple(found[: len(found) - len(keep)]),
                       more_dropped=window_start > start and len(found) > limit)


def last_scheduled(status: ReportScheduleStatus, run_id: str, before: datetime,
                   entry: str | None = None) -> datetime | None:
    """The newest scheduled time of a run in history other than ``run_id``, before ``before``,
    of the same spec.schedules ``entry`` (each entry catches up its own runs)."""
    times = [h.scheduled_time for h in status.history
             if h.scheduled_time and h.run_id != run_id and h.schedule_entry == entry]
    earlier = [t for t in times if t < before]
    return max(earlier) if earlier else None


def missed_runs(ctx: RunContext, obj: Mapping[str, Any], spec: ReportScheduleSpec,
                days_off: DaysOff | None, kube: Kube) -> list[RunContext]:
    """The contexts of the missed runs to run before this scheduled one (catchUp: All), each
    with trigger CatchUp; posts a CatchUpLimited Event when maxCatchUp leaves some out."""
    current = ctx.scheduled_time
    if (spec.catch_up is not CatchUp.ALL or ctx.trigger is not Trigger.SCHEDULED
            or current is None or (cronjob := scheduled_minute(ctx.run_id)) is None):
        return []
    since = last_scheduled(ReportScheduleStatus.of(obj), ctx.run_id, current, ctx.entry)
    if since is None:
        since = datetime.fromisoformat(obj["metadata"]["creationTimestamp"])
    rule = compile_rule(spec.schedule, f"{ctx.namespace}/{ctx.schedule}", current, days_off)
    found = plan(rule, since, current, spec.max_catch_up)
    if message := found.dropped_text(spec.max_catch_up):
        log.warning("%s", message)
        kube.event(obj, warning=True, reason="CatchUpLimited", message=message)
    return [replace(ctx, run_id=f"{cronjob[0]}-{int(t.timestamp()) // 60}", scheduled_time=t,
                    trigger=Trigger.CATCH_UP) for t in found.missed]
