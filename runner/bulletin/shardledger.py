"""A burst shard's ledger: which of its recipients each target (email, storage) has had.

It lives in one ConfigMap per shard, ``<run id>-shard-<index>``, owned by the run's Job (gone
with it, ttlSecondsAfterFinished). Its data: ``digest``, a SHA-256 of the shard's sorted
recipient keys; ``recipients``, their count; per target a bitmap over those sorted keys
(bit i: the i-th key was Sent), zlib-compressed and base64-encoded: at most n/8 bytes before
base64 for a shard of n recipients, whatever their addresses (docs/scale.md).

The discipline is the status ledger's: the ConfigMap is written (empty bitmaps) before the
shard's first send, so a retried shard finds it; every send is recorded after the server
accepted it. A writer thread writes the newest bitmaps at most BATCH_SECONDS after they
changed, one write in flight, so the sends of that window share one API write. Only a SIGKILL
loses records: those of sends accepted in the last window and write round trip, whose
recipients a retry sends again with the same Message-ID. A SIGTERM waits (close) until every
record is written. A retry whose dataset gives the shard other keys (digest differs) sends
nothing: the bitmap no longer says who had their report.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import logging
import threading
import zlib
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from bulletin.api.errors import KubernetesError
from bulletin.ledger import LedgerError

log = logging.getLogger("bulletin.deliver")
BATCH_SECONDS = 0.25  # longest a record waits for its write (the SIGKILL window, docs/scale.md)


class LedgerConflict(KubernetesError):
    """The stored ledger changed since it was read (or already exists, on create)."""


class Store(Protocol):
    """Where a shard's ledger is kept."""

    def read(self) -> tuple[dict[str, str] | None, str]:
        """The data and its version (None: not there)."""
        ...

    def create(self, data: Mapping[str, str]) -> str:
        """Create it; its version. Raises LedgerConflict when it exists."""
        ...

    def replace(self, data: Mapping[str, str], version: str) -> str:
        """Replace version ``version``; the new version. Raises LedgerConflict."""
        ...


