"""A small adapter that applies built objects to the API, writing only what changed."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from bulletin.api.client import Kube
from bulletin.api.history import history_limit, unrecorded, with_run
from bulletin.api.runrequest import RUN_REQUEST_ANNOTATION
from bulletin.api.spec import GROUP, KIND, PLURAL, VERSION
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from bulletin_operator.builders import HASH_ANNOTATION, SCHEDULE_LABEL
from bulletin_operator.jobs import FailedRun

NAMESPACE_TTL = 60.0


class NamespaceTerminating(Exception):
    """The namespace is being deleted: nothing can be created there, and nothing needs to be."""


class NameConflict(Exception):
    """An object the schedule would own exists and is controlled by something else."""


class Rejected(Exception):
    """The API refused an object (a 4xx): retrying the same object cannot help."""


def _terminating(exc: ApiException) -> bool:
    return exc.status == 403 and "being terminated" in str(exc.body or "")


def _api_message(exc: ApiException) -> str:
    try:
        return str(json.loads(exc.body)["message"])
    except (TypeError, ValueError, KeyError):
        return f"{exc.status} {exc.reason}"


def _refusal(exc: ApiException, obj: dict[str, Any]) -> Exception | None:
    """The exception to raise for an API error on ``obj``, None for one the caller handles."""
    meta = obj["metadata"]
    if _terminating(exc):
        return NamespaceTerminating(meta["namespace"])
    if exc.status is not None and 400 <= exc.status < 500 and exc.status not in (404, 409, 429):
        return Rejected(f"{obj['kind']} {meta['name']} was refused by the API server:"
                        f" {_api_message(exc)}")
    return None


def controller_uid(obj: Any) -> str | None:
    """The UID of an object's controller (its ownerReference with controller: true)."""
    for ref in obj.metadata.owner_references or []:
        if ref.controller:
            return str(ref.uid)
    return None


def _conflict(kind: str, obj: Any) -> NameConflict:
    return NameConflict(
        f"{kind} {obj.metadata.name} already exists and is not owned by this ReportSchedule;"
        f" rename the ReportSchedule or remove the {kind}")


@dataclass(frozen=True)
class _Kind:
    read: Callable[..., Any]
    create: Callable[..., Any]
    replace: Callable[..., Any]
    delete: Callable[..., Any]


def _kinds() -> dict[str, _Kind]:
    core, rbac, batch = client.CoreV1Api(), client.RbacAuthorizationV1Api(), client.BatchV1Api()
    return {
        "ServiceAccount": _Kind(core.read_namespaced_service_account,
                                core.create_namespaced_service_account,
                                core.replace_namespaced_service_account,
                                core.delete_namespaced_service_account),
        "Role": _Kind(rbac.read_namespaced_role, rbac.create_namespaced_role,
                      rbac.replace_namespaced_role, rbac.delete_namespaced_role),
        "RoleBinding": _Kind(rbac.read_namespaced_role_binding,
                             rbac.create_namespaced_role_binding,
                             rbac.replace_namespaced_role_binding,
                             rbac.delete_namespaced_role_binding),
        "CronJob": _Kind(batch.read_namespaced_cron_job, batch.create_namespaced_cron_job,
                         batch.replace_namespaced_cron_job, batch.delete_namespaced_cron_job),
        "Job": _Kind(batch.read_namespaced_job, batch.create_namespaced_job,
                     batch.replace_namespaced_job, batch.delete_namespaced_job),
    }


