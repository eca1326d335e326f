"""Which burst recipients a pod sends to: its shard of the run's Indexed Job.

The rule is stable: a recipient's key (a hash of address and parameters) taken as a number,
modulo the shard count. Every try of a shard, and every shard, computes the same split from
the same dataset, so a retried shard redoes only its own recipients.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from bulletin.api import podenv
from bulletin.runconfig import RunConfig


class Keyed(Protocol):
    @property
    def key(self) -> str: ...


K = TypeVar("K", bound=Keyed)


def shard_of(key: str, shards: int) -> int:
    """The shard of a recipient key (hex, e.g. Recipient.key)."""
    return int(key[:12], 16) % shards


@dataclass(frozen=True)
class Shard:
    """This pod's shard: ``index`` of ``count``; ``job_uid`` owns its ledger (empty outside
    a Job)."""

    index: int = 0
    count: int = 1
    job_uid: str = ""

    @classmethod
    def of(cls, config: RunConfig) -> Shard:
        """From the run's config: JOB_COMPLETION_INDEX (Kubernetes) and BULLETIN_BURST_SHARDS."""
        count = int(config.shard_count or 1)
        index = int(config.shard_index or 0)
        if not 0 <= index < count:
            raise ValueError(f"{podenv.COMPLETION_INDEX}={index} is not a shard of {count}")
        return cls(index, count, config.job_uid)

    def mine(self, recipients: Sequence[K]) -> list[K]:
        """The recipients this shard sends to, in their order."""
        return [r for r in recipients if shard_of(r.key, self.count) == self.index]
