"""Pure status bookkeeping for runs: bounded history, last run, failure streaks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bulletin.api.status import RunRecord, RunResult

_FAILURES = {RunResult.FAILED.value, RunResult.PARTIALLY_DELIVERED.value}


def with_run(status: Mapping[str, Any], record: RunRecord, limit: int) -> dict[str, Any]:
    """Status fields after ``record``: it replaces an entry with the same run id, newest first."""
    entry = record.wire()
    previous_history = status.get("history") or []
    history = [h for h in previous_history if h.get("runId") != record.run_id]
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
