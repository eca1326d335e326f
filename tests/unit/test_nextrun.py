"""nextRunTime refresh: only schedules whose next run has passed are patched."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from bulletin_operator.nextrun import NextRunRefresher, due_updates
from kubernetes.client.exceptions import ApiException
from support import report_schedule

NOW = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)


def _obj(name: str, status: dict[str, Any], cron: str = "0 9 * * MON") -> dict[str, Any]:
    obj = report_schedule(name, schedule={"cron": cron, "timeZone": "Europe/Berlin"})
    return {**obj, "metadata": {"namespace": "ns", "name": name}, "status": status}


def test_only_passed_runs_are_refreshed() -> None:
    items = [
        _obj("passed", {"schedule": "0 9 * * MON", "nextRunTime": "2026-11-23T08:00:00Z"}),
        _obj("future", {"schedule": "0 9 * * MON", "nextRunTime": "2026-11-30T08:00:00Z"}),
        _obj("missing", {"schedule": "0 9 * * MON"}),
        _obj("invalid", {}),  # never reconciled as valid: reconcile owns it
        _obj("stalled", {"schedule": "x", "nextRunTime": "2026-01-01T00:00:00Z"}, cron="bad"),
    ]
    assert due_updates(items, NOW) == [
        ("ns", "passed", "2026-11-30T08:00:00Z"),
        ("ns", "missing", "2026-11-30T08:00:00Z"),
    ]


@pytest.mark.parametrize(("error", "traceback"), [
    (ApiException(status=504, reason="Gateway Timeout"), False),  # etcd restarting
    (ConnectionRefusedError(), False),  # the API server restarting
    (KeyError("items"), True),  # a bug: keep the traceback
])
def test_the_refresher_outlives_errors_and_logs_outages_in_one_line(
    error: Exception, traceback: bool, caplog: pytest.LogCaptureFixture,
) -> None:
    refresher = NextRunRefresher(interval=0.01)
    passes = threading.Semaphore(0)

    def failing() -> int:
        passes.release()
        raise error

    refresher.refresh = failing  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING, logger="bulletin_operator.nextrun"):
        refresher.start()
        assert passes.acquire(timeout=10) and passes.acquire(timeout=10)  # alive after a failure
        refresher.stop()
    assert caplog.records, "nothing logged"
    assert all((r.exc_info is not None) == traceback for r in caplog.records)
