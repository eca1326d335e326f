"""A small adapter that applies built objects to the API, writing only what changed."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlencode

from bulletin.api.client import Kube
from bulletin.api.history import StatusTooLarge, history_limit, unrecorded, with_run
from bulletin.api.references import opened_for
from bulletin.api.runrequest import RUN_REQUEST_ANNOTATION
from bulletin.api.spec import GROUP, KIND, PLURAL, VERSION
from bulletin.api.status import ReportScheduleStatus
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from bulletin_operator import kubeapi, prefetch
from bulletin_operator.apierrors import (
    api_refusal,
    conflict,
)
from bulletin_operator.builders import HASH_ANNOTATION, SCHEDULE_LABEL
from bulletin_operator.jobs import FailedRun, job_condition
from bulletin_operator.kubeapi import KubeApi

NAMESPACE_TTL = 60.0
# How long a Secret or ConfigMap found opted in (USABLE_LABEL) counts as such without a new read.
# The label is checked when a spec is handled, so removing it always takes effect at the next
# spec change or operator start; this adds at most USABLE_TTL seconds to that.
USABLE_TTL = 10.0
USABLE_MAX = 10000


def controller_uid(meta: dict[str, Any]) -> str | None:
    """The UID of an object's controller (its ownerReference with controller: true), from
    its metadata."""
    for ref in meta.get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid"))
    return None


def _hash(meta: dict[str, Any]) -> str | None:
    return (meta.get("annotations") or {}).get(HASH_ANNOTATION)


class Adapter:
    """Creates, replaces or deletes objects; an object whose content hash matches is left alone."""

    def __init__(self) -> None:
        self._api = KubeApi()
        self._core = client.CoreV1Api()
        self._namespaces: dict[str, tuple[float, dict[str, str]]] = {}
        self._usable: dict[tuple[str, str, str], tuple[float, dict[str, str]]] = {}
        self.snapshot = prefetch.Snapshot()

    def ensure(self, objects: Iterable[dict[str, Any]], uid: str, new: bool = False) -> None:
        """Make each object exist with the given content, touching only objects controlled by
        ``uid``. ``new``: the owner was just created, so try creating first (one request
        instead of a read and a create). The startup snapshot stands in for the read where
        it can (a stale entry's write is redone from a fresh read). Raises NameConflict or
        Rejected, changing nothing of objects that are not ours."""
        for obj in objects:
            meta = obj["metadata"]
            if new and self.create_once(obj, uid):
                continue
            known = self.snapshot.take(obj["kind"], meta["namespace"], meta["name"])
            if known is not None and controller_uid(known) == uid:
                try:
                    self._update(obj, known)
                    continue
                except ApiException as exc:
                    if exc.status not in (404, 409):  # else: stale, read it as it is now
                        raise (api_refusal(exc, obj) or exc) from exc
            current = self._api.metadata(obj["kind"], meta["name"], meta["namespace"])
            if current is None:
                self.create_once(obj, uid)
                continue
            if controller_uid(current) != uid:
                raise conflict(obj["kind"], current)
            try:
                self._update(obj, current)
            except ApiException as exc:
                raise (api_refusal(exc, obj) or exc) from exc

    def _update(self, obj: dict[str, Any], current: dict[str, Any]) -> None:
        """Replace ``obj`` at the resourceVersion of ``current`` unless their hashes match."""
        meta = obj["metadata"]
        if _hash(current) != _hash(meta):
            version = current.get("resourceVersion")
            self._api.replace({**obj, "metadata": {**meta, "resourceVersion": version}})

    def matches(self, objects: Iterable[dict[str, Any]], uid: str) -> bool:
        """Whether the startup snapshot shows every object controlled by ``uid`` with the same
        content hash: ensure() would then write nothing. Reads nothing from the API."""
        for obj in objects:
            meta = obj["metadata"]
            known = self.snapshot.peek(obj["kind"], meta["namespace"], meta["name"])
            if known is None or controller_uid(known) != uid or _hash(known) != _hash(meta):
                return False
        return True

    def schedule_pages(self, namespaces: list[str | None]) -> Iterator[list[dict[str, Any]]]:
        """The ReportSchedules in ``namespaces`` (None: all), a page at a time."""
        for namespace in namespaces:
            yield from self._api.list_pages("ReportSchedule", namespace)

    def prime(self, namespaces: list[str | None]) -> int:
        """Read the snapshot of owned objects in ``namespaces`` (None: all); its size."""
        since = time.monotonic()
        self.snapshot.fill(prefetch.read(self._api, namespaces), since)
        return len(self.snapshot)

    def namespace_annotation(self, namespace: str, key: str) -> str:
        """An annotation of a namespace ("" when absent), cached for a minute."""
        now = time.monotonic()
        cached = self._namespaces.get(namespace)
        if cached is None or now - cached[0] > NAMESPACE_TTL:
            try:
                ns = self._core.read_namespace(namespace)
            except ApiException as exc:
                if exc.status != 404:
                    raise
                return ""  # the namespace is being deleted, and its objects with it
            cached = (now, dict(ns.metadata.annotations or {}))
            self._namespaces[namespace] = cached
        return str(cached[1].get(key, ""))

    def annotation_changed(self, namespace: str, annotations: dict[str, str], key: str) -> bool:
        """Whether ``key`` differs from the cached annotations of a namespace whose schedules
        used them (nothing cached: no schedule depends on it yet)."""
        cached = self._namespaces.get(namespace)
        return cached is not None and cached[1].get(key, "") != annotations.get(key, "")

    def remember_namespace(self, namespace: str, annotations: dict[str, str]) -> None:
        """Cache a namespace's annotations as a watch event shows them."""
        self._namespaces[namespace] = (time.monotonic(), dict(annotations))

    def calendar(self, name: str, namespace: str) -> dict[str, Any] | None:
        """A ReportCalendar (None when missing); read every time, so a new one counts at once."""
        return self._api.request("GET", kubeapi.path("ReportCalendar", namespace, name))

    def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        """Merge ``status`` into a ReportSchedule's status (a deleted one is no error)."""
        try:
            client.CustomObjectsApi().patch_namespaced_custom_object_status(
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
        return [client.ApiClient().sanitize_for_serialization(p) for p in pods.items]

    def record_if_missing(self, namespace: str, failed: FailedRun) -> bool:
        """Add a failed run to its ReportSchedule's history unless the runner recorded it."""
        kube = Kube(client.ApiClient())
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

    def create_once(self, obj: dict[str, Any], uid: str) -> bool:
        """Create ``obj`` unless it already exists; True when this call created it. An existing
        object of that name controlled by anything but ``uid`` is a NameConflict."""
        meta = obj["metadata"]
        try:
            self._api.create(obj)
        except ApiException as exc:
            if exc.status == 409:
                current = self._api.metadata(obj["kind"], meta["name"], meta["namespace"])
                if current is not None and controller_uid(current) != uid:
                    raise conflict(obj["kind"], current) from exc
                return False
            raise (api_refusal(exc, obj) or exc) from exc
        return True

    def delete_owned(self, kind: str, name: str, namespace: str, uid: str) -> None:
        """Delete an object if it exists and ``uid`` controls it; dependents go with it."""
        found = self._api.metadata(kind, name, namespace)
        if found is None or controller_uid(found) != uid:
            return
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background",
                "preconditions": {"uid": found.get("uid")}}
        try:
            self._api.delete(kind, name, namespace, body)
        except ApiException as exc:
            if exc.status not in (404, 409):
                raise

    def prune_cronjobs(self, namespace: str, label: str, value: str, uid: str,
                       keep: set[str]) -> None:
        """Delete the CronJobs labelled ``label=value`` that ``uid`` controls and that are not
        in ``keep`` (e.g. of entries removed from spec.schedules); others are never touched."""
        query = urlencode({"labelSelector": f"{label}={value}"})
        found = self._api.request("GET", f"{kubeapi.path('CronJob', namespace)}?{query}") or {}
        for item in found.get("items") or []:
            meta = item.get("metadata") or {}
            if meta.get("name") not in keep and controller_uid(meta) == uid:
                self.delete_owned("CronJob", str(meta["name"]), namespace, uid)

    def labels(self, kind: str, name: str, namespace: str) -> dict[str, str] | None:
        """The labels of a Secret or ConfigMap (None when missing). Reads metadata only, so
        no Secret value ever reaches the operator. An object found opted in is not read again
        for USABLE_TTL seconds (a thousand schedules naming one Secret cost one read, not a
        thousand); a refusal or a missing object is read again every time, so a label just
        added counts at once."""
        key, now = (kind, namespace, name), time.monotonic()
        cached = self._usable.get(key)
        if cached is not None and now - cached[0] < USABLE_TTL:
            return dict(cached[1])
        meta = self._api.metadata(kind, name, namespace)
        labels = None if meta is None else dict(meta.get("labels") or {})
        if labels is not None and opened_for(labels):
            if len(self._usable) > USABLE_MAX:
                self._usable = {k: v for k, v in self._usable.items()
                                if now - v[0] < USABLE_TTL}
            self._usable[key] = (now, labels)
        return labels

    def active_run_now(self, namespace: str, label: str, uid: str,
                       recorded: set[str]) -> str | None:
        """The name of a run-now Job of the schedule ``uid`` that has not finished (by its
        conditions, or by its run being ``recorded`` as ended in status), if any."""
        query = urlencode({"labelSelector": f"{SCHEDULE_LABEL}={label}"})
        jobs = self._api.request("GET", f"{kubeapi.path('Job', namespace)}?{query}") or {}
        for job in jobs.get("items") or []:
            meta = job.get("metadata") or {}
            finished = job_condition(job, "Complete", "Failed") is not None
            if (RUN_REQUEST_ANNOTATION in (meta.get("annotations") or {})
                    and controller_uid(meta) == uid and not finished
                    and meta.get("name") not in recorded):
                return str(meta["name"])
        return None

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
        kube = Kube(client.ApiClient())
        try:
            obj = kube.get_schedule(namespace, ref["name"])
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return ref["name"] if obj["metadata"].get("uid") == ref.get("uid") else None
