"""Runs that died without recording themselves: a Job that failed before its runner could
write status (the pod could not start, was OOM-killed, or ran past its deadline)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bulletin.api import podenv
from bulletin.api.status import RunRecord, RunResult, Trigger


@dataclass(frozen=True)
class FailedRun:
    """A failed Job of a ReportSchedule, and why, from the Job and its pods."""

    schedule: str
    record: RunRecord


def job_condition(job: Mapping[str, Any], *types: str) -> Mapping[str, Any] | None:
    """The first True condition of one of ``types`` (Complete, Failed) in a Job's status: the
    one place that reads a Job's (not a ReportSchedule's) conditions."""
    conditions = (job.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") in types and c.get("status") == "True"),
                None)


def _env(job: Mapping[str, Any], name: str) -> str | None:
    containers = job["spec"]["template"]["spec"].get("containers") or []
    return podenv.value_in(containers[0].get("env") or [], name) if containers else None


def _pod_reason(pod: Mapping[str, Any]) -> str | None:
    status = pod.get("status") or {}
    for container in status.get("containerStatuses") or []:
        state = container.get("state") or {}
        for key in ("terminated", "waiting"):
            detail = state.get(key)
            if detail and (detail.get("reason") or detail.get("message")):
                parts = [detail.get("reason"), detail.get("message"),
                         f"exit code {detail['exitCode']}" if "exitCode" in detail else None]
                return ": ".join(str(p).strip() for p in parts if p)
    if status.get("reason") or status.get("message"):
        return ": ".join(str(p) for p in (status.get("reason"), status.get("message")) if p)
    return None


def failed_run(job: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]) -> FailedRun | None:
    """The run to record for a failed Job of ours, or None (not failed, or not ours)."""
    schedule = _env(job, podenv.SCHEDULE)
    failed = job_condition(job, "Failed")
    if schedule is None or failed is None:
        return None
    newest = sorted(pods, key=lambda p: p["metadata"].get("creationTimestamp") or "")
    reasons = [r for r in (_pod_reason(p) for p in newest[-1:]) if r]
    message = f"the run's Job failed ({failed.get('reason')}: {failed.get('message')})"
    if reasons:
        message += f"; its last pod: {reasons[0]}"
    status = job.get("status") or {}
    started = status.get("startTime") or job["metadata"].get("creationTimestamp")
    trigger = Trigger.MANUAL if _env(job, podenv.TRIGGER) == podenv.MANUAL else Trigger.SCHEDULED
    record = RunRecord(
        run_id=job["metadata"]["name"], trigger=trigger,
        start_time=datetime.fromisoformat(started) if started else datetime.now(UTC),
        end_time=datetime.fromisoformat(failed.get("lastTransitionTime") or started)
        if (failed.get("lastTransitionTime") or started) else None,
        result=RunResult.FAILED, message=message[:4000],
        schedule_entry=_env(job, podenv.SCHEDULE_ENTRY))
    return FailedRun(schedule=schedule, record=record)
