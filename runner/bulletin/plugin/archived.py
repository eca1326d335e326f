"""The plugin and the run archive: `kubectl bulletin history NAME --archive --since 90d`
(the same table as `history`, from the archive), and the audit of `kubectl bulletin link`
(recorded by the operator, from a request the user writes in their own name).
The archive's URL comes from the platform team's Secret, read with the user's kubeconfig."""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bulletin.api.linkrequest import LinkRequest, request_annotations
from bulletin.api.status import ReportScheduleStatus
from bulletin.plugin.kube import KubeSession, PluginError, dump, server_error

AUDIT_TIMEOUT = 60.0  # seconds for the operator to record a link request
AUDIT_POLL_SECONDS = 0.5
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


def audit_links(kube: KubeSession, name: str, run_id: str, keys: Sequence[str],
                secret: str | None = None, timeout: float = AUDIT_TIMEOUT) -> None:
    """Have the operator record the links about to be printed in the run archive (a link
    request in the user's own name, which the chart's admission policy checks) and wait for
    its echo; PluginError when it cannot be recorded. Without an archive, nothing to do."""
    from bulletin.archive.config import Unreachable, secret_ref, url_from_secret

    try:
        url_from_secret(kube.core, secret_ref(secret))
    except Unreachable as exc:
        if exc.status == 404:  # no archive: no audit to be in
            return
    token = uuid.uuid4().hex
    request = LinkRequest(token=token, run_id=run_id, keys=list(keys))
    try:
        kube.patch(name, {"metadata": {"annotations": request_annotations(
            request, whoami(kube))}})
    except Exception as exc:
        raise PluginError(f"error: no links: they are audited in the run archive, and the link"
                          f" request on reportschedule {kube.namespace}/{name} was refused"
                          f" ({server_error(exc)}); it needs patch on reportschedules, or use"
                          " the console's downloads") from exc
    deadline = time.monotonic() + timeout
    while ReportScheduleStatus.of(kube.get(name), only=("last_link_request",)
                                  ).last_link_request != token:
        if time.monotonic() > deadline:
            raise PluginError(f"error: no links: the operator did not record the link request"
                              f" {token} in the run archive within {timeout:.0f}s; is it"
                              " running, and does the archive answer?")
        time.sleep(AUDIT_POLL_SECONDS)


def whoami(kube: KubeSession) -> str:
    """The user name the API server authenticates this kubeconfig as."""
    from kubernetes import client

    review = client.AuthenticationV1Api(kube.api).create_self_subject_review(
        client.V1SelfSubjectReview())
    return str(review.status.user_info.username)
