"""Per-run delivery state, kept where a retried run finds it: status.history[runId].deliveries.

Delivery writes the whole list of its run's records after every change (before an attempt,
and after it), so a pod killed at any moment leaves behind which targets were Sent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from bulletin.api.status import DeliveryRecord
from bulletin.kube import Kube

log = logging.getLogger(__name__)
API_RETRIES = 5


class LedgerError(RuntimeError):
    """The ledger cannot be read or written: delivery must stop, not risk sending twice."""


class Ledger(Protocol):
    """Where a run's delivery records live."""

    def load(self) -> list[DeliveryRecord]:
        """The records a previous try of this run left (empty for a new run)."""
        ...

    def save(self, records: Sequence[DeliveryRecord]) -> None:
        """Persist ``records`` (all of this run's) before returning."""
        ...


class MemoryLedger:
    """An in-memory ledger for tests; ``saves`` keeps every written list."""

    def __init__(self, records: Sequence[DeliveryRecord] = ()) -> None:
        self.records = [r.model_copy(deep=True) for r in records]
        self.saves: list[list[DeliveryRecord]] = []

    def load(self) -> list[DeliveryRecord]:
        return [r.model_copy(deep=True) for r in self.records]

    def save(self, records: Sequence[DeliveryRecord]) -> None:
        self.records = [r.model_copy(deep=True) for r in records]
        self.saves.append(self.load())


def with_deliveries(status: Mapping[str, Any], run_id: str,
                    deliveries: list[dict[str, Any]]) -> dict[str, Any]:
    """Status fields with this run's history entry (and lastRun, if it is this run) updated."""
    history = [dict(h) for h in status.get("history") or []]
    entry = next((h for h in history if h.get("runId") == run_id), None)
    if entry is None:
        raise LedgerError(f"status.history has no entry for run {run_id}")
    entry["deliveries"] = deliveries
    update: dict[str, Any] = {"history": history}
    last = status.get("lastRun")
    if isinstance(last, Mapping) and last.get("runId") == run_id:
        update["lastRun"] = {**last, "deliveries": deliveries}
    return update


class StatusLedger:
    """The ledger in the ReportSchedule's status, written with optimistic concurrency."""

    def __init__(self, kube: Kube, namespace: str, name: str, run_id: str,
                 sleep: Any = time.sleep) -> None:
        self.kube, self.namespace, self.name, self.run_id = kube, namespace, name, run_id
        self._sleep = sleep

    def _retrying(self, what: str, fn: Any) -> Any:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        for attempt in range(1, API_RETRIES + 1):
            try:
                return fn()
            except (ApiException, HTTPError, OSError) as exc:
                status = getattr(exc, "status", None)
                transient = status is None or status >= 500 or status == 429
                if not transient or attempt == API_RETRIES:
                    reason = getattr(exc, "reason", None) or type(exc).__name__
                    raise LedgerError(f"cannot {what} the delivery ledger: {reason}") from exc
                log.warning("cannot %s the delivery ledger (%s); retrying", what,
                            type(exc).__name__)
                self._sleep(min(0.5 * 2**attempt, 8))
        raise AssertionError("unreachable")

    def load(self) -> list[DeliveryRecord]:
        obj = self._retrying("read", lambda: self.kube.get_schedule(self.namespace, self.name))
        for entry in (obj.get("status") or {}).get("history") or []:
            if entry.get("runId") == self.run_id:
                return [DeliveryRecord.model_validate(d) for d in entry.get("deliveries") or []]
        return []

    def save(self, records: Sequence[DeliveryRecord]) -> None:
        wire = [r.wire() for r in records]
        self._retrying("write", lambda: self.kube.update_status(
            self.namespace, self.name, lambda st: with_deliveries(st, self.run_id, wire)))
