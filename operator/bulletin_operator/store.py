"""The store of the objects schedules own (their ServiceAccount, RBAC, CronJobs and run-now
Jobs): created, replaced or deleted only where the schedule controls them, written only when
their content hash changed, with the startup snapshot as its read cache."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode

from bulletin.api.runrequest import RUN_REQUEST_ANNOTATION
from kubernetes.client.exceptions import ApiException

from bulletin_operator import kubeapi, prefetch
from bulletin_operator.apierrors import api_refusal, conflict
from bulletin_operator.builders import HASH_ANNOTATION, SCHEDULE_LABEL
from bulletin_operator.jobs import job_condition
from bulletin_operator.kubeapi import KubeApi


def controller_uid(meta: dict[str, Any]) -> str | None:
    """The UID of an object's controller (its ownerReference with controller: true), from
    its metadata."""
    for ref in meta.get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid"))
    return None


def _hash(meta: dict[str, Any]) -> str | None:
    return (meta.get("annotations") or {}).get(HASH_ANNOTATION)


class OwnedObjectStore:
    """Creates, replaces or deletes owned objects; one whose content hash matches is left alone."""

    def __init__(self, api: KubeApi) -> None:
        self._api = api
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

    def prime(self, namespaces: list[str | None]) -> int:
        """Read the snapshot of owned objects in ``namespaces`` (None: all); its size."""
        since = time.monotonic()
        self.snapshot.fill(prefetch.read(self._api, namespaces), since)
        return len(self.snapshot)

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
