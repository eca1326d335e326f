"""A metadata snapshot of the objects schedules own, read at startup with one paged LIST per
kind, so that resuming N schedules costs a few LISTs instead of 4 x N GETs (and the startup
check, resuming.py, can tell which schedules need no resume at all).

The snapshot is a hint, never the truth: an entry is used at most once and only while fresh,
only for an object controlled by the schedule asking, and a write based on it that meets a
conflict (or a missing object) is redone from a fresh GET. A miss falls back to the GET.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Iterable
from typing import Any

import click
import urllib3
from kubernetes.client.exceptions import ApiException

from bulletin_operator.builders import HASH_ANNOTATION
from bulletin_operator.kubeapi import KubeApi

# How long after its LIST began an entry may stand in for a GET (the first resume pass).
SNAPSHOT_TTL = 120.0
OWNED_KINDS = ("ServiceAccount", "Role", "RoleBinding", "CronJob")
# The label the builders put on every object a schedule owns.
OWNED_SELECTOR = "app.kubernetes.io/managed-by=bulletin-operator"

Key = tuple[str, str, str]  # kind, namespace, name
logger = logging.getLogger(__name__)


Entry = tuple[str, str, str]  # controller UID, content hash, resourceVersion


def compact(meta: dict[str, Any]) -> Entry:
    """What ensure() reads of an object's metadata, kept small (10,000 schedules own 40,000
    objects): its controller's UID, content hash and resourceVersion."""
    owner = next((str(r.get("uid") or "") for r in meta.get("ownerReferences") or []
                  if r.get("controller")), "")
    return (owner,
            str((meta.get("annotations") or {}).get(HASH_ANNOTATION) or ""),
            str(meta.get("resourceVersion") or ""))


def expand(entry: Entry) -> dict[str, Any]:
    """The metadata ensure() reads, from a compact entry."""
    uid, content_hash, version = entry
    return {"resourceVersion": version,
            "annotations": {HASH_ANNOTATION: content_hash} if content_hash else {},
            "ownerReferences": [{"uid": uid, "controller": True}] if uid else []}


class Snapshot:
    """Compact metadata by (kind, namespace, name); each entry is handed out once, and none
    after SNAPSHOT_TTL seconds from ``fill``."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._entries: dict[Key, Entry] = {}
        self._since = 0.0
        self._lock = threading.Lock()

    def fill(self, entries: dict[Key, Entry], since: float) -> None:
        """Replace the entries with ones read from the API from ``since`` (a clock value)."""
        with self._lock:
            self._entries, self._since = entries, since

    def take(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The entry of an object, removed; None when absent, used or no longer fresh."""
        return self._get((kind, namespace, name), remove=True)

    def peek(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The entry of an object, left in place; None when absent, used or no longer fresh."""
        return self._get((kind, namespace, name), remove=False)

    def _get(self, key: Key, remove: bool) -> dict[str, Any] | None:
        with self._lock:
            if not self._entries:
                return None
            if self._clock() - self._since > SNAPSHOT_TTL:
                self._entries = {}
                return None
            entry = self._entries.pop(key, None) if remove else self._entries.get(key)
        return None if entry is None else expand(entry)

    def __len__(self) -> int:
        return len(self._entries)


def read(api: KubeApi, namespaces: Iterable[str | None]) -> dict[Key, Entry]:
    """The compact metadata of the owned objects in ``namespaces`` (None: all). A LIST the
    API refuses is skipped: those objects are then read one by one, as without a snapshot."""
    entries: dict[Key, Entry] = {}
    for namespace in namespaces:
        for kind in OWNED_KINDS:
            try:
                for meta in api.list_metadata(kind, namespace, OWNED_SELECTOR):
                    entries[(kind, str(meta.get("namespace")), str(meta.get("name")))] = \
                        compact(meta)
            except (ApiException, urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
                logger.info("no snapshot of %s in %s (%s): reading them one by one",
                            kind, namespace or "all namespaces", _why(exc))
    return entries


def _why(exc: Exception) -> str:
    return f"{exc.status} {exc.reason}" if isinstance(exc, ApiException) else repr(exc)


def watched_namespaces(clusterwide: bool, namespaces: Collection[str]) -> list[str | None]:
    """What to list for kopf's --all-namespaces/--namespace arguments: [None] (every
    namespace), the named namespaces, or nothing for patterns (globs, negations), which only
    kopf resolves."""
    if clusterwide or not namespaces:
        return [None]
    if any(c in ns for ns in namespaces for c in "*?[!,"):
        return []
    return list(namespaces)


def kopf_scope(namespace: str = "") -> list[str | None]:
    """The namespaces the running `kopf run` command watches, from its command line (the
    click context of the thread that runs the event loop) and ``namespace`` (its
    KOPF_RUN_NAMESPACE); nothing when not run by kopf's CLI."""
    ctx = click.get_current_context(silent=True)
    if ctx is None or "namespaces" not in ctx.params:
        return []
    named = [*ctx.params["namespaces"], *filter(None, [namespace])]
    return watched_namespaces(bool(ctx.params.get("clusterwide")), named)
