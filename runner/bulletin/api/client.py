"""The runner's only contact with the API: read its ReportSchedule, record runs, post Events.

Status writes outlast an API server or etcd restart: connection errors, 5xx and 429 answers are
retried with backoff for up to ``OUTAGE_SECONDS`` (or ``BULLETIN_API_OUTAGE_SECONDS``); a run's
record must not be lost to one. A restarted API server answers 401/403 until its authenticator
and RBAC caches have synced, so those are retried too, but only for ``SETTLE_SECONDS`` after the
first one: a real denial still fails. Each request times out after ``REQUEST_TIMEOUT`` and
urllib3 does not retry on its own: with etcd down the API server holds a request for its own
60 s, and hidden retries of that would spend the whole outage budget in one call, unlogged.

A status write keeps the whole object within its byte budget (history.fitted) and is never
retried when the API server refuses it as too large: that raises StatusTooLarge at once."""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from bulletin.api.backoff import Backoff, retried
from bulletin.api.calendar import CALENDAR_PLURAL
from bulletin.api.history import ETCD_REQUEST_LIMIT, StatusTooLarge, fitted, wire_size
from bulletin.api.spec import GROUP, KIND, PLURAL, VERSION
from bulletin.api.status import ReportScheduleStatus

log = logging.getLogger(__name__)
CONFLICT_RETRIES = 30
_CONFLICT_BACKOFF = Backoff(initial=0.1, cap=2.0)  # concurrent writers spread out
OUTAGE_SECONDS = 180.0
SETTLE_SECONDS = 30.0
REQUEST_TIMEOUT = (5.0, 30.0)  # connect, read
EVENT_SECONDS = 30.0  # an Event is retried briefly: the run's record is already in status
_OUTAGE_BACKOFF = Backoff(initial=0.5, cap=8.0)
T = TypeVar("T")


def too_large(exc: BaseException) -> bool:
    """The API server's refusal of an object too large to store: a 413, or etcd's "request is
    too large" (a 500) or a 422 that says so; the same request will never pass."""
    if not isinstance(exc, ApiException):
        return False
    text = f"{exc.reason} {exc.body!r}".lower()
    return exc.status == 413 or (exc.status in (422, 500) and "too large" in text)


def transient(exc: BaseException) -> bool:
    """An error that a restarting API server or etcd gives: worth retrying the same request."""
    if isinstance(exc, ApiException):
        return (exc.status in (429, 500, 502, 503, 504) or not exc.status) and not too_large(exc)
    return isinstance(exc, HTTPError | OSError)


def _denied(exc: BaseException) -> bool:
    return isinstance(exc, ApiException) and exc.status in (401, 403)


def outage_limit() -> float:
    """How long API calls outlast an outage: ``BULLETIN_API_OUTAGE_SECONDS`` or the default."""
    return float(os.environ.get("BULLETIN_API_OUTAGE_SECONDS") or OUTAGE_SECONDS)


def outlasting(what: str, call: Callable[[], T], limit: float | None = None, *,
               sleep: Callable[[float], None] = time.sleep,
               clock: Callable[[], float] = time.monotonic) -> T:
    """``call()``, retried with backoff while it fails transiently, for up to ``limit`` s;
    a denial is retried for ``SETTLE_SECONDS`` from the first one (see the module docstring)."""
    denied_since: float | None = None

    def retryable(exc: BaseException, wait: float) -> bool:
        nonlocal denied_since
        if not isinstance(exc, ApiException | HTTPError | OSError):
            return False
        if _denied(exc):
            now = clock()
            denied_since = now if denied_since is None else denied_since
            return now + wait <= denied_since + SETTLE_SECONDS
        return transient(exc)

    def say(exc: BaseException, wait: float) -> None:
        log.warning("cannot %s (%s %s); retrying in %.1fs", what, type(exc).__name__,
                    getattr(exc, "status", None) or "", wait)

    return retried(call, backoff=_OUTAGE_BACKOFF,
                   limit=outage_limit() if limit is None else limit, retryable=retryable,
                   on_retry=say, sleep=sleep, clock=clock)


def load_credentials() -> None:
    """In a pod: its ServiceAccount, without kubernetes.config.load_config's print to stdout
    (a line that is not JSON); elsewhere the kubeconfig, as load_config would."""
    if os.environ.get("KUBERNETES_SERVICE_HOST") and not os.environ.get("KUBECONFIG"):
        config.load_incluster_config()
    else:
        config.load_config()


