"""Pure status logic for the operator: conditions per API conventions, and minimal patches."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bulletin.api.status import Condition, ReportScheduleStatus

READY = "Ready"
STALLED = "Stalled"
PAUSED = "Paused"
# What pause_state and the Paused condition read: all a watch filter needs to parse.
PAUSE_FIELDS = ("consecutive_failures", "observed_generation", "conditions")


def stalled_as_recorded(status: ReportScheduleStatus, *, generation: int, reason: str,
                        message: str | None = None) -> bool:
    """Whether ``status`` already says Stalled for ``generation`` with ``reason`` (and
    ``message``, when given): handling the same spec again would only repeat it."""
    cond = status.condition(STALLED)
    return (cond is not None and cond.status == "True" and cond.observed_generation == generation
            and cond.reason == reason and message in (None, cond.message))


def pause_state(
    status: ReportScheduleStatus, *, generation: int, limit: int
) -> tuple[bool, int]:
    """Whether runs are paused after too many failures, and the failure count to keep.

    A spec change (a generation not yet observed) resumes: it starts the count again.
    """
    failures = status.consecutive_failures
    observed = status.observed_generation
    if observed is not None and observed != generation:
        failures = 0
    return limit > 0 and failures >= limit, failures


def set_condition(
    conditions: list[Condition],
    *,
    type_: str,
    status: bool,
    reason: str,
    message: str,
    generation: int,
    now: datetime,
) -> list[Condition]:
    """Conditions with ``type_`` set; lastTransitionTime moves only when the status flips."""
    wanted = "True" if status else "False"
    old = next((c for c in conditions if c.type == type_), None)
    since = old.last_transition_time if old is not None and old.status == wanted else None
    new = Condition(type=type_, status=wanted, reason=reason, message=message,
                    last_transition_time=since or now, observed_generation=generation)
    out = [c for c in conditions if c.type != type_]
    at = next((i for i, c in enumerate(conditions) if c.type == type_), len(out))
    return [*out[:at], new, *out[at:]]


def reconciled(
    old: ReportScheduleStatus,
    *,
    generation: int,
    error: str | None,
    cron: str | None,
    cronjob: str | None,
    next_run: datetime | None,
    now: datetime,
    paused: bool = False,
    failures: int = 0,
    reason: str = "InvalidSpec",
    time_zone: str | None = None,
) -> dict[str, Any]:
    """The status fields to patch after a reconcile (wire form); empty when nothing changed.
    ``error`` with ``reason`` (InvalidSpec, NameConflict, Rejected, ReferenceNotUsable,
    CalendarNotUsable) is Stalled. ``time_zone`` is what status.timeZone shows."""
    conditions = old.conditions
    pause_message = (f"{failures} runs failed in a row; scheduled runs are paused. A successful"
                     " run now (kubectl bulletin run) or a spec change resumes them.")
    if error is None and paused:
        # Not ready and stalled, as GitOps tools read it (kstatus: Failed; Argo CD: Degraded).
        conditions = set_condition(conditions, type_=READY, status=False, reason="Paused",
                                   message=pause_message, generation=generation, now=now)
        conditions = set_condition(conditions, type_=STALLED, status=True, reason="Paused",
                                   message=pause_message, generation=generation, now=now)
    elif error is None:
        conditions = set_condition(conditions, type_=READY, status=True, reason="CronJobReady",
                                   message=f"CronJob {cronjob} runs {cron!r}",
                                   generation=generation, now=now)
        conditions = set_condition(conditions, type_=STALLED, status=False, reason="SpecValid",
                                   message="", generation=generation, now=now)
    else:
        conditions = set_condition(conditions, type_=READY, status=False, reason=reason,
                                   message=error, generation=generation, now=now)
        conditions = set_condition(conditions, type_=STALLED, status=True, reason=reason,
                                   message=error, generation=generation, now=now)
    conditions = set_condition(
        conditions, type_=PAUSED, status=paused,
        reason="TooManyFailures" if paused else "Running",
        message=pause_message if paused else "", generation=generation, now=now)
    new = old.model_copy(update={
        "observed_generation": generation, "conditions": conditions, "schedule": cron,
        "time_zone": time_zone, "cron_job_name": cronjob, "next_run_time": next_run})
    fields = {"observed_generation", "conditions", "schedule", "time_zone", "cron_job_name",
              "next_run_time"}
    if failures == 0 and old.consecutive_failures:
        new.consecutive_failures = 0  # a spec change resets the count; runs own it otherwise
        fields.add("consecutive_failures")
    before, after = _wire(old, fields), _wire(new, fields)
    return {key: value for key, value in after.items() if before.get(key) != value}


def _wire(status: ReportScheduleStatus, fields: set[str]) -> dict[str, Any]:
    """``fields`` of status in wire form, unset ones as None (a merge patch's delete), but
    none inside a condition."""
    lists = {"conditions"} & fields
    return {**status.model_dump(by_alias=True, mode="json", include=fields - lists),
            **status.model_dump(by_alias=True, mode="json", include=lists, exclude_none=True)}
