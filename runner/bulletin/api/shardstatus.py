"""A burst run's status across its shards (pure functions over the status models).

Each shard (a pod of the run's Indexed Job) writes only its own entry of the burst record's
``shards``; the record's counts are their sums. The run stays in progress (no result, no end)
until every shard is done; the write that completes the last shard sets the run's result.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bulletin.api.status import (
    BURST_FAILURES_SHOWN,
    BurstProgress,
    DeliveryRecord,
    ReportScheduleStatus,
    RunRecord,
    RunResult,
)

_COUNTS = ("recipients", "sent", "failed", "skipped")


def burst_result(record: DeliveryRecord) -> tuple[RunResult, str]:
    """The run's result from the burst's counts, and a one-line summary for status."""
    burst = record.burst or BurstProgress()
    summary = (f"burst: {burst.recipients} recipients: {burst.sent} sent, {burst.failed}"
               f" failed, {burst.skipped} skipped")
    if record.error and not burst.failures:
        summary += f"; {record.error}"
    if burst.failures:
        summary += "; " + "; ".join(burst.failures)
    if burst.failed or record.error:
        result = RunResult.PARTIALLY_DELIVERED if burst.sent else RunResult.FAILED
    else:
        result = RunResult.SUCCEEDED if burst.sent else RunResult.SKIPPED
    return result, summary


def sharded(record: DeliveryRecord) -> bool:
    """Whether a delivery record is a sharded burst's."""
    return bool(record.burst and record.burst.shard_count)


def merge_burst(old: DeliveryRecord | None, new: DeliveryRecord) -> DeliveryRecord:
    """One target's record across shards: ``new``'s shards over ``old``'s, counts summed."""
    if old is None or not (sharded(old) and sharded(new)):
        return new
    was, now = old.burst, new.burst
    assert was is not None and now is not None
    shards = {s.index: s for s in was.shards}
    shards.update({s.index: s for s in now.shards})
    ordered = [shards[i] for i in sorted(shards)]
    failures = [*now.failures, *(f for f in was.failures if f not in now.failures)]
    counts = {k: sum(getattr(s, k) for s in ordered) for k in _COUNTS}
    burst = now.model_copy(update={"shards": ordered, "failures": failures[:BURST_FAILURES_SHOWN],
                                   "shard_count": max(was.shard_count, now.shard_count), **counts})
    return new.model_copy(update={
        "burst": burst, "attempts": max(old.attempts, new.attempts),
        "last_attempt_time": new.last_attempt_time or old.last_attempt_time,
        "error": new.error if new.error is not None else old.error})


def all_done(record: DeliveryRecord) -> bool:
    """Whether every shard of a sharded burst record has tried all its recipients."""
    burst = record.burst or BurstProgress()
    return len(burst.shards) >= burst.shard_count and all(s.done for s in burst.shards)


def settle(entry: RunRecord) -> RunRecord:
    """A history entry whose burst record a shard just wrote: in progress until every shard
    is done (no result, no end), then the run's result from the summed counts."""
    records = [d for d in entry.deliveries if sharded(d)]
    if not records:
        return entry
    record = records[0]
    burst = record.burst or BurstProgress()
    if not all_done(record):
        done = sum(1 for s in burst.shards if s.done)
        return entry.model_copy(update={
            "result": None, "end_time": None,
            "message": f"burst in progress: {done} of {burst.shard_count} shards done,"
                       f" {burst.sent} of {burst.recipients} seen recipients sent"})
    result, summary = burst_result(record)
    state = "Sent" if result in (RunResult.SUCCEEDED, RunResult.SKIPPED) else "Failed"
    deliveries = [d.model_copy(update={"state": state}) if d is record else d
                  for d in entry.deliveries]
    return entry.model_copy(update={"deliveries": deliveries, "result": result,
                                    "message": summary[:4000]})


def written_run(written: Mapping[str, Any], record: RunRecord) -> RunRecord:
    """The run as the ReportSchedule ``written`` records it: a burst shard's write sums every
    shard's counts and leaves the result unset until the last shard is done."""
    entry = ReportScheduleStatus.of(written).run(record.run_id)
    if entry is None or not any(sharded(d) for d in entry.deliveries):
        return record
    return entry
