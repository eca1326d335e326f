"""The status API: how a run changes a ReportSchedule's status (bounded history, last run,
last success, failure streaks, per-run deliveries). Pure functions over the status models
(bulletin.api.status); the runner and the operator both write status only through these, and
Kube.update_status puts the result on the wire."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from bulletin.api.errors import KubernetesError
from bulletin.api.shardstatus import merge_burst, settle, sharded
from bulletin.api.spec import ReportScheduleSpec
from bulletin.api.status import DeliveryRecord, ReportScheduleStatus, RunRecord, RunResult

_FAILURES = {RunResult.FAILED, RunResult.PARTIALLY_DELIVERED}
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


def ended_runs(status: ReportScheduleStatus) -> set[str]:
    """Ids of the runs status shows as ended (lastRun and history)."""
    return {e.run_id for e in status.runs() if e.end_time and e.run_id}


def last_success_period_end(status: ReportScheduleStatus) -> datetime | None:
    """The end of the newest period a Succeeded run in history covered."""
    ends = [h.period_end for h in status.history
            if h.result is RunResult.SUCCEEDED and h.period_end]
    return max(ends) if ends else None


def run_deliveries(status: ReportScheduleStatus, run_id: str) -> list[DeliveryRecord]:
    """The delivery records status.history keeps for run ``run_id`` (empty: none yet)."""
    entry = status.run(run_id)
    return list(entry.deliveries) if entry is not None else []


def stored_keys(entry: RunRecord) -> list[str]:
    """A history entry's object keys in storage: archived files first, then files sent as
    links."""
    records = sorted(entry.deliveries, key=lambda d: d.target != "archive")
    keys: list[str] = []
    for record in records:
        keys += [k for k in record.object_keys if k not in keys]
    return keys


def with_deliveries(status: ReportScheduleStatus, run_id: str,
                    records: Sequence[DeliveryRecord]) -> ReportScheduleStatus:
    """Status with this run's history entry (and lastRun, if it is this run) updated."""
    entry = status.run(run_id)
    if entry is None:
        raise StatusError(f"status.history has no entry for run {run_id}")
    old = {d.target: d for d in entry.deliveries}
    deliveries = [merge_burst(old.get(r.target), r) for r in records]
    history = [h.model_copy(update={"deliveries": deliveries}) if h is entry else h
               for h in status.history]
    update: dict[str, Any] = {"history": history}
    last = status.last_run
    if last is not None and last.run_id == run_id:
        update["last_run"] = last.model_copy(update={"deliveries": deliveries})
    return status.model_copy(update=update)


def unrecorded(status: ReportScheduleStatus, record: RunRecord, limit: int) -> bool:
    """Whether ``record`` is missing from status and would belong in its bounded history
    (a run older than a full history has already scrolled out, and stays out)."""
    history = status.history
    if any(h.run_id == record.run_id and h.result for h in history):
        return False
    started = _second(record.start_time)
    return len(history) < limit or any(started > h.start_time for h in history)


def _second(when: datetime) -> datetime:
    """A timestamp as status keeps it: whole seconds."""
    return when.replace(microsecond=0)


