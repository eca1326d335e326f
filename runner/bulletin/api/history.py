"""The status API: how a run changes a ReportSchedule's status (bounded history, last run,
last success, failure streaks, per-run deliveries). Pure functions over the status's wire form
(camelCase, as in the CRD); the runner and the operator both write status only through these."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from bulletin.api.errors import KubernetesError
from bulletin.api.shardstatus import merge_burst, settle, sharded
from bulletin.api.spec import ReportScheduleSpec
from bulletin.api.status import DeliveryRecord, ReportScheduleStatus, RunRecord, RunResult

_FAILURES = {RunResult.FAILED.value, RunResult.PARTIALLY_DELIVERED.value}
_RUNS = ("history", "lastRun")
# etcd refuses a request over 1.5 MiB (its default --max-request-bytes; the API server passes
# the refusal on as a 500 "etcdserver: request is too large"), and a status write it refuses
# leaves the run unrecorded. The whole object counts (spec, metadata and status), and history
# gives way, oldest runs first, so that the object stays under OBJECT_BUDGET: 1 MiB keeps a
# third of etcd's limit free for the tenant's next spec edit, for what other writers add
# (the operator's conditions, managedFields) and for etcd's key and framing.
ETCD_REQUEST_LIMIT = 1_572_864
OBJECT_BUDGET = 1024 * 1024
# A spec too large for that budget still gets its newest run recorded (lists cut) while the
# object stays under OBJECT_CEILING (16 KiB below etcd's limit); past it, StatusTooLarge.
OBJECT_CEILING = ETCD_REQUEST_LIMIT - 16 * 1024
# History alone (lastRun repeats its newest entry) stays under this, whatever the spec's
# historyLimit and the number of recipients.
HISTORY_BUDGET = 400 * 1024
HISTORY_LIMIT: int = ReportScheduleSpec.model_fields["history_limit"].default
# A burst's ledger (deliveries[].burst.sentKeys, up to 13 bytes per recipient) matters only
# while its run may still be retried: older entries keep the counts and drop the keys.
BURST_LEDGERS_KEPT = 3


class StatusError(KubernetesError):
    """Status lacks what a change needs (a run's history entry)."""


class StatusTooLarge(KubernetesError):
    """The ReportSchedule has no room left to record a run: its spec and metadata, with the
    smallest status that records it, are more than the API server stores (``refused``: the API
    server said so, ``size`` being ours)."""

    def __init__(self, size: int, limit: int, *, refused: bool = False) -> None:
        self.size, self.limit = size, limit
        where = (f"the API server refused it as too large (etcd's default limit is {limit:,})"
                 if refused else f"over the {limit:,} it may have (etcd's 1.5 MiB request limit"
                 " less headroom)")
        self.reason = (f"the ReportSchedule would be {size:,} bytes with this run in its status,"
                       f" {where}: shrink its spec (e.g. the datasets' queries) under 1 MiB")
        super().__init__(self.reason)


def history_limit(obj: Mapping[str, Any]) -> int:
    """The ReportSchedule object's spec.historyLimit, or its default."""
    return int((obj.get("spec") or {}).get("historyLimit") or HISTORY_LIMIT)


def consecutive_failures(status: Mapping[str, Any]) -> int:
    """Failed runs in a row, as the runs counted them."""
    return int(status.get("consecutiveFailures") or 0)


def ended_runs(status: Mapping[str, Any]) -> set[str]:
    """Ids of the runs status shows as ended (lastRun and history)."""
    entries = [status.get("lastRun") or {}, *(status.get("history") or [])]
    return {str(e["runId"]) for e in entries if e.get("endTime") and e.get("runId")}


def last_success_period_end(status: Mapping[str, Any]) -> datetime | None:
    """The end of the newest period a Succeeded run in history covered."""
    ends = [h["periodEnd"] for h in status.get("history") or []
            if h.get("result") == RunResult.SUCCEEDED.value and h.get("periodEnd")]
    return datetime.fromisoformat(max(ends)) if ends else None


def deliveries_of(entry: Mapping[str, Any]) -> list[DeliveryRecord]:
    """A history entry's delivery records."""
    return [DeliveryRecord.model_validate(d) for d in entry.get("deliveries") or []]


def run_deliveries(status: Mapping[str, Any], run_id: str) -> list[DeliveryRecord]:
    """The delivery records status.history keeps for run ``run_id`` (empty: none yet)."""
    for entry in status.get("history") or []:
        if entry.get("runId") == run_id:
            return deliveries_of(entry)
    return []


def stored_keys(entry: Mapping[str, Any]) -> list[str]:
    """A history entry's object keys in storage: archived files first, then files sent as
    links."""
    records = sorted(deliveries_of(entry), key=lambda d: d.target != "archive")
    keys: list[str] = []
    for record in records:
        keys += [k for k in record.object_keys if k not in keys]
    return keys


def with_deliveries(status: Mapping[str, Any], run_id: str,
                    records: Sequence[DeliveryRecord]) -> dict[str, Any]:
    """Status fields with this run's history entry (and lastRun, if it is this run) updated."""
    history = [dict(h) for h in status.get("history") or []]
    entry = next((h for h in history if h.get("runId") == run_id), None)
    if entry is None:
        raise StatusError(f"status.history has no entry for run {run_id}")
    old = {d.get("target"): d for d in entry.get("deliveries") or []}
    deliveries = [merge_burst(old.get(r.target) or {}, r.wire()) for r in records]
    entry["deliveries"] = deliveries
    update: dict[str, Any] = {"history": history}
    last = status.get("lastRun")
    if isinstance(last, Mapping) and last.get("runId") == run_id:
        update["lastRun"] = {**last, "deliveries": deliveries}
    return update


def unrecorded(status: Mapping[str, Any], record: RunRecord, limit: int) -> bool:
    """Whether ``record`` is missing from status and would belong in its bounded history
    (a run older than a full history has already scrolled out, and stays out)."""
    history = status.get("history") or []
    if any(h.get("runId") == record.run_id and h.get("result") for h in history):
        return False
    started = record.wire()["startTime"]
    return len(history) < limit or any(started > (h.get("startTime") or "") for h in history)


def wire_size(value: Any) -> int:
    """Bytes of ``value`` as the API server stores it: compact JSON in UTF-8, with Go's
    escapes (<, > and & take 6 bytes, U+2028 and U+2029 too)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    html, lines = (sum(text.count(c) for c in chars) for chars in ("<>&", "\u2028\u2029"))
    return len(text.encode()) + 5 * html + 3 * lines


def fitted(obj: Mapping[str, Any], budget: int = OBJECT_BUDGET, ceiling: int = OBJECT_CEILING
           ) -> tuple[dict[str, Any], int]:
    """``obj``'s status, its history cut so the object fits ``budget`` bytes (and history
    HISTORY_BUDGET), and how many runs that dropped: the oldest go first; of the newest, lastRun
    keeps no lists and history only its delivery records (a retried run's ledger). Raises
    StatusTooLarge when even that leaves the object over ``ceiling``."""
    status = dict(obj.get("status") or {})
    rest = wire_size({**obj, "status": {k: v for k, v in status.items() if k not in _RUNS}})
    room = min(HISTORY_BUDGET, budget - rest)
    history = list(status.get("history") or [])
    sizes = [wire_size(h) for h in history]
    kept = len(history)
    while kept > 1 and sum(sizes[:kept]) + kept + sizes[0] > room:  # + commas, and lastRun
        kept -= 1
    if kept:
        status["history"], status["lastRun"] = history[:kept], history[0]
        if sum(sizes[:kept]) + kept + sizes[0] > room:
            status["lastRun"] = _slimmed(history[0], ledger=False)
            if sizes[0] + wire_size(status["lastRun"]) > room:
                status["history"] = [_slimmed(history[0], ledger=True)]
    size = wire_size({**obj, "status": status})
    if size > ceiling:
        raise StatusTooLarge(size, ceiling)
    return status, len(history) - kept


def _slimmed(entry: dict[str, Any], *, ledger: bool) -> dict[str, Any]:
    """An entry without its recipient list (the count stays in the message); without
    ``ledger``, its delivery records lose their recipients and burst keys too."""
    slim = {**entry, "recipients": []}
    if not ledger:
        slim = _without_ledger(slim)
        slim["deliveries"] = [{**d, "recipients": []} for d in slim.get("deliveries") or []]
    count = len(entry.get("recipients") or [])
    if count:
        slim["message"] = (f"{entry.get('message') or ''} ({count} recipients; list too long"
                           " to keep)").strip()
    return slim


def _without_ledger(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry whose burst records keep their counts but not their sent keys."""
    records = entry.get("deliveries") or []
    if not any((d.get("burst") or {}).get("sentKeys") for d in records):
        return entry
    return {**entry, "deliveries": [
        {**d, "burst": {k: v for k, v in d["burst"].items() if k != "sentKeys"}}
        if d.get("burst") else d for d in records]}


def _merged(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Delivery records of a run across its tries: a retried run must not forget what an
    earlier try sent (new records win per target; the rest are kept)."""
    fresh = {d.get("target"): d for d in new}
    kept = [merge_burst(d, fresh.pop(d.get("target"))) if d.get("target") in fresh else d
            for d in old]
    return [*kept, *fresh.values()]


def with_run(status: Mapping[str, Any], record: RunRecord, limit: int) -> dict[str, Any]:
    """Status fields after ``record``: it replaces an entry with the same run id, newest first,
    at most ``limit`` of them (their bytes are bounded where status is written: fitted)."""
    entry = record.wire()
    shard = any(sharded(d) for d in entry.get("deliveries") or [])  # a burst shard's write
    previous_history = status.get("history") or []
    history = [h for h in previous_history if h.get("runId") != record.run_id]
    for old in previous_history:
        if old.get("runId") == record.run_id and old.get("deliveries"):
            entry["deliveries"] = _merged(old["deliveries"], entry.get("deliveries") or [])
    counted = any(h.get("runId") == record.run_id and h.get("result") for h in previous_history)
    result = record.result
    for old in previous_history:  # a run in progress (a burst's shards) began with its first
        if old.get("runId") == record.run_id and old.get("startTime") and not old.get("result"):
            entry["startTime"] = min(old["startTime"], entry["startTime"])
    if shard:
        settle(entry)
        result = RunResult(entry["result"]) if entry.get("result") else None
    # Newest first; the run being recorded goes before one that started in the same second
    # (timestamps have second precision; the sort is stable).
    history.insert(0, entry)
    history.sort(key=lambda h: h.get("startTime") or "", reverse=True)
    kept = min(BURST_LEDGERS_KEPT, limit)
    history = history[:kept] + [_without_ledger(h) for h in history[kept:limit]]
    latest = history[0]
    streak = int(status.get("consecutiveFailures") or 0)
    if result is RunResult.SUCCEEDED:
        streak = 0
    elif result is not None and result.value in _FAILURES and not counted:
        streak += 1
    update: dict[str, Any] = {"history": history, "lastRun": latest, "consecutiveFailures": streak}
    if result is RunResult.SUCCEEDED and entry.get("endTime"):
        previous = status.get("lastSuccessTime")
        update["lastSuccessTime"] = max(filter(None, [previous, entry["endTime"]]))
    return update


def with_next_run(status: Mapping[str, Any], upcoming: datetime | None, now: datetime
                  ) -> dict[str, Any]:
    """Status fields as a run ending at ``now`` leaves nextRunTime: ``upcoming`` (the schedule's
    first run after ``now``) once the recorded one has passed, so NEXT RUN is right at once, not
    at the operator's next refresh; else none (a next run still ahead, or a schedule the
    operator has not accepted, stays as the operator wrote it)."""
    try:
        current = ReportScheduleStatus.model_validate(
            {"schedule": status.get("schedule"), "nextRunTime": status.get("nextRunTime")})
    except ValidationError:
        return {}
    due = current.next_run_time
    if not current.schedule or (due is not None and due > now) or due == upcoming:
        return {}
    return ReportScheduleStatus(next_run_time=upcoming).model_dump(
        mode="json", by_alias=True, include={"next_run_time"})
