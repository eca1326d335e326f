"""Watchers of what a schedule depends on: its watch events (metrics), namespaces'
recipient allowlists, ReportCalendars, and its Jobs that failed before recording their run."""

from __future__ import annotations

from typing import Any, cast

import kopf
from bulletin.api.calendar import CALENDAR_PLURAL, named_in
from bulletin.api.podenv import NAMESPACE_ALLOWED_DOMAINS_ANNOTATION as ALLOWLIST_ANNOTATION
from bulletin.api.spec import GROUP, VERSION
from bulletin.api.status import ReportScheduleStatus

from bulletin_operator import builders
from bulletin_operator.apierrors import NameConflict, NamespaceTerminating, Rejected
from bulletin_operator.cluster import Cluster
from bulletin_operator.desired import NotRunnable, apply, owner_of
from bulletin_operator.jobs import failed_run, job_condition
from bulletin_operator.kinds import RESOURCE
from bulletin_operator.metrics import METRICS
from bulletin_operator.reconciling import reconcile


@kopf.on.event(*RESOURCE)
async def observe_metrics(event: kopf.RawEvent, namespace: str | None, name: str,
                          spec: kopf.Spec, status: kopf.Status, **_: Any) -> None:
    """Every watch event of a schedule refreshes its metrics (a dict update; the gauges are
    built at scrape time); a deleted schedule's series go. In the event loop: no hop to a
    worker thread, no wait behind reconciles."""
    assert namespace is not None
    if event.get("type") == "DELETED":
        METRICS.forget(namespace, name)
    else:
        METRICS.observe(namespace, name, spec, ReportScheduleStatus.parse(status))


def _allowlist_changed(name: str, meta: kopf.Meta, memo: kopf.Memo, **_: Any) -> bool:
    cluster: Cluster = memo.cluster
    return cluster.namespaces.changed(name, dict(meta.get("annotations") or {}),
                                      ALLOWLIST_ANNOTATION)


@kopf.on.event("", "v1", "namespaces", when=_allowlist_changed)
def namespace_allowlist(name: str, meta: kopf.Meta, memo: kopf.Memo, logger: kopf.Logger,
                        **_: Any) -> None:
    """A namespace's recipient allowlist changed: existing schedules' runs get it at once.
    (An event handler: kopf keeps no state on namespaces.)"""
    cluster: Cluster = memo.cluster
    cluster.namespaces.remember(name, dict(meta.get("annotations") or {}))
    for obj in cluster.schedules(name):
        body = kopf.Body(cast(kopf.RawBody, obj))
        try:
            apply(cluster, owner_of(cluster, body.meta), body.meta, body.spec,
                  ReportScheduleStatus.of(obj))
        except (NotRunnable, NameConflict, Rejected, NamespaceTerminating) as exc:
            logger.info("%s/%s keeps its objects: %s", name, body.meta["name"], exc)


@kopf.on.event(GROUP, VERSION, CALENDAR_PLURAL)
def calendar_changed(namespace: str | None, name: str, memo: kopf.Memo, logger: kopf.Logger,
                     **_: Any) -> None:
    """A ReportCalendar appeared, changed or went: reconcile the schedules naming it, so a
    schedule stalled on a missing calendar recovers (and nextRunTime follows the days off)."""
    assert namespace is not None
    cluster: Cluster = memo.cluster
    for obj in cluster.schedules(namespace):
        if name not in named_in(obj.get("spec") or {}):
            continue
        body, patch = kopf.Body(cast(kopf.RawBody, obj)), kopf.Patch()
        args: dict[str, Any] = {"meta": body.meta, "spec": body.spec, "status": body.status,
                                "patch": patch, "body": body, "memo": memo}
        reconcile(**args)
        if patch.status:
            cluster.patch_status(namespace, body.meta["name"], dict(patch.status))
            logger.info("%s/%s reconciled after its ReportCalendar %s changed", namespace,
                        body.meta["name"], name)


def _job_failed(body: kopf.Body, **_: Any) -> bool:
    return job_condition(body, "Failed") is not None


@kopf.on.event("batch", "v1", "jobs", labels={builders.SCHEDULE_LABEL: kopf.PRESENT},
               when=_job_failed)
def record_failed_job(body: kopf.Body, name: str, namespace: str | None, memo: kopf.Memo,
                      logger: kopf.Logger, **_: Any) -> None:
    """A Job of a schedule (by its owner chain, not its labels) that failed before its runner
    recorded the run: record it, with the pod's reason, in the history and an Event."""
    assert namespace is not None
    cluster: Cluster = memo.cluster
    found = failed_run(body, cluster.job_pods(namespace, name))
    if found is None:
        return
    owner = cluster.schedule_of_job(dict(body))
    if owner != found.schedule:
        logger.info("not recording Job %s: its owner chain leads to %r, not %r", name, owner,
                    found.schedule, extra={"schedule": found.schedule})
        return
    if not cluster.record_if_missing(namespace, found):
        logger.info("Job %s: its run is already in the history", name,
                    extra={"schedule": found.schedule})
