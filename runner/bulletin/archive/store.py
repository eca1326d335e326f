"""Writing and reading the archive: idempotent upserts of run records, the audit, pruning by
age, and the queries the console and the plugin make."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, and_, case, delete, func, select
from sqlalchemy.dialects import mysql, postgresql

from bulletin.api.history import stored_keys
from bulletin.api.status import RunRecord, RunResult, Trigger
from bulletin.archive.schema import ACTIONS, audit, aware, engine_for, metadata, naive, runs

UPDATED = [c.name for c in runs.columns if not c.primary_key]


@dataclass(frozen=True)
class Archived:
    """One archived run: its record as the status models give it, and its stored files."""

    namespace: str
    schedule: str
    record: RunRecord
    object_keys: list[str]


@dataclass(frozen=True)
class AuditEntry:
    """Who fetched which file of a run, when, and from where."""

    at: datetime
    user: str
    action: str
    object_key: str
    client: str
    run_id: str = ""


@dataclass(frozen=True)
class ArchiveStats:
    """A schedule's runs since a time: counts by result, durations, rows and bytes."""

    runs: int
    succeeded: int
    failed: int
    seconds: float | None  # mean duration of the ended runs
    rows: int
    bytes: int


def _row(namespace: str, schedule: str, entry: dict[str, Any], now: datetime) -> dict[str, Any]:
    record = RunRecord.model_validate(entry)
    return {"namespace": namespace, "schedule": schedule, "run_id": record.run_id,
            "trigger": record.trigger.value,
            "result": record.result.value if record.result else None,
            "scheduled_time": naive(record.scheduled_time),
            "start_time": naive(record.start_time), "end_time": naive(record.end_time),
            "period_start": naive(record.period_start), "period_end": naive(record.period_end),
            "rows": record.rows, "bytes": record.bytes,
            "object_keys": json.dumps(stored_keys(record)),
            "record": json.dumps(record.wire(), separators=(",", ":")), "updated": naive(now)}


