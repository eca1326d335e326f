"""One run for the console's run page: from status, else from the run archive (for a
schedule the user may `get`, asked with a SelfSubjectAccessReview), with its stored files and
their audit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from bulletin.api.history import stored_keys
from bulletin.api.status import RunRecord
from bulletin.console import stats
from bulletin.console.access import can
from bulletin.console.core import Console
from bulletin.plugin.kube import KubeSession


@dataclass(frozen=True)
class Found:
    """A run, where it was found (status or archive), its stored files and their audit."""

    record: RunRecord
    source: str
    keys: list[str]
    audit: list[Any] | None  # None: the archive did not answer


def note(console: Console, limit: int) -> str:
    """What the history pages say when there is no archive to read."""
    return console.archive_note or (
        f"History is the status window (last {limit} runs); the platform team can enable"
        " the run archive.")


def find_run(console: Console, kube: KubeSession, obj: dict[str, Any] | None, name: str,
             run_id: str) -> Found | None:
    """The run from status, else from the archive (for a schedule the user may get)."""
    archive = console.archive
    entry = next((r for r in stats.records(obj) if r.run_id == run_id), None) if obj else None
    try:
        if entry is not None:
            keys, source = stored_keys(entry), "status"
        elif archive is not None and can(kube, "get", name):
            found = archive.run(kube.namespace, name, run_id)
            if found is None:
                return None
            entry, keys, source = found.record, found.object_keys, "archive"
        else:
            return None
        audit = archive.accesses(kube.namespace, name, run_id) if archive is not None else []
    except SQLAlchemyError:  # the archive is down: the run from status, without its audit
        if entry is None:
            raise
        return Found(entry, "status", stored_keys(entry), None)
    return Found(entry, source, keys, audit)
