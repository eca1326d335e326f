"""kopf handlers: validate into the model, build with pure functions, apply through the adapter."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import kopf
from bulletin.api.policy import Notifications
from bulletin.api.runrequest import RUN_REQUEST_ANNOTATION, read_options
from bulletin.api.spec import GROUP, PLURAL, VERSION
from bulletin.deliver.podenv import NAMESPACE_ALLOWED_DOMAINS_ANNOTATION as ALLOWLIST_ANNOTATION
from kubernetes import config as kube_config
from pydantic import ValidationError

from bulletin_operator import builders
from bulletin_operator.adapter import Adapter, NamespaceTerminating
from bulletin_operator.jobs import failed_run
from bulletin_operator.nextrun import NextRunRefresher
from bulletin_operator.parsing import parse
from bulletin_operator.settings import configure, runner_settings
from bulletin_operator.status import PAUSED, pause_state, reconciled

RESOURCE = (GROUP, VERSION, PLURAL)
_state: dict[str, Any] = {}


def adapter() -> Adapter:
    """The process-wide adapter (created after the kube config is loaded)."""
    found: Adapter = _state["adapter"]
    return found


@kopf.on.startup()
def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
    """Load credentials, tune kopf, and start keeping nextRunTime current."""
    kube_config.load_config()
    configure(settings)
    _state["adapter"] = Adapter()
    _state["refresher"] = NextRunRefresher()
    _state["refresher"].start()


@kopf.on.cleanup()
def cleanup(**_: Any) -> None:
    """Stop the background refresher."""
    if "refresher" in _state:
        _state["refresher"].stop()


def _owner(meta: kopf.Meta) -> builders.Owner:
    domains = adapter().namespace_annotation(meta["namespace"], ALLOWLIST_ANNOTATION)
    return builders.Owner(name=meta["name"], namespace=meta["namespace"], uid=meta["uid"],
                          allowed_domains=domains)


@kopf.on.resume(*RESOURCE)
@kopf.on.create(*RESOURCE)
@kopf.on.update(*RESOURCE, field="spec")
def reconcile(
    meta: kopf.Meta, spec: kopf.Spec, status: kopf.Status, patch: kopf.Patch,
    body: kopf.Body, reason: str = "", **_: Any,
) -> None:
    """Ensure the runner's account, RBAC and CronJob, and report Ready/Stalled/Paused."""
    owner, now = _owner(meta), datetime.now(UTC)
    try:
        model, rule = parse(spec, meta)
    except ValueError as exc:
        adapter().delete("CronJob", builders.cronjob_name(owner), owner.namespace)
        kopf.warn(body, reason="InvalidSpec", message=str(exc))
        patch.status.update(reconciled(status, generation=meta["generation"], error=str(exc),
                                       cron=None, cronjob=None, next_run=None, now=now))
        return
    paused, failures = pause_state(status, generation=meta["generation"],
                                   limit=model.notifications.pause_after_failures)
    running = model.model_copy(update={"suspend": True}) if paused else model
    try:
        adapter().ensure(builders.owned_objects(owner, running, runner_settings(), rule.cronjob),
                         new=reason == kopf.Reason.CREATE)
    except NamespaceTerminating:
        return  # the ReportSchedule goes with its namespace
    update = reconciled(status, generation=meta["generation"], error=None, cron=rule.cronjob,
                        cronjob=builders.cronjob_name(owner), next_run=rule.next_run(now),
                        now=now, paused=paused, failures=failures)
    if paused and "conditions" in update and _condition(status, PAUSED) != "True":
        kopf.warn(body, reason="Paused", message=f"{failures} runs failed in a row; paused")
    patch.status.update(update)


def _condition(status: kopf.Status, type_: str) -> str | None:
    return next((c.get("status") for c in status.get("conditions") or []
                 if c.get("type") == type_), None)


def _pause_changed(spec: kopf.Spec, meta: kopf.Meta, status: kopf.Status, **_: Any) -> bool:
    try:
        limit = Notifications.model_validate(spec.get("notifications") or {})
    except ValidationError:
        return False  # reconcile reports an invalid spec
    wanted, _failures = pause_state(status, generation=meta["generation"],
                                    limit=limit.pause_after_failures)
    return _condition(status, PAUSED) not in (None, "True" if wanted else "False")


@kopf.on.event(*RESOURCE, when=_pause_changed)
def follow_failures(**kwargs: Any) -> None:
    """Pause after too many failures, and resume after a success, as runs record them."""
    reconcile(**kwargs)


def _run_requested(annotations: kopf.Annotations, status: kopf.Status, **_: Any) -> bool:
    token = annotations.get(RUN_REQUEST_ANNOTATION)
    return bool(token) and token != status.get("lastRunRequest")


@kopf.on.resume(*RESOURCE, when=_run_requested)
@kopf.on.create(*RESOURCE, when=_run_requested)
@kopf.on.update(*RESOURCE, when=_run_requested)
def run_now(meta: kopf.Meta, spec: kopf.Spec, patch: kopf.Patch, body: kopf.Body,
            **_: Any) -> None:
    """Start a one-off Job for a new bulletin.dev/run-requested-at token, and echo the token."""
    token = meta["annotations"][RUN_REQUEST_ANNOTATION]
    try:
        model, _rule = parse(spec, meta)
        options = read_options(meta["annotations"])
    except ValueError as exc:
        kopf.warn(body, reason="RunNowRejected", message=f"run-now {token!r} not started: {exc}")
        patch.status["lastRunRequest"] = token
        return
    job = builders.run_now_job(_owner(meta), model, runner_settings(), token, options)
    try:
        created = adapter().create_once(job)
    except NamespaceTerminating:
        return
    if created:
        kopf.info(body, reason="RunRequested", message=f"Job {job['metadata']['name']} started")
    patch.status["lastRunRequest"] = token


def _job_failed(status: kopf.Status, **_: Any) -> bool:
    return any(c.get("type") == "Failed" and c.get("status") == "True"
               for c in status.get("conditions") or [])


@kopf.on.event("batch", "v1", "jobs", labels={builders.SCHEDULE_LABEL: kopf.PRESENT},
               when=_job_failed)
def record_failed_job(body: kopf.Body, name: str, namespace: str | None, **_: Any) -> None:
    """A Job that failed before its runner recorded the run: record it, with the pod's reason,
    in the ReportSchedule's history and an Event."""
    assert namespace is not None
    found = failed_run(body, adapter().job_pods(namespace, name))
    if found is not None:
        adapter().record_if_missing(namespace, found)
