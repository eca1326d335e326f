"""kopf handlers: validate into the model, build with pure functions, apply through the store."""

from __future__ import annotations

import asyncio
import functools
import time
from datetime import UTC, datetime
from typing import Any, cast

import kopf
from bulletin.api.calendar import (
    CALENDAR_PLURAL,
    named_in,
)
from bulletin.api.gateway import load_credentials
from bulletin.api.history import ended_runs
from bulletin.api.podenv import NAMESPACE_ALLOWED_DOMAINS_ANNOTATION as ALLOWLIST_ANNOTATION
from bulletin.api.policy import Notifications
from bulletin.api.references import ambiguous_uses, references
from bulletin.api.runrequest import RUN_REQUEST_ANNOTATION, read_options
from bulletin.api.spec import GROUP, PLURAL, VERSION
from bulletin.api.status import ReportScheduleStatus
from pydantic import ValidationError

import bulletin_operator.linkaudit  # noqa: F401
from bulletin_operator import archiving, builders, leadership, prefetch, resuming  # noqa: F401
from bulletin_operator.apierrors import NameConflict, NamespaceTerminating, Rejected, ride_out
from bulletin_operator.cluster import Cluster
from bulletin_operator.desired import (
    Desired,
    NotRunnable,
    apply,
    check_references,
    in_sync,
    owner_of,
    ready_status,
)
from bulletin_operator.jobs import failed_run, job_condition
from bulletin_operator.metrics import METRICS, serve
from bulletin_operator.nextrun import NextRunRefresher
from bulletin_operator.parsing import parse
from bulletin_operator.settings import config, configure, configure_logging
from bulletin_operator.status import PAUSE_FIELDS, PAUSED, pause_state, reconciled

RESOURCE = (GROUP, VERSION, PLURAL)
RETRY_SECONDS = 5  # a run-now that met an API outage is tried again this soon (kopf: 60 s)
configure_logging()


@kopf.on.startup()
async def lead(memo: kopf.Memo, **_: Any) -> None:
    """Serve /metrics, then, with more than one replica, wait here (a standby, its
    bulletin_operator_leader 0) until this one leads."""
    memo.config = settings = config()  # read once, here: invalid settings stop the start
    address, port = settings.metrics_address, settings.metrics_port
    try:
        memo.metrics_server = serve(address, port)
    except OSError as exc:  # e.g. the port is taken: stop rather than run unobserved
        raise kopf.PermanentError(f"/metrics on {address}:{port}: {exc}") from exc
    memo.elector = await leadership.lead(settings.lease, settings.lease_timing, settings.host)
    METRICS.leader.set(1)


