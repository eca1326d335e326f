"""The runner's run() in-process, on a ReportSchedule held in memory (fixed dates and a fixed
clock): runs started by catch-up are CatchUp however late, and a retried Job does not run again
a run that status records as ended (except a crash, which its Job retries)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bulletin import run as runner
from bulletin.api import client
from bulletin.api.spec import ReportScheduleSpec
from bulletin.api.status import RunRecord, RunResult, Trigger
from bulletin.context import RunContext
from bulletin.period import Period
from bulletin.query import QueryError
from doubles import MemoryKube

DUE = datetime(2026, 11, 5, 9, 0, tzinfo=UTC)  # the current firing of a minutely schedule


def _run_id(at: datetime) -> str:
    return f"minutely-{int(at.timestamp()) // 60}"


class Clock:
    """What run.py's datetime.now() returns."""

    now = DUE


class _Datetime(datetime):
    @classmethod
    def now(cls, tz: Any = None) -> Any:
        return Clock.now


@pytest.fixture
def kube(monkeypatch: pytest.MonkeyPatch) -> Iterator[MemoryKube]:
    """A minutely catchUp All schedule whose last recorded run was due at 08:57."""
    last = DUE - timedelta(minutes=3)
    seeded = RunRecord(run_id=_run_id(last), trigger=Trigger.SCHEDULED, scheduled_time=last,
                       start_time=last, end_time=last, result=RunResult.SUCCEEDED).wire()
    fake = MemoryKube({
        "metadata": {"name": "minutely", "namespace": "ns", "creationTimestamp":
                     "2026-11-01T00:00:00Z"},
        "spec": {"schedule": {"cron": "* * * * *"}, "catchUp": "All",
                 "source": {"connectionSecretRef": {"name": "db", "key": "url"}},
                 "datasets": [{"name": "main", "query": "SELECT 1 AS one"}],
                 "delivery": {"email": {"smtpSecretRef": {"name": "smtp"},
                                        "to": ["team@example.com"]}}},
        "status": json.loads(json.dumps({"history": [seeded], "lastRun": seeded}, default=str)),
    })
    monkeypatch.setattr(client, "Kube", lambda: fake)
    monkeypatch.setattr(runner, "datetime", _Datetime)
    Clock.now = DUE + timedelta(seconds=20)
    yield fake


@pytest.fixture
def executed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The run ids that queried, rendered and delivered (each Succeeds with one row)."""
    calls: list[str] = []

    def execute(ctx: RunContext, spec: ReportScheduleSpec, record: RunRecord, period: Period,
                kube: Any) -> None:
        calls.append(ctx.run_id)
        record.rows, record.result = 1, RunResult.SUCCEEDED

    monkeypatch.setattr(runner, "execute", execute)
    return calls


def _ctx(run_id: str) -> RunContext:
    return RunContext.from_env({"BULLETIN_NAMESPACE": "ns", "BULLETIN_SCHEDULE": "minutely",
                                "BULLETIN_RUN_ID": run_id, "BULLETIN_TRIGGER": "Scheduled"})


def test_runs_the_catch_up_started_are_catch_up_however_late(
    kube: MemoryKube, executed: list[str]
) -> None:
    # 08:58 and 08:59 were missed; the runner starts them at 09:00:20, one or two minutes late.
    assert runner.run(_ctx(_run_id(DUE))) == 0
    missed = [DUE - timedelta(minutes=2), DUE - timedelta(minutes=1)]
    assert executed == [*(_run_id(t) for t in missed), _run_id(DUE)]
    runs = {h["runId"]: h["trigger"] for h in kube.history()}
    assert [runs[_run_id(t)] for t in missed] == ["CatchUp", "CatchUp"]
    # The firing itself started 20 s after its time: on time, so Scheduled.
    assert runs[_run_id(DUE)] == "Scheduled"


def test_a_late_firing_is_catch_up_and_an_on_time_one_scheduled() -> None:
    ctx = _ctx(_run_id(DUE))
    assert runner.trigger_of(ctx, DUE + runner.CATCH_UP_AFTER) is Trigger.SCHEDULED
    late = DUE + runner.CATCH_UP_AFTER + timedelta(seconds=1)
    assert runner.trigger_of(ctx, late) is Trigger.CATCH_UP


def test_a_retried_job_does_not_run_an_ended_run_again(
    kube: MemoryKube, executed: list[str]
) -> None:
    assert runner.run(_ctx(_run_id(DUE))) == 0
    before = kube.history()
    executed.clear()
    # The Job is deleted and made again (same name, same run id), a minute later.
    Clock.now = DUE + timedelta(minutes=1)
    assert runner.run(_ctx(_run_id(DUE))) == 0
    assert executed == []
    assert kube.history() == before  # the entries keep their start and end times


def test_a_retry_of_an_ended_failed_run_fails_its_job_again(
    kube: MemoryKube, executed: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_: Any) -> None:
        raise QueryError("no such table")

    monkeypatch.setattr(runner, "execute", refuse)
    assert runner.run(_ctx(_run_id(DUE))) == runner.EXIT_FAILED
    before = kube.history()
    monkeypatch.setattr(runner, "execute", lambda *_: executed.append("again"))
    assert runner.run(_ctx(_run_id(DUE))) == runner.EXIT_FAILED
    assert executed == [] and kube.history() == before


def test_a_crashed_run_is_run_again_by_its_jobs_retry(
    kube: MemoryKube, executed: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ok = runner.execute

    def crash(ctx: RunContext, *args: Any) -> None:
        if ctx.run_id == _run_id(DUE):
            raise KeyError("boom")
        ok(ctx, *args)

    monkeypatch.setattr(runner, "execute", crash)
    assert runner.run(_ctx(_run_id(DUE))) == runner.EXIT_CRASHED
    entry = next(h for h in kube.history() if h["runId"] == _run_id(DUE))
    assert (entry["result"], entry["message"]) == ("Failed", "internal error (KeyError): 'boom'")
    monkeypatch.setattr(runner, "execute", ok)
    executed.clear()
    Clock.now = DUE + timedelta(minutes=1)
    assert runner.run(_ctx(_run_id(DUE))) == 0
    assert executed == [_run_id(DUE)]  # the missed runs, recorded before the crash, are not
    entry = next(h for h in kube.history() if h["runId"] == _run_id(DUE))
    assert entry["result"] == "Succeeded" and entry["endTime"] == "2026-11-05T09:01:00Z"
