"""Pure status logic for the operator: conditions per API conventions, and minimal patches."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from bulletin.api.base import rfc3339
from bulletin.api.history import consecutive_failures
from bulletin.api.status import Condition

READY = "Ready"
STALLED = "Stalled"
PAUSED = "Paused"


def condition(status: Mapping[str, Any], type_: str) -> Mapping[str, Any]:
    """The condition ``type_`` in ``status`` ({} when there is none, or the list is not one of
    conditions: status is written by runners too)."""
    conditions = status.get("conditions")
    return next((c for c in conditions if isinstance(c, Mapping) and c.get("type") == type_),
                {}) if isinstance(conditions, list) else {}


def stalled_as_recorded(status: Mapping[str, Any], *, generation: int, reason: str,
                        message: str | None = None) -> bool:
    """Whether ``status`` already says Stalled for ``generation`` with ``reason`` (and
    ``message``, when given): handling the same spec again would only repeat it."""
    cond = condition(status, STALLED)
    return (cond.get("status") == "True" and cond.get("observedGeneration") == generation
            and cond.get("reason") == reason and message in (None, cond.get("message")))


def pause_state(
    status: Mapping[str, Any], *, generation: int, limit: int
) -> tuple[bool, int]:
    """Whether runs are paused after too many failures, and the failure count to keep.

    A spec change (a generation not yet observed) resumes: it starts the count again.
    """
    failures = consecutive_failures(status)
    observed = status.get("observedGeneration")
    if observed is not None and observed != generation:
        failures = 0
    return limit > 0 and failures >= limit, failures


def set_condition(
    conditions: Sequence[Mapping[str, Any]],
    *,
    type_: str,
    status: bool,
    reason: str,
    message: str,
    generation: int,
    now: datetime,
) -> list[dict[str, Any]]:
    """Conditions with ``type_`` set; lastTransitionTime moves only when the status flips."""
    wanted = "True" if status else "False"
    old = next((c for c in conditions if c.get("type") == type_), {})
    since = old.get("lastTransitionTime") if old.get("status") == wanted else None
    new = Condition(type=type_, status=wanted, reason=reason, message=message,
                    last_transition_time=since or now, observed_generation=generation).wire()
    out = [dict(c) for c in conditions if c.get("type") != type_]
    at = next((i for i, c in enumerate(conditions) if c.get("type") == type_), len(out))
    return [*out[:at], new, *out[at:]]


def reconciled(
    old: Mapping[str, Any],
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
    """The status fields to patch after a reconcile; empty when nothing changed. ``error``
    with ``reason`` (InvalidSpec, NameConflict, Rejected, ReferenceNotUsable,
    CalendarNotUsable) is Stalled. ``time_zone`` is what status.timeZone shows."""
    conditions: Sequence[Mapping[str, Any]] = old.get("conditions") or []
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
    new = {
        "observedGeneration": generation,
        "conditions": conditions,
        "schedule": cron,
        "timeZone": time_zone,
        "cronJobName": cronjob,
        "nextRunTime": rfc3339(next_run) if next_run else None,
    }
    if failures == 0 and old.get("consecutiveFailures"):
        new["consecutiveFailures"] = 0  # a spec change resets the count; runs own it otherwise
    return {key: value for key, value in new.items() if old.get(key) != value}
