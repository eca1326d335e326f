"""What a ReportSchedule should own, and the status that says it does: validate the spec into
the model, check what it names (Secrets, ConfigMaps, calendars, the runner pod policy), build
the owned objects with pure builders, and apply them through the cluster's store. kopf's handlers
(reconciling.py, watchers.py) and the startup check call these."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NamedTuple, cast

import kopf
from bulletin.api.burst import policy_refusal as burst_refusal
from bulletin.api.calendar import CalendarError, DaysOff, calendar_names, from_object
from bulletin.api.errors import SpecError
from bulletin.api.podenv import NAMESPACE_ALLOWED_DOMAINS_ANNOTATION as ALLOWLIST_ANNOTATION
from bulletin.api.podpolicy import refusal as pod_refusal
from bulletin.api.references import references, refusal
from bulletin.api.spec import ReportScheduleSpec
from bulletin.api.status import ReportScheduleStatus
from bulletin.timing import Timing

from bulletin_operator import builders, owned
from bulletin_operator.apierrors import Rejected
from bulletin_operator.cluster import Cluster
from bulletin_operator.parsing import parse
from bulletin_operator.settings import config
from bulletin_operator.status import pause_state, reconciled, stalled_as_recorded


class NotRunnable(SpecError):
    """A schedule the operator will not run as it stands; ``condition_reason`` becomes the
    Ready condition's reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.condition_reason = reason


def owner_of(cluster: Cluster, meta: kopf.Meta) -> builders.Owner:
    domains = cluster.namespaces.annotation(meta["namespace"], ALLOWLIST_ANNOTATION)
    return builders.Owner(name=meta["name"], namespace=meta["namespace"], uid=meta["uid"],
                          allowed_domains=domains)


def check_references(cluster: Cluster, model: ReportScheduleSpec,
                      namespace: str) -> dict[str, DaysOff]:
    """Refuse a spec the runner pod policy does not allow, or that names a Secret or ConfigMap
    not opened to reports or a missing or invalid ReportCalendar; its calendars' days off."""
    if why := pod_refusal(config().pod_policy, model.runner,
                          lambda name: cluster.opted_in.labels("Secret", name, namespace)):
        raise NotRunnable("RunnerPodNotAllowed", why)
    if why := burst_refusal(model.delivery.burst, config().burst_policy):
        raise NotRunnable("BurstNotAllowed", why)
    for ref in references(model):
        if why := refusal(ref, cluster.opted_in.labels(ref.kind, ref.name, namespace)):
            raise NotRunnable("ReferenceNotUsable", why)
    try:
        return {name: from_object(name, cluster.calendar(name, namespace))
                for name in calendar_names(model)}
    except CalendarError as exc:
        raise NotRunnable("CalendarNotUsable", str(exc)) from exc


class Desired(NamedTuple):
    """What a valid spec asks for: its model and schedules, whether runs are paused (and the
    failure count), the objects to own and the names of its CronJobs."""

    model: ReportScheduleSpec
    timing: Timing
    paused: bool
    failures: int
    objects: list[dict[str, Any]]
    cronjobs: list[str]


def desired_state(cluster: Cluster, owner: builders.Owner, meta: kopf.Meta, spec: kopf.Spec,
                  status: ReportScheduleStatus) -> Desired:
    """Validate the spec and build what the schedule should own. Raises NotRunnable."""
    try:
        model, timing = parse(spec, meta)
    except ValueError as exc:
        raise NotRunnable("InvalidSpec", str(exc)) from exc
    if calendars := check_references(cluster, model, owner.namespace):
        try:
            model, timing = parse(spec, meta, calendars)
        except ValueError as exc:
            raise NotRunnable("InvalidSpec", f"{exc} (with the days off of ReportCalendar"
                          f" {', '.join(calendars)})") from exc
    paused, failures = pause_state(status, generation=meta["generation"],
                                   limit=model.notifications.pause_after_failures)
    running = model.model_copy(update={"suspend": True}) if paused else model
    objects = owned.owned_objects(owner, running, config().runner, timing.crons())
    return Desired(model, timing, paused, failures, objects, owned.cronjob_names(owner, model))


def prunes(desired: Desired, status: ReportScheduleStatus) -> bool:
    """Whether CronJobs of the schedule may have to go. A single schedule's CronJob keeps its
    name: look for others only with spec.schedules, or when status names other CronJobs (e.g.
    after a switch)."""
    return (desired.model.schedules is not None
            or status.cron_job_name not in (None, ", ".join(desired.cronjobs)))


def ready_status(desired: Desired, meta: kopf.Meta, status: ReportScheduleStatus,
           now: datetime) -> dict[str, Any]:
    """The status fields to patch for a schedule whose objects match its spec."""
    return reconciled(status, generation=meta["generation"], error=None,
                      cron=desired.timing.cronjob, time_zone=desired.timing.time_zone,
                      cronjob=", ".join(desired.cronjobs),
                      next_run=desired.timing.next_run(now), now=now, paused=desired.paused,
                      failures=desired.failures)


def apply(cluster: Cluster, owner: builders.Owner, meta: kopf.Meta, spec: kopf.Spec,
          status: ReportScheduleStatus, new: bool = False) -> Desired:
    """Validate the spec and make the owned objects match it (deleting our CronJobs of
    schedules no longer in it). Raises NotRunnable, NameConflict or Rejected."""
    desired = desired_state(cluster, owner, meta, spec, status)
    cluster.owned.ensure(desired.objects, owner.uid, new=new)
    if prunes(desired, status):
        cluster.owned.prune_cronjobs(owner.namespace, builders.SCHEDULE_LABEL,
                               builders.short_name(owner.name, 63), owner.uid,
                               keep=set(desired.cronjobs))
    return desired


def in_sync(cluster: Cluster, obj: dict[str, Any]) -> bool:
    """Whether reconciling a schedule now would write nothing (no object, status or Event),
    judged from the startup snapshot without writing. A schedule already Stalled for its
    generation by the same refusal (or by the API server's refusal of its objects) counts as
    in sync: a restart or failover neither retries it nor announces it again."""
    body = kopf.Body(cast(kopf.RawBody, obj))
    owner, generation = owner_of(cluster, body.meta), body.meta["generation"]
    status = ReportScheduleStatus.of(obj)
    try:
        desired = desired_state(cluster, owner, body.meta, body.spec, status)
    except NotRunnable as exc:
        return stalled_as_recorded(status, generation=generation, reason=exc.condition_reason,
                                   message=str(exc))
    if stalled_as_recorded(status, generation=generation, reason=Rejected.__name__):
        return True
    return (not prunes(desired, status) and cluster.owned.matches(desired.objects, owner.uid)
            and not ready_status(desired, body.meta, status, datetime.now(UTC)))