class Archive:
    """The archive at one URL (the URL is never logged or shown: it holds a password)."""

    def __init__(self, url: str | None = None, engine: Engine | None = None) -> None:
        if engine is None:
            assert url is not None
            engine = engine_for(url)
        self.engine = engine

    def create(self) -> None:
        """Create the tables (and indexes) that are missing."""
        metadata.create_all(self.engine)

    def _upsert(self, rows: list[dict[str, Any]]) -> Any:
        if self.engine.dialect.name == "postgresql":
            pg = postgresql.insert(runs).values(rows)
            return pg.on_conflict_do_update(index_elements=[c.name for c in runs.primary_key],
                                            set_={c: pg.excluded[c] for c in UPDATED})
        my = mysql.insert(runs).values(rows)
        return my.on_duplicate_key_update({c: my.inserted[c] for c in UPDATED})

    def write(self, namespace: str, schedule: str, entries: Iterable[dict[str, Any]],
              now: datetime | None = None) -> int:
        """Insert or update the runs of status.history ``entries`` (wire form); how many."""
        now = now or datetime.now(UTC)
        rows = [_row(namespace, schedule, dict(e), now) for e in entries]
        if rows:
            with self.engine.begin() as conn:
                conn.execute(self._upsert(rows))
        return len(rows)

    def prune(self, cutoff: datetime) -> tuple[int, int]:
        """Delete runs that started, and audit entries made, before ``cutoff``."""
        with self.engine.begin() as conn:
            gone = conn.execute(delete(runs).where(runs.c.start_time < naive(cutoff))).rowcount
            seen = conn.execute(delete(audit).where(audit.c.at < naive(cutoff))).rowcount
        return int(gone or 0), int(seen or 0)

    def runs(self, namespace: str, schedule: str, since: datetime, limit: int = 50,
             offset: int = 0) -> list[Archived]:
        """The schedule's runs started since ``since``, newest first, a page of them."""
        query = (select(runs.c.record, runs.c.object_keys)
                 .where(runs.c.namespace == namespace, runs.c.schedule == schedule,
                        runs.c.start_time >= naive(since))
                 .order_by(runs.c.start_time.desc(), runs.c.run_id.desc())
                 .limit(limit).offset(offset))
        with self.engine.connect() as conn:
            found = conn.execute(query).all()
        return [Archived(namespace, schedule, RunRecord.model_validate_json(r.record),
                         json.loads(r.object_keys)) for r in found]

    def run(self, namespace: str, schedule: str, run_id: str) -> Archived | None:
        """One run of the schedule, if archived."""
        query = select(runs.c.record, runs.c.object_keys).where(
            runs.c.namespace == namespace, runs.c.schedule == schedule, runs.c.run_id == run_id)
        with self.engine.connect() as conn:
            found = conn.execute(query).first()
        return (Archived(namespace, schedule, RunRecord.model_validate_json(found.record),
                         json.loads(found.object_keys)) if found else None)

    def figures(self, namespaces: Sequence[str], since: datetime
                ) -> list[tuple[str, str, RunRecord]]:
        """(namespace, schedule, record) of every run in ``namespaces`` started since
        ``since``, with only what statistics need (result, times, rows, bytes): records are
        built without validation, from the archive's own columns."""
        query = (select(runs.c.namespace, runs.c.schedule, runs.c.run_id, runs.c.trigger,
                        runs.c.result, runs.c.start_time, runs.c.end_time, runs.c.rows,
                        runs.c.bytes)
                 .where(runs.c.namespace.in_(list(namespaces)),
                        runs.c.start_time >= naive(since)))
        with self.engine.connect() as conn:
            found = conn.execute(query).all()
        return [(r.namespace, r.schedule, RunRecord.model_construct(
            run_id=r.run_id, trigger=Trigger(r.trigger),
            result=RunResult(r.result) if r.result else None, start_time=aware(r.start_time),
            end_time=aware(r.end_time), rows=r.rows, bytes=r.bytes)) for r in found]

    def count(self, namespace: str, schedule: str, since: datetime) -> int:
        """How many runs of the schedule started since ``since``."""
        query = select(func.count()).select_from(runs).where(
            runs.c.namespace == namespace, runs.c.schedule == schedule,
            runs.c.start_time >= naive(since))
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def stats(self, namespace: str, schedule: str, since: datetime) -> ArchiveStats:
        """The schedule's runs since ``since``, summed up."""
        ok = runs.c.result == "Succeeded"
        bad = runs.c.result.in_(("Failed", "PartiallyDelivered"))
        query = select(func.count(), func.sum(case((ok, 1), else_=0)),
                       func.sum(case((bad, 1), else_=0)), func.coalesce(func.sum(runs.c.rows), 0),
                       func.coalesce(func.sum(runs.c.bytes), 0)).where(
            runs.c.namespace == namespace, runs.c.schedule == schedule,
            runs.c.start_time >= naive(since))
        times = select(runs.c.start_time, runs.c.end_time).where(
            runs.c.namespace == namespace, runs.c.schedule == schedule,
            runs.c.start_time >= naive(since), runs.c.end_time.is_not(None))
        with self.engine.connect() as conn:
            total, good, failed, rows, size = conn.execute(query).one()
            spans = [(e - s).total_seconds() for s, e in conn.execute(times)]
        return ArchiveStats(int(total), int(good or 0), int(failed or 0),
                     sum(spans) / len(spans) if spans else None, int(rows), int(size))

    def record_access(self, user: str, action: str, namespace: str, schedule: str,
                      run_id: str, keys: Sequence[str], client: str,
                      now: datetime | None = None) -> None:
        """Audit: ``user`` fetched (download) or was handed links to (link) ``keys``."""
        if action not in ACTIONS:
            raise ValueError(f"audit action must be one of {ACTIONS}")
        at = naive(now or datetime.now(UTC))
        rows = [{"at": at, "user": user[:512], "action": action, "namespace": namespace,
                 "schedule": schedule, "run_id": run_id, "object_key": key[:1024],
                 "client": client[:256]} for key in keys]
        if rows:
            with self.engine.begin() as conn:
                conn.execute(audit.insert(), rows)

    def accesses(self, namespace: str, schedule: str, run_id: str | None = None,
                 limit: int = 100) -> list[AuditEntry]:
        """Audit entries of the schedule (of one run), newest first."""
        where = and_(audit.c.namespace == namespace, audit.c.schedule == schedule,
                     *([audit.c.run_id == run_id] if run_id else []))
        query = (select(audit).where(where).order_by(audit.c.at.desc(), audit.c.id.desc())
                 .limit(limit))
        with self.engine.connect() as conn:
            found = conn.execute(query).all()
        return [AuditEntry(aware(r.at) or r.at, r.user, r.action, r.object_key, r.client,
                           r.run_id) for r in found]