class Adapter:
    """Creates, replaces or deletes objects; an object whose content hash matches is left alone."""

    def __init__(self) -> None:
        self._kinds = _kinds()
        self._core = client.CoreV1Api()
        self._kinds_batch = client.BatchV1Api()
        self._namespaces: dict[str, tuple[float, dict[str, str]]] = {}

    def _read(self, kind: _Kind, name: str, namespace: str) -> Any | None:
        try:
            return kind.read(name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def ensure(self, objects: Iterable[dict[str, Any]], uid: str, new: bool = False) -> None:
        """Make each object exist with the given content, touching only objects controlled by
        ``uid``. ``new``: the owner was just created, so try creating first (one request
        instead of a read and a create). Raises NameConflict or Rejected, changing nothing
        of objects that are not ours."""
        for obj in objects:
            kind = self._kinds[obj["kind"]]
            meta = obj["metadata"]
            if new and self.create_once(obj, uid):
                continue
            current = self._read(kind, meta["name"], meta["namespace"])
            if current is None:
                self.create_once(obj, uid)
                continue
            if controller_uid(current) != uid:
                raise _conflict(obj["kind"], current)
            if (current.metadata.annotations or {}).get(HASH_ANNOTATION) != (
                meta.get("annotations") or {}
            ).get(HASH_ANNOTATION):
                version = current.metadata.resource_version
                try:
                    kind.replace(meta["name"], meta["namespace"],
                                 {**obj, "metadata": {**meta, "resourceVersion": version}})
                except ApiException as exc:
                    raise (_refusal(exc, obj) or exc) from exc

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

    def schedules(self, namespace: str) -> list[dict[str, Any]]:
        """The ReportSchedules of a namespace, as plain dicts."""
        found = client.CustomObjectsApi().list_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL)
        return list(found.get("items") or [])

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
        if not unrecorded(obj.get("status") or {}, failed.record, limit):
            return False
        kube.update_status(namespace, failed.schedule,
                           lambda status: with_run(status, failed.record, limit)
                           if unrecorded(status, failed.record, limit) else {})
        kube.event(obj, warning=True, reason="RunFailed",
                   message=f"run {failed.record.run_id}: Failed: {failed.record.message}")
        return True

    def create_once(self, obj: dict[str, Any], uid: str) -> bool:
        """Create ``obj`` unless it already exists; True when this call created it. An existing
        object of that name controlled by anything but ``uid`` is a NameConflict."""
        meta = obj["metadata"]
        kind = self._kinds[obj["kind"]]
        try:
            kind.create(meta["namespace"], obj)
        except ApiException as exc:
            if exc.status == 409:
                current = self._read(kind, meta["name"], meta["namespace"])
                if current is not None and controller_uid(current) != uid:
                    raise _conflict(obj["kind"], current) from exc
                return False
            raise (_refusal(exc, obj) or exc) from exc
        return True

    def delete_owned(self, kind: str, name: str, namespace: str, uid: str) -> None:
        """Delete an object if it exists and ``uid`` controls it; dependents go with it."""
        found = self._read(self._kinds[kind], name, namespace)
        if found is None or controller_uid(found) != uid:
            return
        body = client.V1DeleteOptions(propagation_policy="Background",
                                      preconditions=client.V1Preconditions(uid=found.metadata.uid))
        try:
            self._kinds[kind].delete(name, namespace, body=body)
        except ApiException as exc:
            if exc.status not in (404, 409):
                raise

    def labels(self, kind: str, name: str, namespace: str) -> dict[str, str] | None:
        """The labels of a Secret or ConfigMap (None when missing). Reads metadata only, so
        no Secret value ever reaches the operator."""
        plural = {"Secret": "secrets", "ConfigMap": "configmaps"}[kind]
        api = client.ApiClient()
        method, url, headers, body, _ = api.param_serialize(
            "GET", f"/api/v1/namespaces/{namespace}/{plural}/{name}",
            header_params={"Accept": "application/json;as=PartialObjectMetadata;"
                                     "g=meta.k8s.io;v=v1"},
            auth_settings=["BearerToken"])
        response = api.call_api(method, url, headers, body)
        if response.status == 404:
            return None
        if response.status >= 400:
            raise ApiException(status=response.status, reason=response.reason)
        meta = json.loads(response.read()).get("metadata") or {}
        return dict(meta.get("labels") or {})

    def active_run_now(self, namespace: str, label: str, uid: str,
                       recorded: set[str]) -> str | None:
        """The name of a run-now Job of the schedule ``uid`` that has not finished (by its
        conditions, or by its run being ``recorded`` as ended in status), if any."""
        jobs = self._kinds_batch.list_namespaced_job(
            namespace, label_selector=f"{SCHEDULE_LABEL}={label}")
        for job in jobs.items:
            finished = any(c.type in ("Complete", "Failed") and c.status == "True"
                           for c in (job.status.conditions or []))
            if (RUN_REQUEST_ANNOTATION in (job.metadata.annotations or {})
                    and controller_uid(job) == uid and not finished
                    and job.metadata.name not in recorded):
                return str(job.metadata.name)
        return None

    def schedule_of_job(self, job: dict[str, Any]) -> str | None:
        """The ReportSchedule a Job belongs to through its controller chain (the schedule
        itself for run-now Jobs, the schedule's CronJob for scheduled ones), or None."""
        namespace = job["metadata"]["namespace"]
        ref = next((r for r in job["metadata"].get("ownerReferences") or []
                    if r.get("controller")), None)
        if ref is not None and ref.get("kind") == "CronJob":
            cronjob = self._read(self._kinds["CronJob"], ref["name"], namespace)
            if cronjob is None or str(cronjob.metadata.uid) != ref.get("uid"):
                return None
            ref = next(({"kind": r.kind, "name": r.name, "uid": r.uid}
                        for r in cronjob.metadata.owner_references or [] if r.controller), None)
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
