"""Per-run delivery state, kept where a retried run finds it: status.history[runId].deliveries.

Delivery writes the whole list of its run's records after every change (before an attempt,
and after it), so a pod killed at any moment leaves behind which targets were Sent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any, Protocol

from bulletin.api.backoff import Backoff
from bulletin.api.client import Kube
from bulletin.api.history import StatusError, run_deliveries, with_deliveries
from bulletin.api.status import DeliveryRecord

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


class StatusLedger:
    """The ledger in the ReportSchedule's status, written with optimistic concurrency."""

    def __init__(self, kube: Kube, namespace: str, name: str, run_id: str,
                 sleep: Any = time.sleep) -> None:
        self.kube, self.namespace, self.name, self.run_id = kube, namespace, name, run_id
        self._sleep = sleep
        self._backoff = Backoff(initial=1.0, cap=8.0)

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
                self._sleep(self._backoff.wait(attempt))
        raise AssertionError("unreachable")

    def load(self) -> list[DeliveryRecord]:
        obj = self._retrying("read", lambda: self.kube.get_schedule(self.namespace, self.name))
        return run_deliveries(obj.get("status") or {}, self.run_id)

    def save(self, records: Sequence[DeliveryRecord]) -> None:
        try:
            self._retrying("write", lambda: self.kube.update_status(
                self.namespace, self.name, lambda st: with_deliveries(st, self.run_id, records)))
        except StatusError as exc:
            raise LedgerError(str(exc)) from exc
