"""Backfill ranges: which periods `kubectl bulletin run --period A..B --each UNIT` runs."""

from __future__ import annotations

from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from bulletin.period import parse_override
from bulletin.plugin import cli
from bulletin.plugin.backfill import MAX_PERIODS, periods
from bulletin.plugin.runnow import UsageError


def test_months_of_a_month_range() -> None:
    assert periods("2026-01..2026-06", "month") == [
        "2026-01", "2026-02", "2026-03", "2026-04", "2026-05", "2026-06"]


def test_months_touched_by_a_date_range_across_a_year() -> None:
    assert periods("2026-11-15..2027-01-10", "month") == ["2026-11", "2026-12", "2027-01"]


def test_iso_weeks_across_a_53_week_year() -> None:
    assert periods("2026-W52..2027-W01", "week") == ["2026-W52", "2026-W53", "2027-W01"]
    assert periods("2026-01", "week") == [f"2026-W{n:02d}" for n in range(1, 6)]


def test_days_of_a_month() -> None:
    days = periods("2028-02", "day")
    assert (days[0], days[-1], len(days)) == ("2028-02-01", "2028-02-29", 29)


def test_each_period_is_one_run_now_period() -> None:
    """Every name is a --period the runner reads, and they tile the range without gaps."""
    spans = [parse_override(p, ZoneInfo("Europe/Berlin"))
             for p in periods("2026-01..2026-04", "month")]
    assert len(spans) == 4
    assert all(a.end == b.start for a, b in pairwise(spans))


@pytest.mark.parametrize("text", ["2026-06..2026-01", "January..June", "2026-13..2027-01"])
def test_bad_ranges_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError, match="--period"):
        periods(text, "month")


def test_too_many_runs_are_refused() -> None:
    with pytest.raises(UsageError, match=f"at most {MAX_PERIODS}"):
        periods("2020-01-01..2026-01-01", "day")


def test_each_needs_a_period(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", "x", "--each", "month"]) == 2
    assert "--each needs --period" in capsys.readouterr().err


def test_the_next_run_waits_for_the_previous_job_to_finish() -> None:
    """The runner records the run's end, then its pod exits a few seconds later: the backfill
    asks for the next run only once the Job is Complete (or Failed, or gone)."""
    from types import SimpleNamespace

    from bulletin.api.names import run_now_job_name
    from bulletin.api.status import RunRecord
    from bulletin.plugin.backfill import wait_ended
    from kubernetes.client.exceptions import ApiException

    run_id = run_now_job_name("orders", "t1")
    ended = RunRecord.model_validate({"runId": run_id, "trigger": "Manual", "result": "Succeeded",
                                      "startTime": "2026-01-01T00:00:01Z",
                                      "endTime": "2026-01-01T00:00:05Z"})
    jobs = [[], [SimpleNamespace(type="SuccessCriteriaMet", status="True")],
            [SimpleNamespace(type="SuccessCriteriaMet", status="True"),
             SimpleNamespace(type="Complete", status="True")]]
    reads: list[str] = []

    def read_job(name: str, namespace: str) -> SimpleNamespace:
        reads.append(name)
        return SimpleNamespace(status=SimpleNamespace(conditions=jobs[len(reads) - 1]))

    kube: Any = SimpleNamespace(namespace="analytics",
                                get=lambda name: {"status": {"history": [ended.wire()]}},
                                batch=SimpleNamespace(read_namespaced_job=read_job))
    sleeps: list[float] = []
    assert wait_ended(kube, "orders", "t1", timeout=60, sleep=sleeps.append) == ended
    assert reads == [run_id] * 3 and len(sleeps) == 2

    def gone(name: str, namespace: str) -> None:
        raise ApiException(status=404)

    kube.batch.read_namespaced_job = gone  # removed after it finished (ttlSecondsAfterFinished)
    sleeps.clear()
    assert wait_ended(kube, "orders", "t1", timeout=60, sleep=sleeps.append) == ended
    assert sleeps == []
