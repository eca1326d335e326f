"""Test doubles: an in-memory ReportSchedule API and ledger, and plain artifacts and email
content."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bulletin.api.status import DeliveryRecord, ReportScheduleStatus
from bulletin.deliver.content import InlineImageLike


class MemoryKube:
    """A ReportSchedule's reads, status writes and Events (bulletin.api.client.Kube), and its
    ReportCalendars, in memory; ``events`` keeps the Events' reasons."""

    def __init__(self, obj: dict[str, Any],
                 calendars: dict[str, dict[str, Any]] | None = None) -> None:
        self.obj, self.calendars = obj, calendars or {}
        self.events: list[str] = []

    def get_schedule(self, namespace: str, name: str) -> dict[str, Any]:
        return copy.deepcopy(self.obj)

    def get_calendar(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.calendars.get(name)

    def update_status(self, namespace: str, name: str,
                      change: Callable[[ReportScheduleStatus], ReportScheduleStatus],
                      on_trim: Callable[[int], None] | None = None) -> dict[str, Any]:
        before = ReportScheduleStatus.parse(self.obj.get("status"))
        self.obj["status"] = {**(self.obj.get("status") or {}), **before.changes(change(before))}
        return copy.deepcopy(self.obj)

    def event(self, obj: Mapping[str, Any], *, warning: bool, reason: str, message: str) -> None:
        self.events.append(reason)

    def status(self) -> ReportScheduleStatus:
        """The status written so far, as the model reads it."""
        return ReportScheduleStatus.model_validate(self.obj["status"])

    def history(self) -> list[dict[str, Any]]:
        """status.history as written."""
        return list(self.obj["status"]["history"])


class MemoryLedger:
    """An in-memory ledger (bulletin.ledger.Ledger); ``saves`` keeps every written list."""

    def __init__(self, records: Sequence[DeliveryRecord] = ()) -> None:
        self.records = [r.model_copy(deep=True) for r in records]
        self.saves: list[list[DeliveryRecord]] = []

    def load(self) -> list[DeliveryRecord]:
        return [r.model_copy(deep=True) for r in self.records]

    def save(self, records: Sequence[DeliveryRecord]) -> None:
        self.records = [r.model_copy(deep=True) for r in records]
        self.saves.append(self.load())


class MemoryStore:
    """Where a shard's ledger lives in unit tests (bulletin.shardledger.Store), with versions;
    ``writes`` counts creates and replaces."""

    def __init__(self) -> None:
        self.data: dict[str, str] | None = None
        self.version, self.writes = 0, 0

    def read(self) -> tuple[dict[str, str] | None, str]:
        return (None if self.data is None else dict(self.data)), str(self.version)

    def create(self, data: Mapping[str, str]) -> str:
        from bulletin.shardledger import LedgerConflict

        if self.data is not None:
            raise LedgerConflict("exists")
        return self._put(data)

    def replace(self, data: Mapping[str, str], version: str) -> str:
        from bulletin.shardledger import LedgerConflict

        if version != str(self.version):
            raise LedgerConflict("changed")
        return self._put(data)

    def _put(self, data: Mapping[str, str]) -> str:
        self.data, self.version, self.writes = dict(data), self.version + 1, self.writes + 1
        return str(self.version)


def memory_book(targets: Sequence[str] = ("email",), store: MemoryStore | None = None) -> Any:
    """A shard ledger (bulletin.shardledger.ShardLedger) over a MemoryStore."""
    from bulletin.shardledger import ShardLedger

    return ShardLedger(store or MemoryStore(), targets)


@dataclass(frozen=True)
class FileArtifact:
    """A report file and its content type."""

    path: Path
    content_type: str


@dataclass(frozen=True)
class PlainEmail:
    """Email content without inline images."""

    subject: str
    text: str
    html: str | None
    inline_images: Sequence[InlineImageLike] = ()
