"""The operator's view of the cluster, all through one client of the gateway: the store of owned
objects, the caches of what schedules read from objects they do not own, and the reads and
status writes of ReportSchedules, their calendars and their Jobs' pods."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from bulletin.api.client import Kube
from bulletin.api.gateway import default_client
from bulletin.api.history import StatusTooLarge, history_limit, unrecorded, with_run
from bulletin.api.spec import GROUP, KIND, PLURAL, VERSION
from bulletin.api.status import ReportScheduleStatus
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from bulletin_operator import kubeapi
from bulletin_operator.caches import NamespaceAnnotationCache, OptInLabelCache
from bulletin_operator.jobs import FailedRun
from bulletin_operator.kubeapi import KubeApi
from bulletin_operator.store import OwnedObjectStore


class Cluster:
    """``owned``: the store of owned objects; ``namespaces`` and ``opted_in``: its caches of
    namespaces' annotations and of Secrets' and ConfigMaps' opt-in labels; the methods: the
    ReportSchedules themselves."""

    def __init__(self) -> None:
        api = default_client()
        self._api = KubeApi(api)
        self._core = client.CoreV1Api(api)
        self._custom = client.CustomObjectsApi(api)
        self._kube = Kube(api)
        self.owned = OwnedObjectStore(self._api)
        self.namespaces = NamespaceAnnotationCache(self._core)
        self.opted_in = OptInLabelCache(self._api)

    def schedule_pages(self, namespaces: list[str | None]) -> Iterator[list[dict[str, Any]]]:
        """The ReportSchedules in ``namespaces`` (None: all), a page at a time."""
        for namespace in namespaces:
            yield from self._api.list_pages("ReportSchedule", namespace)

    def calendar(self, name: str, namespace: str) -> dict[str, Any] | None:
        """A ReportCalendar (None when missing); read every time, so a new one counts at once."""
        return self._api.request("GET", kubeapi.path("ReportCalendar", namespace, name))

    def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        """Merge ``status`` into a ReportSchedule's status (a deleted one is no error)."""
        try:
            self._custom.patch_namespaced_custom_object_status(
                GROUP, VERSION, namespace, PLURAL, name, {"status": status})
        except ApiException as exc:
            if exc.status != 404:
                raise

    def schedules(self, namespace: str) -> list[dict[str, Any]]:
        """The ReportSchedules of a namespace, as plain dicts."""
        return [obj for page in self.schedule_pages([namespace]) for obj in page]

    def job_pods(self, namespace: str, job: str) -> list[dict[str, Any]]:
        """The pods of a Job, as plain dicts."""
        pods = self._core.list_namespaced_pod(namespace, label_selector=f"job-name={job}")
        return [self._core.api_client.sanitize_for_serialization(p) for p in pods.items]

    def record_if_missing(self, namespace: str, failed: FailedRun) -> bool:
        """Add a failed run to its ReportSchedule's history unless the runner recorded it."""
        kube = self._kube
        try:
            obj = kube.get_schedule(namespace, failed.schedule)
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        limit = history_limit(obj)
        if not unrecorded(ReportScheduleStatus.of(obj), failed.record, limit):
            return False
        message = f"run {failed.record.run_id}: Failed: {failed.record.message}"
        try:
            kube.update_status(namespace, failed.schedule,
                               lambda status: with_run(status, failed.record, limit)
                               if unrecorded(status, failed.record, limit) else status)
        except StatusTooLarge as exc:  # the Event is all that can tell it
            message += f" (not in status: {exc})"
        kube.event(obj, warning=True, reason="RunFailed", message=message)
        return True

    def schedule_of_job(self, job: dict[str, Any]) -> str | None:
        """The ReportSchedule a Job belongs to through its controller chain (the schedule
        itself for run-now Jobs, the schedule's CronJob for scheduled ones), or None."""
        namespace = job["metadata"]["namespace"]
        ref = next((r for r in job["metadata"].get("ownerReferences") or []
                    if r.get("controller")), None)
        if ref is not None and ref.get("kind") == "CronJob":
            cronjob = self._api.metadata("CronJob", ref["name"], namespace)
            if cronjob is None or cronjob.get("uid") != ref.get("uid"):
                return None
            ref = next((r for r in cronjob.get("ownerReferences") or [] if r.get("controller")),
                       None)
        if ref is None or ref.get("kind") != KIND:
            return None
        kube = self._kube
        try:
            obj = kube.get_schedule(namespace, ref["name"])
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return ref["name"] if obj["metadata"].get("uid") == ref.get("uid") else None
