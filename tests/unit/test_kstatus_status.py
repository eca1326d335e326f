"""kstatus (the status library Flux and kpt use) reads the operator's conditions as meant.

The objects carry exactly the status fields ``reconciled`` patches; the live objects are checked
in tests/integration/test_gitops_status.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bulletin.api.status import ReportScheduleStatus
from bulletin_operator.status import reconciled
from kstatus_checker import kstatus

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
CRON = "0 9 * * 1"


def schedule(generation: int, **kwargs: Any) -> dict[str, Any]:
    status = reconciled(ReportScheduleStatus(), generation=generation, cron=CRON, cronjob="cj",
                        next_run=NOW, now=NOW, **kwargs)
    return {"apiVersion": "bulletin.dev/v1alpha1", "kind": "ReportSchedule",
            "metadata": {"name": "weekly", "namespace": "team", "generation": generation},
            "spec": {}, "status": status}


def test_a_reconciled_schedule_is_current() -> None:
    assert kstatus(schedule(3, error=None))[0] == "Current"


def test_a_spec_not_yet_applied_is_in_progress() -> None:
    obj = schedule(3, error=None)
    obj["metadata"]["generation"] = 4
    status, message = kstatus(obj)
    assert status == "InProgress"
    assert "generation is 4" in message


def test_an_invalid_spec_is_failed() -> None:
    obj = schedule(2, error="spec.schedule.timeZone: unknown zone 'Mars/Olympus'")
    assert kstatus(obj) == ("Failed", "spec.schedule.timeZone: unknown zone 'Mars/Olympus'")


def test_a_paused_schedule_is_failed() -> None:
    obj = schedule(1, error=None, paused=True, failures=5)
    assert kstatus(obj)[0] == "Failed"