def digest(keys: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()


def encode(bits: bytearray) -> str:
    return base64.b64encode(zlib.compress(bytes(bits), 9)).decode()


def decode(text: str, size: int) -> bytearray:
    bits = bytearray(zlib.decompress(base64.b64decode(text)))
    return bits if len(bits) == size else bytearray(size)


class ShardLedger:
    """One shard's recipients by target, Sent or not; written as described above."""

    def __init__(self, store: Store, targets: Sequence[str]) -> None:
        self.store, self.targets = store, list(targets)
        self.index: dict[str, int] = {}
        self.bits: dict[str, bytearray] = {}
        self.version, self.changes, self.written = "", 0, 0
        self.error: BaseException | None = None
        self.bytes, self.writes = 0, 0  # size of the data last written; API writes made
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = self._flushing = False

    def open(self, keys: Sequence[str]) -> None:
        """Load the shard's ledger for these recipient keys, or write an empty one."""
        ordered = sorted(keys)
        self.index = {k: i for i, k in enumerate(ordered)}
        size, wanted = (len(ordered) + 7) // 8, digest(ordered)
        for _ in range(5):
            data, self.version = self.store.read()
            if data is None:
                self.bits = {t: bytearray(size) for t in self.targets}
                try:
                    self.version = self.store.create(self._data(wanted))
                    self.writes += 1
                except LedgerConflict:
                    continue
            elif data.get("digest") != wanted:
                raise LedgerError("the burst dataset gave this shard other recipients than its"
                                  " first try did: to send no one a second report, this shard"
                                  " sends nothing more; start a new run to reach the rest")
            else:
                self.bits = {t: decode(data[t], size) if data.get(t) else bytearray(size)
                             for t in self.targets}
            self._thread = threading.Thread(target=self._writer, args=(wanted,), daemon=True)
            self._thread.start()
            return
        raise LedgerError("cannot create the shard's ledger: it keeps changing")

    def _data(self, wanted: str) -> dict[str, str]:
        data = {"digest": wanted, "recipients": str(len(self.index)),
                **{t: encode(b) for t, b in self.bits.items()}}
        self.bytes = sum(len(k) + len(v) for k, v in data.items())
        return data

    def done(self, target: str, key: str) -> bool:
        i = self.index[key]
        return bool(self.bits[target][i >> 3] >> (i & 7) & 1)

    def sent(self) -> int:
        """Recipients every target has had."""
        return sum(1 for k in self.index if all(self.done(t, k) for t in self.targets))

    def mark(self, target: str, key: str) -> None:
        """Record a send the server accepted; written soon after, by the writer thread."""
        i = self.index[key]
        with self._cond:
            self.bits[target][i >> 3] |= 1 << (i & 7)
            self.changes += 1
            self._cond.notify_all()

    def _writer(self, wanted: str) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self.changes > self.written or self._closed)
                if self.changes == self.written:
                    return
                # a batch: the sends of the next BATCH_SECONDS go into the same write
                self._cond.wait_for(lambda: self._closed or self._flushing, BATCH_SECONDS)
                target, data = self.changes, self._data(wanted)
            try:
                self._write(data)
            except BaseException as exc:  # reported by flush()
                with self._cond:
                    self.error = exc
                    self._cond.notify_all()
                return
            with self._cond:
                self.written = target
                self._cond.notify_all()

    def _write(self, data: dict[str, str]) -> None:
        while True:
            try:
                self.version = self.store.replace(data, self.version)
                self.writes += 1
                return
            except LedgerConflict:  # another writer (a pod being replaced): keep both records
                stored, self.version = self.store.read()
                with self._cond:
                    for t in self.targets:
                        if stored and stored.get(t):
                            other = decode(stored[t], len(self.bits[t]))
                            self.bits[t] = bytearray(a | b for a, b in zip(
                                self.bits[t], other, strict=True))
                    data = self._data(data["digest"])

    def flush(self) -> None:
        """Wait until every record so far is written; LedgerError when one cannot be."""
        with self._cond:
            self._flushing = True
            self._cond.notify_all()
            self._cond.wait_for(lambda: self.written >= self.changes or self.error is not None)
            self._flushing = False
            if self.error is not None:
                raise LedgerError(f"cannot write the shard's ledger: {self.error}")

    def close(self) -> None:
        """Flush, then stop the writer."""
        try:
            self.flush()
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()
        log.info("shard ledger: %d recipients, %d writes, %d bytes", len(self.index),
                 self.writes, self.bytes)


class ConfigMapStore:
    """A shard's ledger in its ConfigMap, owned by the run's Job (when its uid is known)."""

    def __init__(self, core: Any, namespace: str, name: str, labels: Mapping[str, str],
                 job: tuple[str, str] | None) -> None:
        self.core, self.namespace, self.name = core, namespace, name
        self.meta: dict[str, Any] = {"name": name, "namespace": namespace, "labels": dict(labels)}
        if job is not None:
            self.meta["ownerReferences"] = [{"apiVersion": "batch/v1", "kind": "Job",
                                             "name": job[0], "uid": job[1]}]

    def _call(self, what: str, method: str, *args: Any) -> Any:
        from kubernetes.client.exceptions import ApiException

        from bulletin.api.gateway import REQUEST_TIMEOUT, outlasting

        call = functools.partial(getattr(self.core, method), *args,
                                 _request_timeout=REQUEST_TIMEOUT)
        try:
            return outlasting(f"{what} the shard's ledger", call)
        except ApiException as exc:
            if exc.status == 409:
                raise LedgerConflict(what) from exc
            raise

    def read(self) -> tuple[dict[str, str] | None, str]:
        from kubernetes.client.exceptions import ApiException

        try:
            found = self._call("read", "read_namespaced_config_map", self.name, self.namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None, ""
            raise
        return dict(found.data or {}), str(found.metadata.resource_version)

    def create(self, data: Mapping[str, str]) -> str:
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": self.meta,
                "data": dict(data)}
        made = self._call("create", "create_namespaced_config_map", self.namespace, body)
        return str(made.metadata.resource_version)

    def replace(self, data: Mapping[str, str], version: str) -> str:
        body = {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {**self.meta, "resourceVersion": version}, "data": dict(data)}
        made = self._call("write", "replace_namespaced_config_map", self.name, self.namespace,
                          body)
        return str(made.metadata.resource_version)
