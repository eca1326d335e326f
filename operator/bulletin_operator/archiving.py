"""The operator's side of the run archive: every run a schedule's status.history gains or
changes is upserted into the archive, and records past the retention are pruned (by the
replica that leads, the only one whose handlers run). A failing archive costs a log line and
a metric, never a reconcile; the URL (it holds a password) is never logged."""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import kopf
from bulletin.api.spec import GROUP, PLURAL, VERSION
from bulletin.api.status import ReportScheduleStatus, RunRecord
from bulletin.archive.config import DEFAULT_RETENTION_DAYS, mounted_url
from bulletin.archive.store import Archive
from prometheus_client import Counter

from bulletin_operator.settings import config

RETENTION = "BULLETIN_ARCHIVE_RETENTION_DAYS"
PRUNE_EVERY = "BULLETIN_ARCHIVE_PRUNE_SECONDS"
RUNS_KEPT = 100_000  # run fingerprints remembered (an unchanged run is not written again)
QUEUED = 10_000  # schedules' changes waiting for the writer at most
LOG = logging.getLogger("bulletin_operator.archive")

WRITES = Counter("bulletin_archive_writes", "Run records written to the run archive.")
FAILURES = Counter("bulletin_archive_write_failures", "Failed writes to the run archive"
                   " (the runs are written again at the schedule's next status change).",
                   ["operation"])
for _operation in ("write", "prune"):
    FAILURES.labels(_operation)  # exported as 0 before the first failure


def _fingerprint(entry: RunRecord) -> str:
    return hashlib.sha256(json.dumps(entry.wire(), sort_keys=True).encode()).hexdigest()[:16]


class Archiver:
    """Writes changed runs of each schedule from a queue, in a daemon thread (a slow or
    unreachable archive never holds up a watch event); prunes in another."""

    def __init__(self, archive: Archive, retention_days: int, prune_every: float) -> None:
        self.archive, self.retention_days, self.prune_every = archive, retention_days, prune_every
        self._seen: dict[tuple[str, str, str], str] = {}  # written, or queued to be
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._queue: queue.Queue[tuple[str, str, list[RunRecord]]] = queue.Queue(QUEUED)
        self._threads = [threading.Thread(target=self._loop, name="archive-prune", daemon=True),
                         threading.Thread(target=self._drain, name="archive-write", daemon=True)]
        self._ready, self._creating = False, threading.Lock()
        self._started = False

    def start(self) -> None:
        """Start writing and pruning (once; from the first event: handlers run only on the
        leader)."""
        with self._lock:
            if self._started:
                return
            self._started = True
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._started:
            for thread in self._threads:
                thread.join(timeout=5)

    def changed(self, namespace: str, name: str, status: ReportScheduleStatus
                ) -> list[RunRecord]:
        """The history entries not yet written (or queued) as they are now."""
        with self._lock:
            return [entry for entry in status.history
                    if self._seen.get((namespace, name, entry.run_id)) != _fingerprint(entry)]

    def _mark(self, namespace: str, name: str, entries: list[RunRecord], done: bool) -> None:
        """Remember ``entries`` as written (``done``), or forget them for a retry."""
        with self._lock:
            if done and len(self._seen) > RUNS_KEPT:
                self._seen.clear()
            for entry in entries:
                key = (namespace, name, entry.run_id)
                if done:
                    self._seen[key] = _fingerprint(entry)
                elif self._seen.get(key) == _fingerprint(entry):
                    del self._seen[key]

    def submit(self, namespace: str, name: str, status: ReportScheduleStatus) -> None:
        """Queue the schedule's new or changed runs for the writer (from the event loop)."""
        self.start()
        entries = self.changed(namespace, name, status)
        if not entries:
            return
        self._mark(namespace, name, entries, done=True)
        try:
            self._queue.put_nowait((namespace, name, entries))
        except queue.Full:
            self._mark(namespace, name, entries, done=False)
            FAILURES.labels("write").inc()
            LOG.warning("run archive: %d runs of %s/%s not queued (the writer is %d behind);"
                        " kept for the next status change", len(entries), namespace, name,
                        QUEUED)

    def _drain(self) -> None:
        while not self._stop.is_set():
            try:
                namespace, name, entries = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            if not self.write(namespace, name, entries):
                self._mark(namespace, name, entries, done=False)

    def write(self, namespace: str, name: str, entries: list[RunRecord]) -> int:
        """Write ``entries`` now; how many (0 on a failure: counted and logged)."""
        try:
            self._ensure()
            written = self.archive.write(namespace, name, [e.wire() for e in entries])
        except Exception as exc:
            FAILURES.labels("write").inc()
            LOG.warning("run archive: %d runs of %s/%s not written (%s); kept for the next"
                        " status change", len(entries), namespace, name, type(exc).__name__)
            return 0
        WRITES.inc(written)
        return written

    def observe(self, namespace: str, name: str, status: ReportScheduleStatus) -> int:
        """Write the schedule's new or changed runs at once; how many."""
        entries = self.changed(namespace, name, status)
        written = self.write(namespace, name, entries) if entries else 0
        if written:
            self._mark(namespace, name, entries, done=True)
        return written

    def _ensure(self) -> None:
        with self._creating:
            if not self._ready:
                self.archive.create()
                self._ready = True

    def record_links(self, user: str, namespace: str, schedule: str, run_id: str,
                     keys: list[str], client: str) -> None:
        """Audit: ``user`` was handed links to ``keys`` (synchronously: the links wait)."""
        self._ensure()
        self.archive.record_access(user, "link", namespace, schedule, run_id, keys, client)

    def prune(self, now: datetime | None = None) -> tuple[int, int]:
        """Delete runs and audit entries older than the retention."""
        cutoff = (now or datetime.now(UTC)) - timedelta(days=self.retention_days)
        self._ensure()
        return self.archive.prune(cutoff)

    def _loop(self) -> None:
        while not self._stop.wait(self.prune_every):
            try:
                runs, seen = self.prune()
                LOG.info("run archive: pruned %d runs and %d audit entries older than %d days",
                         runs, seen, self.retention_days)
            except Exception as exc:
                FAILURES.labels("prune").inc()
                LOG.warning("run archive: prune failed (%s)", type(exc).__name__)