def wire_size(value: Any) -> int:
    """Bytes of ``value`` as the API server stores it: compact JSON in UTF-8, with Go's
    escapes (<, > and & take 6 bytes, U+2028 and U+2029 too)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    html, lines = (sum(text.count(c) for c in chars) for chars in ("<>&", "\u2028\u2029"))
    return len(text.encode()) + 5 * html + 3 * lines


def fitted(obj: Mapping[str, Any], status: ReportScheduleStatus, budget: int = OBJECT_BUDGET,
           ceiling: int = OBJECT_CEILING) -> tuple[ReportScheduleStatus, int]:
    """``status`` of ``obj`` (its metadata and spec), its history cut so the object fits
    ``budget`` bytes (and history HISTORY_BUDGET), and how many runs that dropped: the oldest go
    first; of the newest, lastRun keeps no lists and history only its delivery records (a
    retried run's ledger). Raises StatusTooLarge when even that leaves the object over
    ``ceiling``."""
    others = status.model_dump(by_alias=True, exclude_none=True, mode="json",
                               exclude={"history", "last_run"})
    rest = wire_size({**obj, "status": others})
    room = min(HISTORY_BUDGET, budget - rest)
    history = status.history
    sizes = [wire_size(h.wire()) for h in history]
    kept = len(history)
    while kept > 1 and sum(sizes[:kept]) + kept + sizes[0] > room:  # + commas, and lastRun
        kept -= 1
    if kept:
        status = status.model_copy(update={"history": history[:kept], "last_run": history[0]})
        if sum(sizes[:kept]) + kept + sizes[0] > room:
            last = _slimmed(history[0], ledger=False)
            status = status.model_copy(update={"last_run": last})
            if sizes[0] + wire_size(last.wire()) > room:
                status = status.model_copy(update={"history": [_slimmed(history[0], ledger=True)]})
    size = wire_size({**obj, "status": status.wire()})
    if size > ceiling:
        raise StatusTooLarge(size, ceiling)
    return status, len(history) - kept


def _slimmed(entry: RunRecord, *, ledger: bool) -> RunRecord:
    """An entry without its recipient list (the count stays in the message); without
    ``ledger``, its delivery records lose their recipients and burst keys too."""
    slim = entry.model_copy(update={"recipients": []})
    if not ledger:
        slim = _without_ledger(slim)
        slim.deliveries = [d.model_copy(update={"recipients": []}) for d in slim.deliveries]
    if count := len(entry.recipients):
        slim.message = (f"{entry.message or ''} ({count} recipients; list too long"
                        " to keep)").strip()
    return slim


def _without_ledger(entry: RunRecord) -> RunRecord:
    """An entry whose burst records keep their counts but not their sent keys."""
    if not any(d.burst and d.burst.sent_keys for d in entry.deliveries):
        return entry
    return entry.model_copy(update={"deliveries": [
        d.model_copy(update={"burst": d.burst.model_copy(update={"sent_keys": []})})
        if d.burst else d for d in entry.deliveries]})


def _merged(old: list[DeliveryRecord], new: list[DeliveryRecord]) -> list[DeliveryRecord]:
    """Delivery records of a run across its tries: a retried run must not forget what an
    earlier try sent (new records win per target; the rest are kept)."""
    fresh = {d.target: d for d in new}
    kept = [merge_burst(d, fresh.pop(d.target)) if d.target in fresh else d for d in old]
    return [*kept, *fresh.values()]


def with_run(status: ReportScheduleStatus, record: RunRecord, limit: int
             ) -> ReportScheduleStatus:
    """Status after ``record``: it replaces an entry with the same run id, newest first, at
    most ``limit`` of them (their bytes are bounded where status is written: fitted)."""
    entry = record.model_copy(deep=True)
    shard = any(sharded(d) for d in entry.deliveries)  # a burst shard's write
    previous = [h for h in status.history if h.run_id == record.run_id]
    history = [h for h in status.history if h.run_id != record.run_id]
    for old in previous:
        if old.deliveries:
            entry.deliveries = _merged(old.deliveries, entry.deliveries)
    counted = any(h.result for h in previous)
    result = record.result
    for old in previous:  # a run in progress (a burst's shards) began with its first
        if not old.result:
            entry.start_time = min(old.start_time, _second(entry.start_time))
    if shard:
        entry = settle(entry)
        result = entry.result
    # Newest first; the run being recorded goes before one that started in the same second
    # (timestamps have second precision; the sort is stable).
    history.insert(0, entry)
    history.sort(key=lambda h: _second(h.start_time), reverse=True)
    kept = min(BURST_LEDGERS_KEPT, limit)
    history = history[:kept] + [_without_ledger(h) for h in history[kept:limit]]
    streak = status.consecutive_failures
    if result is RunResult.SUCCEEDED:
        streak = 0
    elif result in _FAILURES and not counted:
        streak += 1
    update: dict[str, Any] = {"history": history, "last_run": history[0],
                              "consecutive_failures": streak}
    if result is RunResult.SUCCEEDED and entry.end_time:
        ends = [status.last_success_time, _second(entry.end_time)]
        update["last_success_time"] = max(e for e in ends if e is not None)
    return status.model_copy(update=update)


def with_next_run(status: ReportScheduleStatus, upcoming: datetime | None, now: datetime
                  ) -> ReportScheduleStatus:
    """Status as a run ending at ``now`` leaves nextRunTime: ``upcoming`` (the schedule's first
    run after ``now``) once the recorded one has passed, so NEXT RUN is right at once, not at
    the operator's next refresh; else as it was (a next run still ahead, or a schedule the
    operator has not accepted, stays as the operator wrote it)."""
    due = status.next_run_time
    if ("next_run_time" in status.unread or not status.schedule
            or (due is not None and due > now) or due == upcoming):
        return status
    return status.model_copy(update={"next_run_time": upcoming})
