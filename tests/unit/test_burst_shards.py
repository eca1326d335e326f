"""Sharded bursts: the shard rule, the per-shard ledger, status summed over shards, and the
run's Indexed Job."""

from __future__ import annotations

import base64
import zlib
from datetime import UTC, datetime
from functools import partial

import pytest
from bulletin.api.history import with_deliveries, with_run
from bulletin.api.spec import ReportScheduleSpec
from bulletin.api.status import (
    BurstProgress,
    DeliveryRecord,
    RunRecord,
    RunResult,
    ShardProgress,
    Trigger,
)
from bulletin.assembly.burst import Recipient
from bulletin.ledger import LedgerError
from bulletin.runconfig import RunConfig
from bulletin.shardledger import ShardLedger
from bulletin.shards import Shard, shard_of
from bulletin_operator.builders import Owner, RunnerSettings, role, run_now_job
from doubles import MemoryStore
from support import status_after

START = datetime(2026, 11, 23, 9, tzinfo=UTC)


def _recipients(n: int) -> list[Recipient]:
    return [Recipient(f"c{i:06d}@example.com", {"id": i}) for i in range(n)]


def test_the_shard_rule_splits_stably_and_evenly() -> None:
    people = _recipients(10_000)
    shards = [Shard(i, 4).mine(people) for i in range(4)]
    assert sum(len(s) for s in shards) == 10_000
    assert len({r.key for s in shards for r in s}) == 10_000  # each in exactly one shard
    assert all(2300 < len(s) < 2700 for s in shards)
    again = Shard(2, 4).mine(list(reversed(people)))  # another order, the same shard
    assert {r.key for r in again} == {r.key for r in shards[2]}
    assert shard_of(people[0].key, 4) == shard_of(people[0].key, 4)
    assert Shard.of(RunConfig.from_env({"JOB_COMPLETION_INDEX": "3", "BULLETIN_BURST_SHARDS": "4",
                                         "BULLETIN_JOB_UID": "u"})) == Shard(3, 4, "u")
    assert Shard.of(RunConfig()) == Shard(0, 1, "")
    with pytest.raises(ValueError, match="not a shard of 2"):
        Shard.of(RunConfig.from_env({"JOB_COMPLETION_INDEX": "2", "BULLETIN_BURST_SHARDS": "2"}))


def test_the_ledger_survives_a_new_pod_and_stays_small() -> None:
    keys = [r.key for r in _recipients(10_000)]
    store = MemoryStore()
    first = ShardLedger(store, ["email", "storage"])
    first.open(keys)
    assert store.writes == 1  # written before the first send
    for key in keys[:6000]:
        first.mark("email", key)
    first.mark("storage", keys[0])
    first.close()
    assert store.writes < 6000  # records coalesce into fewer writes
    data = store.data or {}
    assert len(zlib.decompress(base64.b64decode(data["email"]))) == 1250  # n/8 bytes
    assert first.bytes < 2 * 1700 + 200

    retry = ShardLedger(store, ["email", "storage"])
    retry.open(list(reversed(keys)))  # the same keys in another order
    assert [retry.done("email", k) for k in keys[5999:6001]] == [True, False]
    assert retry.done("storage", keys[0]) and not retry.done("storage", keys[1])
    assert retry.sent() == 1
    retry.close()

    other = ShardLedger(store, ["email", "storage"])
    with pytest.raises(LedgerError, match="other recipients than its first try"):
        other.open(keys[1:])


def test_a_conflicting_writer_keeps_both_records() -> None:
    keys = [f"{i:012x}" for i in range(100)]
    store = MemoryStore()
    mine, theirs = ShardLedger(store, ["email"]), ShardLedger(store, ["email"])
    mine.open(keys)
    theirs.open(keys)
    theirs.mark("email", keys[1])
    theirs.close()
    mine.mark("email", keys[2])
    mine.close()
    after = ShardLedger(store, ["email"])
    after.open(keys)
    assert [after.done("email", k) for k in keys[:3]] == [False, True, True]
    after.close()


def _shard(index: int, *, sent: int, failed: int = 0, done: bool = True,
           failures: list[str] | None = None) -> DeliveryRecord:
    progress = ShardProgress(index=index, recipients=sent + failed, sent=sent, failed=failed,
                             done=done)
    return DeliveryRecord(target="email", state="Sent", burst=BurstProgress(
        shard_count=2, shards=[progress], recipients=sent + failed, sent=sent, failed=failed,
        failures=failures or []))


def _record(*deliveries: DeliveryRecord, ended: bool = True) -> RunRecord:
    return RunRecord(run_id="r1", trigger=Trigger.MANUAL, start_time=START,
                     end_time=START if ended else None, result=RunResult.SUCCEEDED if ended
                     else None, deliveries=list(deliveries))


def test_status_sums_the_shards_and_ends_the_run_with_the_last() -> None:
    status = status_after({}, partial(with_run, record=_record(ended=False), limit=10))
    status = status_after(status, lambda st: with_deliveries(
        st, "r1", [_shard(1, sent=0, done=False)]))
    status = status_after(status, partial(with_run, record=_record(_shard(0, sent=300)), limit=10))
    entry = status["history"][0]
    assert "result" not in entry and "endTime" not in entry
    assert entry["message"].startswith("burst in progress: 1 of 2 shards done")
    assert status["consecutiveFailures"] == 0

    last = _record(_shard(1, sent=290, failed=2, failures=["x@example.com: 550"]))
    status = status_after(status, partial(with_run, record=last, limit=10))
    entry = status["history"][0]
    [email] = entry["deliveries"]
    assert (email["burst"]["recipients"], email["burst"]["sent"], email["burst"]["failed"]) == (
        592, 590, 2)
    assert [s["index"] for s in email["burst"]["shards"]] == [0, 1]
    assert entry["result"] == "PartiallyDelivered" and entry["endTime"]
    assert entry["message"] == ("burst: 592 recipients: 590 sent, 2 failed, 0 skipped;"
                                " x@example.com: 550")
    assert status["consecutiveFailures"] == 1


def test_a_burst_job_is_indexed_with_a_retry_per_shard() -> None:
    spec = ReportScheduleSpec.model_validate({
        "schedule": {"cron": "0 9 * * MON"},
        "source": {"connectionSecretRef": {"name": "db", "key": "url"}},
        "datasets": [{"name": "c", "query": "SELECT email FROM c"},
                     {"name": "o", "query": "SELECT 1"}],
        "delivery": {"email": {"smtpSecretRef": {"name": "smtp"}},
                     "burst": {"dataset": "c", "shards": 3, "parallelism": 2}}})
    owner = Owner(name="statements", namespace="billing", uid="u")
    job = run_now_job(owner, spec, RunnerSettings(backoff_limit=2), "t1")["spec"]
    assert (job["completionMode"], job["completions"], job["parallelism"],
            job["backoffLimitPerIndex"]) == ("Indexed", 3, 2, 2)
    assert "backoffLimit" not in job
    env = {e["name"]: e for e in job["template"]["spec"]["containers"][0]["env"]}
    assert env["BULLETIN_BURST_SHARDS"]["value"] == "3"
    assert env["BULLETIN_JOB_UID"]["valueFrom"]["fieldRef"]["fieldPath"] == (
        "metadata.labels['batch.kubernetes.io/controller-uid']")
    rules = role(owner, spec)["rules"]
    assert {"apiGroups": [""], "resources": ["configmaps"],
            "verbs": ["get", "create", "update"]} in rules