def from_env(env: Mapping[str, str]) -> Archiver | None:
    """The archiver the chart configures (archive.enabled: the URL file, the retention), or
    None without an archive. A URL that is no archive URL stops the operator at start."""
    url = mounted_url(env)
    if url is None:
        return None
    days = int(env.get(RETENTION) or DEFAULT_RETENTION_DAYS)
    if days < 1:
        raise ValueError(f"{RETENTION} (chart value archive.retentionDays) must be 1 or more")
    return Archiver(Archive(url), days, float(env.get(PRUNE_EVERY) or 3600))


@kopf.on.startup()
def configure_archive(memo: kopf.Memo, **_: Any) -> None:
    """Open the run archive, if the chart configures one (archive.enabled)."""
    try:
        memo.archiver = from_env(config().archive)
    except ValueError as exc:  # the message names no part of the URL
        raise kopf.PermanentError(f"run archive: {exc}") from exc


@kopf.on.cleanup()
def close_archive(memo: kopf.Memo, **_: Any) -> None:
    if memo.get("archiver") is not None:
        memo.archiver.stop()


def _archived(memo: kopf.Memo, event: kopf.RawEvent, **_: Any) -> bool:
    return memo.get("archiver") is not None and event.get("type") != "DELETED"


@kopf.on.event(GROUP, VERSION, PLURAL, when=_archived)
async def archive_runs(namespace: str | None, name: str, status: kopf.Status, memo: kopf.Memo,
                       **_: Any) -> None:
    """Queue the runs status.history gained or changed for the run archive's writer (in the
    event loop: no wait for the database)."""
    assert namespace is not None
    memo.archiver.submit(namespace, name, ReportScheduleStatus.parse(status))
