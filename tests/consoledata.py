"""ReportSchedules with a run history, as the console's browser test and benchmark show them:
status written directly (as the operator and runner would), times relative to now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from kubernetes import client
from support import report_schedule

G, V, P = "bulletin.dev", "v1alpha1", "reportschedules"


def stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def run(name: str, n: int, start: datetime, result: str, rows: int, seconds: int,
        message: str | None = None) -> dict[str, Any]:
    """One history entry with an email delivery (and an archive one when it succeeded)."""
    delivered = result in ("Succeeded", "PartiallyDelivered")
    deliveries = [{"target": "email", "state": "Sent" if delivered else "Pending",
                   "recipients": ["team@example.com"] if delivered else [],
                   "attempts": 1, "lastAttemptTime": stamp(start)}]
    if result == "PartiallyDelivered":
        deliveries.append({"target": "webhook/crm", "state": "Failed", "attempts": 3,
                           "error": "HTTP 503 from hooks.example.com after 3 attempts"})
    entry: dict[str, Any] = {
        "runId": f"{name}-{n:05d}", "trigger": "Scheduled", "scheduledTime": stamp(start),
        "startTime": stamp(start), "endTime": stamp(start + timedelta(seconds=seconds)),
        "periodStart": stamp(start - timedelta(days=7)), "periodEnd": stamp(start),
        "result": result, "rows": rows, "bytes": rows * 120 if delivered else 0,
        "recipients": ["team@example.com"] if delivered else [], "deliveries": deliveries}
    if message:
        entry["message"] = message
    return entry


RESULTS = ("Succeeded", "Succeeded", "Failed", "Succeeded", "PartiallyDelivered", "Succeeded",
           "Skipped", "Succeeded", "Succeeded", "Succeeded")
MESSAGES = {"Failed": "query failed: relation \"sales\" does not exist (hint: check the"
                      " dataset's query and the database the Secret points to)",
            "PartiallyDelivered": "webhook/crm failed: HTTP 503",
            "Skipped": "no rows: gates.skipIfEmpty"}


def status(name: str, now: datetime, runs: int = 10, every: timedelta = timedelta(days=1)
           ) -> dict[str, Any]:
    """A status with ``runs`` past runs, newest first, and the operator's conditions."""
    history = []
    for n in range(runs):
        result = RESULTS[(n + len(name)) % len(RESULTS)]
        start = now - every * (n + 1)
        history.append(run(name, runs - n, start, result, rows=100 + 37 * ((n * 7) % 11),
                           seconds=20 + 13 * ((n * 5) % 7), message=MESSAGES.get(result)))
    ready = {"type": "Ready", "status": "True", "reason": "Scheduled",
             "message": "CronJob is scheduled",
             "lastTransitionTime": stamp(now - timedelta(days=30))}
    return {"conditions": [ready], "history": history, "lastRun": history[0],
            "nextRunTime": stamp(now + timedelta(hours=5)), "consecutiveFailures": 0,
            "schedule": "0 9 * * 1", "timeZone": "Europe/Berlin"}


def create(api: client.ApiClient, namespace: str, name: str, now: datetime,
           labels: dict[str, str] | None = None, runs: int = 10, **spec: Any) -> None:
    """A ReportSchedule with a history."""
    custom = client.CustomObjectsApi(api)
    body = report_schedule(name, **spec)
    body["metadata"]["labels"] = labels or {}
    custom.create_namespaced_custom_object(G, V, namespace, P, body)
    custom.patch_namespaced_custom_object_status(
        G, V, namespace, P, name, {"status": status(name, now, runs)})
