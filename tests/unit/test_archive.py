"""The run archive on the suite's real PostgreSQL and MariaDB: idempotent upserts, pages of
a schedule's runs newest first, stats, the audit, pruning by age."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bulletin.archive.schema import engine_for
from bulletin.archive.store import Archive
from devstack.mariadb import MariaDB
from devstack.postgres import Postgres

T0 = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)


def entry(n: int, result: str | None = "Succeeded", keys: tuple[str, ...] = ()) -> dict[str, Any]:
    start = T0 + timedelta(hours=n)
    found: dict[str, Any] = {"runId": f"weekly-{n}", "trigger": "Scheduled",
                             "startTime": start.isoformat(), "rows": n, "bytes": 10 * n}
    if result:
        found |= {"result": result, "endTime": (start + timedelta(seconds=30)).isoformat()}
    if keys:
        found["deliveries"] = [{"target": "archive", "state": "Sent", "objectKeys": list(keys)}]
    return found


@pytest.fixture(params=["postgres", "mariadb"])
def archive(request: pytest.FixtureRequest) -> Iterator[Archive]:
    server: Postgres | MariaDB = request.getfixturevalue(request.param)
    found = Archive(server.url)
    found.create()
    yield found
    found.engine.dispose()


def test_writes_are_idempotent_and_a_run_changes_in_place(archive: Archive) -> None:
    ns = f"t-{uuid.uuid4().hex[:8]}"
    archive.write(ns, "weekly", [entry(1, result=None)])
    archive.write(ns, "weekly", [entry(1, result=None)])
    assert archive.run(ns, "weekly", "weekly-1").record.result is None  # type: ignore[union-attr]
    archive.write(ns, "weekly", [entry(1, keys=("a/b/report.csv",))])
    found = archive.run(ns, "weekly", "weekly-1")
    assert found is not None and found.record.result is not None
    assert found.record.result.value == "Succeeded"
    assert found.object_keys == ["a/b/report.csv"]
    assert found.record.start_time == T0 + timedelta(hours=1)
    assert archive.count(ns, "weekly", T0) == 1
    assert archive.run(ns, "other", "weekly-1") is None


def test_pages_newest_first_since_a_time(archive: Archive) -> None:
    ns = f"t-{uuid.uuid4().hex[:8]}"
    archive.write(ns, "weekly", [entry(n) for n in range(30)])
    archive.write(ns, "daily", [entry(n) for n in range(5)])
    since = T0 + timedelta(hours=10)
    first = archive.runs(ns, "weekly", since, limit=8)
    assert [a.record.run_id for a in first] == [f"weekly-{n}" for n in range(29, 21, -1)]
    rest = archive.runs(ns, "weekly", since, limit=100, offset=8)
    assert [a.record.run_id for a in rest] == [f"weekly-{n}" for n in range(21, 9, -1)]
    assert archive.count(ns, "weekly", since) == 20


def test_stats_sum_up_a_schedules_runs(archive: Archive) -> None:
    ns = f"t-{uuid.uuid4().hex[:8]}"
    archive.write(ns, "weekly", [entry(1), entry(2, result="Failed"), entry(3, result=None)])
    stats = archive.stats(ns, "weekly", T0)
    assert (stats.runs, stats.succeeded, stats.failed, stats.rows, stats.bytes) == (
        3, 1, 1, 6, 60)
    assert stats.seconds == 30.0


def test_statistics_read_every_archived_run_of_the_schedules_the_user_may_list(
        archive: Archive) -> None:
    from bulletin.console import stats

    mine, theirs = f"t-{uuid.uuid4().hex[:8]}", f"t-{uuid.uuid4().hex[:8]}"
    archive.write(mine, "weekly", [entry(n) for n in range(40)] + [entry(40, "Failed")])
    archive.write(mine, "hidden", [entry(n) for n in range(3)])  # not in the user's listing
    archive.write(theirs, "weekly", [entry(n) for n in range(3)])
    listed = [{"metadata": {"namespace": mine, "name": "weekly"}}]
    now = T0 + timedelta(hours=41)
    runs = stats.within(stats.archived_runs(archive, listed, now, 1), now, 1)
    assert {(r.namespace, r.schedule) for r in runs} == {(mine, "weekly")}
    [figures] = stats.grouped(runs, by_namespace=False)
    # 24 hours back from hour 41: the runs started at hours 17 to 40.
    assert (figures.runs, figures.succeeded, figures.failed) == (24, 23, 1)
    assert figures.median_seconds == 30 and figures.rows == sum(range(17, 41))
    assert stats.archived_runs(archive, [], now, 1) == []


def test_the_audit_records_who_fetched_what(archive: Archive) -> None:
    ns = f"t-{uuid.uuid4().hex[:8]}"
    archive.record_access("alice", "download", ns, "weekly", "weekly-1", ["k/report.pdf"],
                          "10.0.0.7", now=T0)
    archive.record_access("bob", "link", ns, "weekly", "weekly-1", ["k/a.csv", "k/b.csv"],
                          "kubectl bulletin link", now=T0 + timedelta(minutes=1))
    archive.record_access("carol", "download", ns, "weekly", "weekly-2", ["k/x"], "h", now=T0)
    found = archive.accesses(ns, "weekly", "weekly-1")
    assert [(a.user, a.action, a.object_key) for a in found] == [
        ("bob", "link", "k/b.csv"), ("bob", "link", "k/a.csv"),
        ("alice", "download", "k/report.pdf")]
    assert found[-1].at == T0 and found[-1].client == "10.0.0.7"
    with pytest.raises(ValueError):
        archive.record_access("eve", "delete", ns, "weekly", "weekly-1", ["k"], "h")


def test_prune_drops_runs_and_audit_older_than_the_cutoff(archive: Archive) -> None:
    ns = f"t-{uuid.uuid4().hex[:8]}"
    archive.write(ns, "weekly", [entry(n) for n in range(10)])
    archive.record_access("alice", "download", ns, "weekly", "weekly-1", ["k"], "h", now=T0)
    archive.record_access("alice", "download", ns, "weekly", "weekly-9", ["k"], "h",
                          now=T0 + timedelta(hours=9))
    archive.prune(T0 + timedelta(hours=5))
    assert [a.record.run_id for a in archive.runs(ns, "weekly", T0, limit=100)] == [
        f"weekly-{n}" for n in range(9, 4, -1)]
    assert [a.run_id for a in archive.accesses(ns, "weekly")] == ["weekly-9"]


def test_the_url_never_shows_in_errors() -> None:
    with pytest.raises(ValueError) as caught:
        engine_for("sqlite:///secret-pw@x")
    assert "secret-pw" not in str(caught.value)
    with pytest.raises(ValueError) as caught:
        engine_for("::not a url with pw hunter2")
    assert "hunter2" not in str(caught.value)
