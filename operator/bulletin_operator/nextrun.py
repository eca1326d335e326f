"""Keep status.nextRunTime current with one list a minute for all schedules.

Not a kopf timer per object: kopf puts a finalizer on every object with a timer, which costs a
write per object and blocks deleting a ReportSchedule (and its namespace) while the operator
is down.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from bulletin.api.base import rfc3339
from bulletin.api.calendar import CALENDAR_PLURAL, CalendarError, from_object, named_in
from bulletin.api.gateway import default_client, transient
from bulletin.api.spec import GROUP, PLURAL, VERSION
from bulletin.api.status import ReportScheduleStatus
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from bulletin_operator.parsing import parse

log = logging.getLogger(__name__)


def due_updates(
    items: Iterable[Mapping[str, Any]], now: datetime,
    calendars: Mapping[tuple[str, str], Mapping[str, Any]] | None = None,
) -> list[tuple[str, str, str | None]]:
    """(namespace, name, new nextRunTime) for each valid schedule whose next run has passed;
    ``calendars`` by (namespace, name): the ReportCalendars whose days off the runs skip."""
    updates = []
    second = now.replace(microsecond=0)  # status keeps whole seconds
    for obj in items:
        status, meta = ReportScheduleStatus.of(obj), obj["metadata"]
        due = status.next_run_time
        if not status.schedule or (due and due > second):
            continue
        try:
            days = {n: from_object(n, (calendars or {}).get((meta["namespace"], n)))
                    for n in named_in(obj.get("spec") or {})}
            _model, timing = parse(obj.get("spec") or {}, meta, days)
        except (ValueError, CalendarError):
            continue  # reconcile reports it as Stalled
        upcoming = timing.next_run(now)
        new = rfc3339(upcoming) if upcoming else None
        if new != (rfc3339(due) if due else None):
            updates.append((meta["namespace"], meta["name"], new))
    return updates


class NextRunRefresher:
    """A daemon thread: list all ReportSchedules every ``interval`` seconds, patch stale ones."""

    def __init__(self, interval: float = 60.0) -> None:
        self.interval = interval
        self._stop = threading.Event()
        self._client: client.ApiClient | None = None  # made at the first pass, credentials loaded
        self._thread = threading.Thread(target=self._loop, name="next-run", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def refresh(self) -> int:
        """One pass; returns how many schedules were patched."""
        self._client = self._client or default_client()
        api = client.CustomObjectsApi(self._client)
        items = api.list_cluster_custom_object(GROUP, VERSION, PLURAL)["items"]
        calendars = {}
        if any(named_in(i.get("spec") or {}) for i in items):
            found = api.list_cluster_custom_object(GROUP, VERSION, CALENDAR_PLURAL)["items"]
            calendars = {(c["metadata"]["namespace"], c["metadata"]["name"]): c for c in found}
        updates = due_updates(items, datetime.now(UTC), calendars)
        for namespace, name, new in updates:
            try:
                api.patch_namespaced_custom_object_status(
                    GROUP, VERSION, namespace, PLURAL, name, {"status": {"nextRunTime": new}})
            except ApiException as exc:
                if exc.status != 404:  # deleted meanwhile
                    log.warning("nextRunTime of %s/%s: %s", namespace, name, exc.reason,
                                extra={"namespace": namespace, "schedule": name})
        return len(updates)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.refresh()
            except Exception as exc:  # never let the refresher die; the next pass retries
                if transient(exc):  # the API server or etcd restarting: no traceback
                    log.warning("refreshing nextRunTime failed (%s); next pass in %ss",
                                type(exc).__name__, self.interval)
                else:
                    log.exception("refreshing nextRunTime failed")
