"""Run now: a bulletin.dev/run-requested-at token becomes a one-off Job (or a refusal
Event), and the token is echoed in status.lastRunRequest."""

from __future__ import annotations

from typing import Any

import kopf
from bulletin.api.history import ended_runs
from bulletin.api.runrequest import RUN_REQUEST_ANNOTATION, read_options
from bulletin.api.status import ReportScheduleStatus

from bulletin_operator import builders
from bulletin_operator.apierrors import NameConflict, NamespaceTerminating, Rejected
from bulletin_operator.cluster import Cluster
from bulletin_operator.desired import NotRunnable, check_references, owner_of
from bulletin_operator.kinds import RESOURCE, RETRY_SECONDS
from bulletin_operator.parsing import parse
from bulletin_operator.settings import config


def _run_requested(annotations: kopf.Annotations, status: kopf.Status, **_: Any) -> bool:
    token = annotations.get(RUN_REQUEST_ANNOTATION)
    return bool(token) and token != ReportScheduleStatus.parse(
        status, only=("last_run_request",)).last_run_request


@kopf.on.resume(*RESOURCE, when=_run_requested, backoff=RETRY_SECONDS)
@kopf.on.create(*RESOURCE, when=_run_requested, backoff=RETRY_SECONDS)
@kopf.on.update(*RESOURCE, when=_run_requested, backoff=RETRY_SECONDS)
def run_now(meta: kopf.Meta, spec: kopf.Spec, status: kopf.Status, patch: kopf.Patch,
            body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Start a one-off Job for a new bulletin.dev/run-requested-at token, and echo the token.
    One run-now Job at a time: a request while one is active is refused with an Event.
    The echo comes last: an API outage on the way fails the handler, and kopf tries again."""
    cluster: Cluster = memo.cluster
    token, owner = meta["annotations"][RUN_REQUEST_ANNOTATION], owner_of(cluster, meta)
    try:
        model, _timing = parse(spec, meta)
        options = read_options(meta["annotations"])
        check_references(cluster, model, owner.namespace)
        job = builders.run_now_job(owner, model, config().runner, token, options)
        # This token's own Job (made before a crash kept the token from status) is no refusal.
        active = cluster.owned.active_run_now(owner.namespace,
                                              builders.short_name(owner.name, 63), owner.uid,
                                              ended_runs(ReportScheduleStatus.parse(status))
                                              | {job["metadata"]["name"]})
        if active is not None:
            raise NotRunnable("RunNowRefused", f"Job {active} is still running; try again after it")
        if cluster.owned.create_once(job, owner.uid):
            kopf.info(body, reason="RunRequested", message=f"Job {job['metadata']['name']} started")
    except NamespaceTerminating:
        pass
    except (ValueError, NotRunnable, NameConflict, Rejected) as exc:
        kopf.warn(body, reason="RunNowRefused", message=f"run-now {token!r} not started: {exc}")
    patch.status.update(ReportScheduleStatus(last_run_request=token).model_dump(
        by_alias=True, include={"last_run_request"}))
