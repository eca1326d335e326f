"""The plugin and the run archive: `kubectl bulletin history NAME --archive --since 90d`
(the same table as `history`, from the archive), and the audit of `kubectl bulletin link`.
The archive's URL comes from the platform team's Secret, read with the user's kubeconfig."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bulletin.plugin.kube import KubeSession, PluginError, dump

FETCHED = 10_000  # runs at most (90 days of a run every 15 minutes is 8,640)


def open_archive(kube: KubeSession, secret: str | None) -> Any:
    """The archive, its URL read as the user; PluginError says who may read it."""
    from bulletin.archive.config import Unreachable, secret_ref, url_from_secret
    from bulletin.archive.store import Archive

    try:
        return Archive(url_from_secret(kube.core, secret_ref(secret)))
    except (Unreachable, ValueError) as exc:
        raise PluginError(f"error: {exc}") from exc


def history(kube: KubeSession, name: str | None, output: str | None, limit: int | None,
            no_headers: bool, days: int, secret: str | None) -> None:
    """The schedule's archived runs of the last ``days`` days, newest first."""
    from bulletin.plugin.commands import _table
    from bulletin.plugin.tables import history_table, zone_of

    if name is None:
        raise PluginError("error: history --archive needs a schedule's NAME")
    archive = open_archive(kube, secret)
    since = datetime.now(UTC) - timedelta(days=days)
    try:
        found = archive.runs(kube.namespace, name, since, limit or FETCHED)
    except Exception as exc:  # the message could carry the URL: its type only
        raise PluginError(f"error: the run archive did not answer ({type(exc).__name__})"
                          ) from exc
    records = [a.record for a in found]
    if output in ("json", "yaml"):
        dump([r.wire() for r in records], output)
    elif not records:
        print(f"No runs of {name} in the run archive in the last {days} days.", file=sys.stderr)
    else:
        try:
            zone = zone_of(kube.get(name))
        except Exception:  # the schedule is gone; its runs stay archived
            zone = zone_of({})
        sys.stdout.write(_table(history_table(records, zone, datetime.now(UTC)), no_headers))


def record_links(kube: KubeSession, name: str, run_id: str, keys: Sequence[str],
                 secret: str | None = None) -> None:
    """Audit the links just printed, where the user may reach the archive; else say that
    the cluster's own audit log is the record (reading the storage Secret)."""
    from kubernetes import client

    from bulletin.archive.config import Unreachable, secret_ref, url_from_secret
    from bulletin.archive.store import Archive

    try:
        url = url_from_secret(kube.core, secret_ref(secret))
    except Unreachable as exc:
        if exc.status != 404:  # an archive exists, out of this user's reach
            print("note: these links are not in the run archive's audit (only the platform"
                  " team reaches it from kubectl); the API server's audit log records your"
                  " read of the storage Secret", file=sys.stderr)
        return
    review = client.AuthenticationV1Api(kube.api).create_self_subject_review(
        client.V1SelfSubjectReview())
    user = str(review.status.user_info.username or "unknown")
    try:
        Archive(url).record_access(user, "link", kube.namespace, name, run_id, keys,
                                   "kubectl bulletin link")
    except Exception as exc:
        print(f"note: the run archive did not record these links ({type(exc).__name__})",
              file=sys.stderr)
