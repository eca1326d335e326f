"""The runner's only contact with the API: read its ReportSchedule, record runs, post Events;
typed calls through the gateway (bulletin.api.gateway: the client, the outage retries).

Status writes outlast an API server or etcd restart (gateway.outlasting): a run's record must
not be lost to one. A status write keeps the whole object within its byte budget
(history.fitted) and is never retried when the API server refuses it as too large: that raises
StatusTooLarge at once."""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from bulletin.api.backoff import Backoff, retried
from bulletin.api.calendar import CALENDAR_PLURAL
from bulletin.api.gateway import (
    NO_RETRIES,
    REQUEST_TIMEOUT,
    default_client,
    load_credentials,
    outlasting,
    too_large,
)
from bulletin.api.history import ETCD_REQUEST_LIMIT, StatusTooLarge, fitted, wire_size
from bulletin.api.spec import GROUP, KIND, PLURAL, VERSION
from bulletin.api.status import ReportScheduleStatus

log = logging.getLogger(__name__)
CONFLICT_RETRIES = 30
_CONFLICT_BACKOFF = Backoff(initial=0.1, cap=2.0)  # concurrent writers spread out
EVENT_SECONDS = 30.0  # an Event is retried briefly: the run's record is already in status


class Kube:
    """Typed wrappers over the few calls a run needs (RBAC allows exactly these)."""

    def __init__(self, api_client: client.ApiClient | None = None) -> None:
        if api_client is None:
            load_credentials()
            api_client = default_client(NO_RETRIES)
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
        def write() -> dict[str, Any]:
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
                raise

        conflicts = 0

        def conflicted(exc: BaseException, wait: float) -> bool:
            nonlocal conflicts
            if not (isinstance(exc, ApiException) and exc.status == 409):
                return False
            conflicts += 1
            return conflicts < CONFLICT_RETRIES

        try:
            return retried(write, backoff=_CONFLICT_BACKOFF, limit=math.inf, retryable=conflicted,
                           on_retry=lambda exc, wait: log.info(
                               "status conflict on attempt %d, retrying", conflicts),
                           sleep=time.sleep)
        except ApiException as exc:
            if exc.status == 409:
                raise RuntimeError(f"status of {namespace}/{name} kept conflicting; gave up"
                                   ) from exc
            raise

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
