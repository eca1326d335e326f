"""Pure status bookkeeping for runs: bounded history, last run, failure streaks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bulletin.api.status import RunRecord, RunResult

_FAILURES = {RunResult.FAILED.value, RunResult.PARTIALLY_DELIVERED.value}


def _merged(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Delivery records of a run across its tries: a retried run must not forget what an
    earlier try sent (new records win per target; the rest are kept)."""
    fresh = {d.get("target"): d for d in new}
    kept = [fresh.pop(d.get("target"), d) for d in old]
    return [*kept, *fresh.values()]


def with_run(status: Mapping[str, Any], record: RunRecord, limit: int) -> dict[str, Any]:
    """Status fields after ``record``: it replaces an entry with the same run id, newest first."""
    entry = record.wire()
    previous_history = status.get("history") or []
    history = [h for h in previous_history if h.get("runId") != record.run_id]
    for old in previous_history:
        if old.get("runId") == record.run_id and old.get("deliveries"):
            entry["deliveries"] = _merged(old["deliveries"], entry.get("deliveries") or [])
    counted = any(h.get("runId") == record.run_id and h.get("result") for h in previous_history)
    history.append(entry)
    history.sort(key=lambda h: h.get("startTime") or "", reverse=True)
    history = history[:limit]
    latest = history[0]
    streak = int(status.get("consecutiveFailures") or 0)
    if record.result is RunResult.SUCCEEDED:
        streak = 0
    elif record.result is not None and record.result.value in _FAILURES and not counted:
        streak += 1
    update: dict[str, Any] = {"history": history, "lastRun": latest, "consecutiveFailures": streak}
    if record.result is RunResult.SUCCEEDED and entry.get("endTime"):
        previous = status.get("lastSuccessTime")
        update["lastSuccessTime"] = max(filter(None, [previous, entry["endTime"]]))
    return update
