"""The run's artifacts in object storage: uploaded once, linked on demand, pruned by age."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from bulletin.api.errors import DeliveryError
from bulletin.api.spec import ReportScheduleSpec
from bulletin.api.status import DeliveryRecord
from bulletin.context import RunContext
from bulletin.deliver.content import ArtifactLike
from bulletin.deliver.email import Link
from bulletin.deliver.netguard import NetPolicy
from bulletin.deliver.retry import Permanent
from bulletin.deliver.storage import ObjectStore, run_prefix, schedule_prefix
from bulletin.redact import redact
from bulletin.runconfig import RunConfig

log = logging.getLogger("bulletin.deliver")


class Uploads:
    """The run's artifacts in storage: uploaded once per process, presigned on demand."""

    def __init__(self, store: ObjectStore | None, store_error: DeliveryError | None,
                 prefix: str, artifacts: Sequence[ArtifactLike]) -> None:
        self.store, self.store_error, self.prefix = store, store_error, prefix
        self.artifacts = artifacts
        self._done: list[str] | None = None

    @property
    def configured(self) -> bool:
        return self.store is not None or self.store_error is not None

    def _store(self) -> ObjectStore:
        if self.store is None:
            raise self.store_error or Permanent("delivery.storage is not set")
        return self.store

    def adopt(self, keys: Sequence[str]) -> None:
        """Keys a previous try of this run already uploaded (its archive record is Sent)."""
        if keys:
            self._done = list(keys)

    def keys(self) -> list[str]:
        """Upload every artifact (the first time) and return the object keys."""
        if self._done is None:
            store = self._store()
            keys = []
            for artifact in self.artifacts:
                key = f"{self.prefix}/{artifact.path.name}"
                store.put_file(key, artifact.path, artifact.content_type)
                keys.append(key)
            self._done = keys
        return list(self._done)

    def links(self, now: datetime) -> list[Link]:
        """Fresh presigned links to every artifact (uploading them first if need be)."""
        store = self._store()
        seconds = store.storage.link_expiry_seconds
        sizes = {a.path.name: a.path.stat().st_size for a in self.artifacts}
        when = f"{now + timedelta(seconds=seconds):%Y-%m-%d %H:%M} UTC"
        return [Link(name=k.rsplit("/", 1)[-1], url=store.presign(k, seconds),
                     size=sizes.get(k.rsplit("/", 1)[-1], 0), expires=when)
                for k in self.keys()]


def open_store(spec: ReportScheduleSpec, config: RunConfig
               ) -> tuple[ObjectStore | None, DeliveryError | None]:
    """The run's object store, or why it cannot be used (None, None: no storage)."""
    storage = spec.delivery.storage
    if storage is None:
        return None, None
    try:
        return ObjectStore(storage, config.storage, storage.credentials_secret_ref.name,
                           NetPolicy.of(config)), None
    except DeliveryError as exc:
        return None, exc


def upload_prefix(ctx: RunContext, records: Sequence[DeliveryRecord], now: datetime) -> str:
    """The run's folder in storage."""
    for record in records:  # a retried run keeps the first try's folder
        if record.object_keys:
            return record.object_keys[0].rsplit("/", 1)[0]
    return run_prefix(ctx.namespace, ctx.schedule, ctx.scheduled_time or now, ctx.run_id)


def apply_retention(spec: ReportScheduleSpec, ctx: RunContext, store: ObjectStore | None,
                    now: datetime, secrets: list[str]) -> None:
    """Delete this schedule's stored runs older than storage.retentionDays (0: keep all)."""
    storage = spec.delivery.storage
    if storage is None or store is None or storage.retention_days == 0:
        return
    cutoff = now - timedelta(days=storage.retention_days)
    try:
        deleted = store.prune(schedule_prefix(ctx.namespace, ctx.schedule), cutoff)
    except DeliveryError as exc:
        log.warning("retention: %s", redact(str(exc), secrets))
        return
    if deleted:
        log.info("retention: deleted %d object(s) older than %d days", len(deleted),
                 storage.retention_days)


