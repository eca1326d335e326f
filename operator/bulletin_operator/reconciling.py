"""Reconcile: validate the spec into the model, build what it should own with pure functions,
apply it through the store, and report Ready/Stalled/Paused in status."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import kopf
from bulletin.api.policy import Notifications
from bulletin.api.references import ambiguous_uses, references
from bulletin.api.status import ReportScheduleStatus
from pydantic import ValidationError

from bulletin_operator import builders
from bulletin_operator.apierrors import NameConflict, NamespaceTerminating, Rejected, ride_out
from bulletin_operator.cluster import Cluster
from bulletin_operator.desired import Desired, NotRunnable, apply, owner_of, ready_status
from bulletin_operator.kinds import RESOURCE
from bulletin_operator.metrics import METRICS
from bulletin_operator.status import PAUSE_FIELDS, PAUSED, pause_state, reconciled


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
