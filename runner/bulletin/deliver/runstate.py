"""What every delivery target of one run shares, and the record states."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import httpx

from bulletin.api.spec import ReportScheduleSpec
from bulletin.api.status import DeliveryRecord
from bulletin.context import RunContext
from bulletin.deliver.content import ArtifactLike, ReportLike
from bulletin.deliver.email import Link
from bulletin.deliver.retry import Permanent
from bulletin.deliver.uploads import Uploads
from bulletin.period import Period

SENT, PENDING, FAILED = "Sent", "Pending", "Failed"
ARCHIVE = "archive"


def artifacts_size(artifacts: Sequence[ArtifactLike]) -> int:
    """Bytes of every artifact together."""
    return sum(a.path.stat().st_size for a in artifacts)


@dataclass
class DeliveryRun:
    """What every target of one run shares."""

    spec: ReportScheduleSpec
    ctx: RunContext
    report: ReportLike
    period: Period
    uploads: Uploads
    http: httpx.Client
    now: Callable[[], datetime]
    title: str = field(init=False)

    def __post_init__(self) -> None:
        self.title = self.spec.report.title or self.ctx.schedule

    def delivery_id(self, target: str) -> str:
        return f"{self.ctx.namespace}/{self.ctx.schedule}/{self.ctx.run_id}/{target}"

    def links(self, record: DeliveryRecord) -> list[Link]:
        """Links to the report for ``record``'s message, noted in the record."""
        links = self.uploads.links(self.now())
        record.link, record.object_keys = True, self.uploads.keys()
        return links

    def secret(self, var: str, what: str) -> str:
        """The value of the Secret key mapped to ``var``; Permanent when it is missing."""
        value = self.ctx.config.secret(var)
        if not value:
            raise Permanent(f"{what} is missing: check that the Secret and key exist")
        return value


class Target(Protocol):
    """One delivery target."""

    key: str

    def send(self, run: DeliveryRun, record: DeliveryRecord) -> None:
        """One attempt; raises DeliveryError. May fill in record (recipients, link, keys)."""
        ...


