"""Run history bookkeeping."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from bulletin.api.history import HISTORY_BUDGET, fitted, with_run
from bulletin.api.status import (
    DeliveryRecord,
    ReportScheduleStatus,
    RunRecord,
    RunResult,
    Trigger,
)
from bulletin.redact import redact, url_secrets
from support import status_after

T0 = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def _run(i: int, result: RunResult) -> RunRecord:
    start = T0 + timedelta(hours=i)
    return RunRecord(run_id=f"r{i}", trigger=Trigger.SCHEDULED, start_time=start,
                     end_time=start + timedelta(minutes=1), result=result)


def _recorded(status: dict[str, Any], record: RunRecord, limit: int) -> dict[str, Any]:
    return status_after(status, partial(with_run, record=record, limit=limit))


def test_history_is_bounded_newest_first() -> None:
    status: dict[str, Any] = {}
    for i in range(5):
        status = _recorded(status, _run(i, RunResult.SUCCEEDED), 3)
    assert [h["runId"] for h in status["history"]] == ["r4", "r3", "r2"]
    assert status["lastRun"]["runId"] == "r4"
    assert status["lastSuccessTime"] == "2026-11-21T13:01:00Z"


def test_a_history_limit_under_three_is_kept() -> None:
    for limit in (1, 2):
        status: dict[str, Any] = {}
        for i in range(4):
            status = _recorded(status, _run(i, RunResult.SUCCEEDED), limit)
        assert [h["runId"] for h in status["history"]] == ["r3", "r2"][:limit]


def test_a_run_recorded_after_another_that_started_in_the_same_second_is_the_last_run() -> None:
    first = _run(0, RunResult.FAILED)
    second = first.model_copy(update={"run_id": "r0-again",
                                      "start_time": T0 + timedelta(milliseconds=600)})
    status: dict[str, Any] = {}
    status = _recorded(status, first, 3)
    status = _recorded(status, second, 3)
    assert [h["runId"] for h in status["history"]] == ["r0-again", "r0"]
    assert status["lastRun"]["runId"] == "r0-again"


def test_failure_streak_counts_and_resets() -> None:
    status: dict[str, Any] = {}
    status = _recorded(status, _run(0, RunResult.FAILED), 10)
    status = _recorded(status, _run(1, RunResult.FAILED), 10)
    status = _recorded(status, _run(1, RunResult.FAILED), 10)  # same run again
    assert status["consecutiveFailures"] == 2
    status = _recorded(status, _run(2, RunResult.SKIPPED), 10)
    assert status["consecutiveFailures"] == 2
    status = _recorded(status, _run(3, RunResult.SUCCEEDED), 10)
    assert status["consecutiveFailures"] == 0


def test_redact_masks_url_passwords() -> None:
    secrets = url_secrets("postgresql://u:s%40cret-pw@db:5432/x")
    assert "s@cret-pw" in secrets
    assert redact("auth failed for s@cret-pw", secrets) == "auth failed for ****"


def test_a_retried_run_keeps_the_deliveries_of_earlier_tries() -> None:
    from bulletin.api.status import DeliveryRecord

    first = _run(0, RunResult.SUCCEEDED)
    first.result = None
    first.deliveries = [DeliveryRecord(target="email", state="Sent", recipients=["a@x.org"]),
                        DeliveryRecord(target="webhook/a", state="Pending", attempts=1)]
    status: dict[str, Any] = {}
    status = _recorded(status, first, 10)
    retry = _run(0, RunResult.SUCCEEDED)  # the new pod writes its in-progress entry
    retry.result = None
    status = _recorded(status, retry, 10)
    assert [d["target"] for d in status["history"][0]["deliveries"]] == ["email", "webhook/a"]
    retry.deliveries = [DeliveryRecord(target="webhook/a", state="Sent", attempts=2)]
    status = _recorded(status, retry, 10)
    assert [(d["target"], d["state"]) for d in status["lastRun"]["deliveries"]] == [
        ("email", "Sent"), ("webhook/a", "Sent")]


def _wide_run(i: int) -> RunRecord:
    """A run sent to 300 recipients by email and recorded per delivery (about 40 KB)."""
    record = _run(i, RunResult.SUCCEEDED)
    people = [f"person-{n:03d}-with-a-long-mailbox-name@reports.example.com" for n in range(300)]
    record.recipients = people
    record.deliveries = [DeliveryRecord(target=f"webhook/hook-{n}", state="Sent",
                                        recipients=people) for n in range(2)]
    return record


def _written(status: dict[str, Any], record: RunRecord, limit: int) -> tuple[dict[str, Any], int]:
    """Status as Kube.update_status writes it after ``record`` (history fitted to its bytes)."""
    before = ReportScheduleStatus.parse(status)
    after, dropped = fitted({}, with_run(before, record, limit))
    return {**status, **before.changes(after)}, dropped


def test_history_stays_under_its_byte_budget_oldest_dropped_first() -> None:
    status: dict[str, Any] = {}
    dropped: list[int] = []
    for i in range(100):
        status, n = _written(status, _wide_run(i), limit=100)
        dropped.append(n)
    size = len(json.dumps(status))
    assert size < HISTORY_BUDGET + 4096, size  # far below etcd's 1.5 MiB object limit
    runs = [h["runId"] for h in status["history"]]
    assert runs[0] == "r99" and runs == [f"r{i}" for i in range(99, 99 - len(runs), -1)]
    assert 1 < len(runs) < 100 and dropped[-1] >= 1


def test_a_single_huge_run_keeps_its_counts_without_the_lists() -> None:
    record = _wide_run(0)
    record.recipients = [f"p{n}-{'x' * 200}@example.com" for n in range(3000)]
    status, _ = _written({}, record, limit=10)
    assert len(json.dumps(status)) < HISTORY_BUDGET
    assert status["lastRun"]["recipients"] == []
    assert "3000 recipients" in status["lastRun"]["message"]
    # history keeps what a retry of the run needs: who each delivery already reached
    assert [len(d["recipients"]) for d in status["history"][0]["deliveries"]] == [300, 300]