@kopf.on.startup()
def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Load credentials, tune kopf, and start keeping nextRunTime current."""
    load_credentials()
    configure(settings)
    memo.cluster = Cluster()
    memo.refresher = NextRunRefresher()
    memo.refresher.start()


@kopf.on.startup()
async def check_at_startup(memo: kopf.Memo, logger: kopf.Logger,
                           settings: kopf.OperatorSettings, **_: Any) -> None:
    """Read the owned objects' metadata with one LIST per kind, then check every schedule
    against it in one pass; kopf resumes only the rest (async: kopf's command line is known
    in the event loop's thread only)."""
    if "cluster" not in memo:  # startup failed (e.g. bad settings): let kopf stop on that
        return
    cluster: Cluster = memo.cluster
    scope = prefetch.kopf_scope(config().kopf_namespace)
    begin = time.monotonic()
    found = await asyncio.to_thread(cluster.owned.prime, scope)
    primed = time.monotonic()
    try:
        memo.up_to_date, checked = await asyncio.to_thread(
            resuming.up_to_date, cluster.schedule_pages(scope),
            functools.partial(in_sync, cluster), settings.execution.max_workers or 1)
    except Exception as exc:  # e.g. an outage: kopf resumes every schedule itself
        logger.warning("no startup check of the schedules (%r): kopf resumes each", exc)
        memo.up_to_date, checked = set(), 0
    logger.info("startup: %d of %d schedules up to date; %d resume one by one (snapshot of %d"
                " owned objects in %s: %.1fs; check: %.1fs)", len(memo.up_to_date), checked,
                checked - len(memo.up_to_date), found,
                ", ".join(ns or "all namespaces" for ns in scope) or "no namespace",
                primed - begin, time.monotonic() - primed)


@kopf.on.cleanup()
def cleanup(memo: kopf.Memo, **_: Any) -> None:
    """Stop the background refresher and the metrics server; hand the lead over."""
    if "refresher" in memo:
        memo.refresher.stop()
    if memo.get("metrics_server") is not None:
        memo.metrics_server.shutdown()
    if memo.get("elector") is not None:
        memo.elector.release()


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


def _needs_resume(meta: kopf.Meta, memo: kopf.Memo, **_: Any) -> bool:
    """Whether kopf must resume a schedule: the startup check did not find it up to date."""
    return meta.get("uid") not in memo.get("up_to_date", ())


@kopf.on.resume(*RESOURCE, when=_needs_resume)
@kopf.on.create(*RESOURCE)
@kopf.on.update(*RESOURCE, field="spec")
def reconcile(
    meta: kopf.Meta, spec: kopf.Spec, status: kopf.Status, patch: kopf.Patch,
    body: kopf.Body, memo: kopf.Memo, reason: str = "", **_: Any,
) -> None:
    """Ensure the runner's account, RBAC and CronJob, and report Ready/Stalled/Paused. An API
    outage is waited out here (apierrors.ride_out), not handed to kopf's one-minute retry."""
    cluster: Cluster = memo.cluster
    current = ReportScheduleStatus.parse(status)
    with METRICS.reconciling() as outcome:
        now = datetime.now(UTC)
        owner = ride_out(lambda: owner_of(cluster, meta))
        try:
            desired, warnings = ride_out(lambda: _applied(cluster, owner, meta, spec, current,
                                                          new=reason == kopf.Reason.CREATE))
        except NamespaceTerminating:
            return  # the ReportSchedule goes with its namespace
        except (NotRunnable, NameConflict, Rejected) as exc:
            why = exc.condition_reason if isinstance(exc, NotRunnable) else type(exc).__name__
            outcome.refused()
            if why != "NameConflict":
                ride_out(lambda: cluster.owned.prune_cronjobs(
                    owner.namespace, builders.SCHEDULE_LABEL,
                    builders.short_name(owner.name, 63), owner.uid, keep=set()))
            kopf.warn(body, reason=why, message=str(exc))
            patch.status.update(reconciled(current, generation=meta["generation"],
                                           error=str(exc), cron=None, cronjob=None,
                                           next_run=None, now=now, reason=why))
            return
        for warning in warnings:
            kopf.warn(body, reason="SecretUseAmbiguous", message=warning)
        update = ready_status(desired, meta, current, now)
        if (desired.paused and "conditions" in update
                and current.condition_status(PAUSED) != "True"):
            kopf.warn(body, reason="Paused",
                      message=f"{desired.failures} runs failed in a row; paused")
        patch.status.update(update)


def _applied(cluster: Cluster, owner: builders.Owner, meta: kopf.Meta, spec: kopf.Spec,
             status: ReportScheduleStatus, new: bool) -> tuple[Desired, list[str]]:
    """Apply the spec; with the warnings for Secrets opened to every use and used for two."""
    desired = apply(cluster, owner, meta, spec, status, new=new)
    return desired, list(ambiguous_uses(references(desired.model),
                                        lambda ref: cluster.opted_in.labels(
                                            ref.kind, ref.name, owner.namespace)))


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


def _pause_changed(spec: kopf.Spec, meta: kopf.Meta, status: kopf.Status, **_: Any) -> bool:
    try:
        limit = Notifications.model_validate(spec.get("notifications") or {}).pause_after_failures
    except ValidationError:
        return False  # reconcile reports an invalid spec
    current = ReportScheduleStatus.parse(status, PAUSE_FIELDS)  # a filter: every event
    wanted = pause_state(current, generation=meta["generation"], limit=limit)[0]
    return current.condition_status(PAUSED) not in (None, "True" if wanted else "False")


@kopf.on.event(*RESOURCE, when=_pause_changed)
def follow_failures(**kwargs: Any) -> None:
    """Pause after too many failures, and resume after a success, as runs record them."""
    reconcile(**kwargs)


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
