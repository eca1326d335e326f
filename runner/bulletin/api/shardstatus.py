"""A burst run's status across its shards (pure functions over the wire form).

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


def sharded(record: Mapping[str, Any]) -> bool:
    """Whether a delivery record (wire form) is a sharded burst's."""
    return bool((record.get("burst") or {}).get("shardCount"))


def merge_burst(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """One target's record across shards: ``new``'s shards over ``old``'s, counts summed."""
    if not (sharded(old) and sharded(new)):
        return dict(new)
    was, now = old["burst"], new["burst"]
    shards = {s["index"]: s for s in was.get("shards") or []}
    shards.update({s["index"]: s for s in now.get("shards") or []})
    ordered = [shards[i] for i in sorted(shards)]
    fresh = list(now.get("failures") or [])
    failures = [*fresh, *(f for f in was.get("failures") or [] if f not in fresh)]
    burst = {**was, **now, "shards": ordered, "failures": failures[:BURST_FAILURES_SHOWN],
             "shardCount": max(was["shardCount"], now["shardCount"])}
    burst.update({k: sum(int(s.get(k) or 0) for s in ordered) for k in _COUNTS})
    merged = {**old, **new, "burst": burst,
              "attempts": max(int(old.get("attempts") or 0), int(new.get("attempts") or 0))}
    if "error" not in new and old.get("error"):
        merged["error"] = old["error"]
    return merged


def all_done(record: Mapping[str, Any]) -> bool:
    """Whether every shard of a sharded burst record has tried all its recipients."""
    burst = record.get("burst") or {}
    shards = burst.get("shards") or []
    return len(shards) >= int(burst.get("shardCount") or 0) and all(s.get("done")
                                                                    for s in shards)


def settle(entry: dict[str, Any]) -> None:
    """A history entry whose burst record a shard just wrote: in progress until every shard
    is done (no result, no end), then the run's result from the summed counts."""
    records = [d for d in entry.get("deliveries") or [] if sharded(d)]
    if not records:
        return
    record = records[0]
    if not all_done(record):
        burst = record["burst"]
        done = sum(1 for s in burst.get("shards") or [] if s.get("done"))
        entry.pop("result", None)
        entry.pop("endTime", None)
        entry["message"] = (f"burst in progress: {done} of {burst['shardCount']} shards done,"
                            f" {burst.get('sent', 0)} of {burst.get('recipients', 0)} seen"
                            " recipients sent")
        return
    model = DeliveryRecord.model_validate(record)
    result, summary = burst_result(model)
    record["state"] = "Sent" if result in (RunResult.SUCCEEDED, RunResult.SKIPPED) else "Failed"
    entry["result"], entry["message"] = result.value, summary[:4000]


def written_run(written: Mapping[str, Any], record: RunRecord) -> RunRecord:
    """The run as the ReportSchedule ``written`` records it: a burst shard's write sums every
    shard's counts and leaves the result unset until the last shard is done."""
    history = (written.get("status") or {}).get("history") or []
    entry = next((h for h in history if h.get("runId") == record.run_id), None)
    if entry is None or not any(sharded(d) for d in entry.get("deliveries") or []):
        return record
    return RunRecord.model_validate(entry)
