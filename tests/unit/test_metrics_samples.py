"""Snapshot -> samples: what one ReportSchedule's spec and status expose on /metrics."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from bulletin.api.status import ReportScheduleStatus
from bulletin_operator import metrics_samples
from bulletin_operator.metrics_samples import (
    EndedRun,
    depends_on_name,
    interval_seconds,
    schedule_samples,
)

SPEC: dict[str, Any] = {"schedule": {"cron": "0 9 * * MON", "timeZone": "Europe/Berlin"}}
WEEK = 7 * 24 * 3600.0


def _ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def _conditions(ready: bool, paused: bool) -> list[dict[str, Any]]:
    since = {"reason": "R", "lastTransitionTime": "2026-11-01T00:00:00Z"}  # required by the CRD
    return [{"type": "Ready", "status": str(ready), **since},
            {"type": "Stalled", "status": str(paused), **since},
            {"type": "Paused", "status": str(paused), **since}]


def _run(run_id: str, result: str | None, start: str, end: str | None, **extra: Any
         ) -> dict[str, Any]:
    run = {"runId": run_id, "trigger": "Scheduled", "startTime": start, **extra}
    if end is not None:
        run |= {"endTime": end, "result": result}
    return run


def _samples(spec: dict[str, Any], status: dict[str, Any], interval: float | None = WEEK
             ) -> dict[str, Any]:
    """{metric or metric{extra labels}: value}, to compare whole snapshots at once."""
    out: dict[str, Any] = {}
    for sample in schedule_samples(spec, ReportScheduleStatus.parse(status), interval):
        key = sample.metric.removeprefix("bulletin_report_")
        key += "{" + ",".join(sample.labels) + "}" if sample.labels else ""
        assert key not in out, key
        out[key] = sample.value
    return out


def _one_hot(result: str) -> dict[str, float]:
    return {f"last_run_result{{{r}}}": float(r == result)
            for r in ("Succeeded", "Failed", "Skipped", "PartiallyDelivered")}


SUCCEEDED_RUN = _run("r-2", "Succeeded", "2026-11-23T08:00:05Z", "2026-11-23T08:00:47Z",
                     rows=7, bytes=1234)


def test_a_succeeded_run() -> None:
    status = {"schedule": "0 9 * * 1", "conditions": _conditions(True, False),
              "nextRunTime": "2026-11-30T08:00:00Z", "lastSuccessTime": "2026-11-23T08:00:47Z",
              "consecutiveFailures": 0, "lastRun": SUCCEEDED_RUN, "history": [SUCCEEDED_RUN]}
    assert _samples(SPEC, status) == {
        "info{0 9 * * 1,Europe/Berlin}": 1.0, "ready": 1.0, "paused": 0.0,
        "consecutive_failures": 0.0, **_one_hot("Succeeded"),
        "last_run_rows": 7.0, "last_run_bytes": 1234.0,
        "last_run_timestamp_seconds": _ts("2026-11-23T08:00:05Z"),
        "last_run_duration_seconds": 42.0,
        "last_success_timestamp_seconds": _ts("2026-11-23T08:00:47Z"),
        "next_run_timestamp_seconds": _ts("2026-11-30T08:00:00Z"),
        "interval_seconds": WEEK,
    }


def test_a_failed_run_after_failures_in_a_row() -> None:
    failed = _run("r-4", "Failed", "2026-11-25T10:00:00Z", "2026-11-25T10:00:03Z")
    status = {"schedule": "0 9 * * 1", "conditions": _conditions(True, False),
              "nextRunTime": "2026-11-30T08:00:00Z", "lastSuccessTime": "2026-11-23T08:00:47Z",
              "consecutiveFailures": 3, "lastRun": failed, "history": [failed, SUCCEEDED_RUN]}
    got = _samples(SPEC, status)
    assert {k: v for k, v in got.items() if k.startswith("last_run_result")} == _one_hot("Failed")
    assert got["consecutive_failures"] == 3.0
    assert got["last_run_rows"] == 0.0 and got["last_run_bytes"] == 0.0
    assert got["last_run_duration_seconds"] == 3.0
    assert got["last_success_timestamp_seconds"] == _ts("2026-11-23T08:00:47Z")


def test_paused_after_failures_or_suspended() -> None:
    status = {"schedule": "0 9 * * 1", "conditions": _conditions(False, True),
              "consecutiveFailures": 5, "nextRunTime": "2026-11-30T08:00:00Z"}
    got = _samples(SPEC, status)
    assert (got["paused"], got["ready"]) == (1.0, 0.0)
    running = {**status, "conditions": _conditions(True, False)}
    assert _samples(SPEC, running)["paused"] == 0.0
    assert _samples({**SPEC, "suspend": True}, running)["paused"] == 1.0


def test_never_run_has_no_run_series_and_no_success() -> None:
    status = {"schedule": "0 9 * * 1", "conditions": _conditions(True, False),
              "nextRunTime": "2026-11-30T08:00:00Z"}
    assert _samples(SPEC, status) == {
        "info{0 9 * * 1,Europe/Berlin}": 1.0, "ready": 1.0, "paused": 0.0,
        "consecutive_failures": 0.0, "next_run_timestamp_seconds": _ts("2026-11-30T08:00:00Z"),
        "interval_seconds": WEEK,
    }


def test_a_run_in_progress_keeps_the_last_ended_one() -> None:
    running = _run("r-5", None, "2026-11-26T10:00:00Z", None)
    failed = _run("r-4", "Failed", "2026-11-25T10:00:00Z", "2026-11-25T10:00:03Z", rows=2)
    status = {"schedule": "0 9 * * 1", "consecutiveFailures": 1, "lastRun": running,
              "history": [running, failed]}
    got = _samples(SPEC, status)
    assert got["last_run_result{Failed}"] == 1.0
    assert got["last_run_timestamp_seconds"] == _ts("2026-11-25T10:00:00Z")
    assert got["last_run_rows"] == 2.0


def test_an_invalid_schedule_has_an_empty_schedule_and_no_next_run() -> None:
    status = {"conditions": _conditions(False, False)}
    got = _samples({"schedule": {"cron": "bad"}}, status, interval=None)
    assert got == {"info{,UTC}": 1.0, "ready": 0.0, "paused": 0.0, "consecutive_failures": 0.0}


@pytest.mark.parametrize(("schedule", "next_run", "seconds"), [
    ({"cron": "0 9 * * MON", "timeZone": "Europe/Berlin"}, "2026-11-30T08:00:00Z", WEEK),
    ({"cron": "*/15 * * * *"}, "2026-11-30T08:15:00Z", 900.0),
    # 09:00 Berlin on the Saturday before clocks go forward, then on the Sunday: 23 hours.
    ({"cron": "0 9 * * *", "timeZone": "Europe/Berlin"}, "2026-03-28T08:00:00Z", 23 * 3600.0),
    # The same wall time in New York, where clocks went forward three weeks earlier.
    ({"cron": "0 9 * * *", "timeZone": "America/New_York"}, "2026-03-28T13:00:00Z", 86400.0),
    # Weekdays only: Friday to Monday.
    ({"daily": {"at": "09:00"}, "timeZone": "UTC", "weekdaysOnly": True},
     "2026-11-27T09:00:00Z", 3 * 86400.0),
    # The last day of the month: November 30 to December 31.
    ({"monthly": {"lastDay": True, "at": "06:00"}}, "2026-11-30T06:00:00Z", 31 * 86400.0),
])
def test_interval_is_from_the_next_run_to_the_one_after(
    schedule: dict[str, Any], next_run: str, seconds: float,
) -> None:
    assert interval_seconds("ns", "r", schedule, datetime.fromisoformat(next_run)) == seconds


def test_no_interval_without_a_next_run_or_a_valid_schedule() -> None:
    assert interval_seconds("ns", "r", SPEC["schedule"], None) is None
    at = datetime.fromisoformat("2026-11-30T08:00:00Z")
    assert interval_seconds("ns", "r", {"cron": "0 9 31 2 *"}, at) is None
    assert interval_seconds("ns", "r", {"cron": "0 9 * * *", "timeZone": "Mars/Olympus"},
                            at) is None


def test_only_h_minutes_and_staggers_make_the_interval_depend_on_the_name() -> None:
    assert depends_on_name({"cron": "H 9 * * *"})
    assert depends_on_name({"daily": {"at": "09:00"}, "staggerMinutes": 30})
    assert not depends_on_name({"cron": "0 9 * * *", "timeZone": "Europe/Berlin"})


def test_runs_are_counted_once_and_not_those_before_the_first_snapshot() -> None:
    def newly_ended(status: dict[str, Any], seen: Any) -> Any:
        return metrics_samples.newly_ended(ReportScheduleStatus.parse(status), seen)

    old = _run("r-1", "Failed", "2026-11-16T08:00:00Z", "2026-11-16T08:00:10Z")
    first = {"lastRun": old, "history": [old]}
    fresh, seen = newly_ended(first, None)
    assert (fresh, seen) == ([], {"r-1"})

    started = _run("r-2", None, "2026-11-23T08:00:05Z", None)
    fresh, seen = newly_ended({"lastRun": started, "history": [started, old]}, seen)
    assert fresh == [] and seen == {"r-1"}

    done = {"lastRun": SUCCEEDED_RUN, "history": [SUCCEEDED_RUN, old]}
    fresh, seen = newly_ended(done, seen)
    assert fresh == [EndedRun("Succeeded", "Scheduled", 42.0)]
    assert newly_ended(done, seen)[0] == []  # the same run again (e.g. deliveries updated)
    assert newly_ended({"history": [SUCCEEDED_RUN]}, seen) == ([], {"r-2"})
