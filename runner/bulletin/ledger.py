"""Per-run delivery state, kept where a retried run finds it: status.history[runId].deliveries.

Delivery writes the whole list of its run's records after every change (before an attempt,
and after it), so a pod killed at any moment leaves behind which targets were Sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bulletin.api.client import Kube
from bulletin.api.errors import KubernetesError
from bulletin.api.gateway import API_ERRORS, reason
from bulletin.api.history import StatusError, run_deliveries, with_deliveries
from bulletin.api.status import DeliveryRecord, ReportScheduleStatus

_API_ERRORS = (*API_ERRORS, RuntimeError)  # RuntimeError: endless 409s


class LedgerError(KubernetesError):
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
    """The ledger in the ReportSchedule's status, written with optimistic concurrency.

    ``Kube`` already outlasts API outages; an error that still comes out stops delivery."""

    def __init__(self, kube: Kube, namespace: str, name: str, run_id: str) -> None:
        self.kube, self.namespace, self.name, self.run_id = kube, namespace, name, run_id

    def load(self) -> list[DeliveryRecord]:
        try:
            obj = self.kube.get_schedule(self.namespace, self.name)
        except _API_ERRORS as exc:
            raise LedgerError(f"cannot read the delivery ledger: {reason(exc)}") from exc
        return run_deliveries(ReportScheduleStatus.of(obj), self.run_id)

    def save(self, records: Sequence[DeliveryRecord]) -> None:
        try:
            self.kube.update_status(
                self.namespace, self.name, lambda st: with_deliveries(st, self.run_id, records))
        except StatusError as exc:
            raise LedgerError(str(exc)) from exc
        except _API_ERRORS as exc:
            raise LedgerError(f"cannot write the delivery ledger: {reason(exc)}") from exc
