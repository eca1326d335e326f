"""Test doubles for delivery: an in-memory ledger, and plain artifacts and email content."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bulletin.api.status import DeliveryRecord
from bulletin.deliver.content import InlineImageLike


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