class Kube:
    """Typed wrappers over the few calls a run needs (RBAC allows exactly these)."""

    def __init__(self, api_client: client.ApiClient | None = None) -> None:
        if api_client is None:
            load_credentials()
            configuration = client.Configuration.get_default_copy()
            configuration.retries = 0  # outlasting() retries, with a log line and a bound
            api_client = client.ApiClient(configuration)
        self.custom = client.CustomObjectsApi(api_client)
        self.core = client.CoreV1Api(api_client)

    def get_schedule(self, namespace: str, name: str) -> dict[str, Any]:
        """The ReportSchedule object."""
        obj: dict[str, Any] = outlasting("read the schedule", lambda: (
            self.custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name, _request_timeout=REQUEST_TIMEOUT)))
        return obj

    def get_calendar(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The ReportCalendar object, or None when there is none of that name."""
        try:
            obj: dict[str, Any] = outlasting("read the calendar", lambda: (
                self.custom.get_namespaced_custom_object(
                    GROUP, VERSION, namespace, CALENDAR_PLURAL, name)))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return obj

    def update_status(
        self,
        namespace: str,
        name: str,
        change: Callable[[ReportScheduleStatus], ReportScheduleStatus],
        on_trim: Callable[[int], None] | None = None,
    ) -> dict[str, Any]:
        """Apply ``change`` to the status with optimistic concurrency, retrying on conflicts,
        history cut to the object's byte budget (``on_trim`` hears how many runs that dropped).
        Only the fields the change (or the cut) made different are written; the rest stays
        as read, fields this version cannot read included. Raises StatusTooLarge, without
        retrying, when the object has no room for the change."""
        for attempt in range(CONFLICT_RETRIES):
            obj: dict[str, Any] = outlasting("read the status", lambda: (
                self.custom.get_namespaced_custom_object_status(
                    GROUP, VERSION, namespace, PLURAL, name, _request_timeout=REQUEST_TIMEOUT)))
            before = ReportScheduleStatus.of(obj)
            after, dropped = fitted(obj, change(before))
            obj["status"] = {**(obj.get("status") or {}), **before.changes(after)}
            if dropped and on_trim is not None:
                on_trim(dropped)
            try:
                # a write whose answer was lost to a restart comes back as a 409: re-read, redo
                result: dict[str, Any] = outlasting("write the status", functools.partial(
                    self.custom.replace_namespaced_custom_object_status,
                    GROUP, VERSION, namespace, PLURAL, name, obj,
                    _request_timeout=REQUEST_TIMEOUT))
                return result
            except ApiException as exc:
                if too_large(exc):
                    raise StatusTooLarge(wire_size(obj), ETCD_REQUEST_LIMIT, refused=True) from exc
                if exc.status != 409:
                    raise
                log.info("status conflict on attempt %d, retrying", attempt + 1)
                time.sleep(_CONFLICT_BACKOFF.wait(attempt + 1))
        raise RuntimeError(f"status of {namespace}/{name} kept conflicting; gave up")

    def event(self, obj: Mapping[str, Any], *, warning: bool, reason: str, message: str) -> None:
        """Post an Event on the ReportSchedule, so `kubectl describe` shows the run."""
        meta = obj["metadata"]
        now = datetime.now(UTC)
        body = client.CoreV1Event(
            metadata=client.V1ObjectMeta(generate_name=f"{meta['name']}.",
                                         namespace=meta["namespace"]),
            involved_object=client.V1ObjectReference(
                api_version=f"{GROUP}/{VERSION}", kind=KIND, name=meta["name"],
                namespace=meta["namespace"], uid=meta["uid"],
                resource_version=meta.get("resourceVersion"),
            ),
            reason=reason,
            message=message[:1024],
            type="Warning" if warning else "Normal",
            source=client.V1EventSource(component="bulletin-runner"),
            reporting_component="bulletin.dev/runner",
            reporting_instance="bulletin-runner",
            first_timestamp=now,
            last_timestamp=now,
            event_time=None,
            count=1,
            action="Run",
        )
        try:
            outlasting("post an event", functools.partial(
                self.core.create_namespaced_event, meta["namespace"], body,
                _request_timeout=REQUEST_TIMEOUT), limit=EVENT_SECONDS)
        except (ApiException, HTTPError, OSError) as exc:  # an Event is not worth a retried run
            log.warning("could not post event %s: %s", reason,
                        getattr(exc, "reason", None) or type(exc).__name__)
