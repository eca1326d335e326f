"""A small adapter that applies built objects to the API, writing only what changed."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from bulletin.history import with_run
from bulletin.kube import Kube
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from bulletin_operator.builders import HASH_ANNOTATION
from bulletin_operator.jobs import FailedRun, unrecorded

NAMESPACE_TTL = 60.0


class NamespaceTerminating(Exception):
    """The namespace is being deleted: nothing can be created there, and nothing needs to be."""


def _terminating(exc: ApiException) -> bool:
    return exc.status == 403 and "being terminated" in str(exc.body or "")


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
        self._namespaces: dict[str, tuple[float, dict[str, str]]] = {}
        self.writes = 0

    def _read(self, kind: _Kind, name: str, namespace: str) -> Any | None:
        try:
            return kind.read(name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def ensure(self, objects: Iterable[dict[str, Any]], new: bool = False) -> None:
        """Make each object exist with the given content. ``new``: the owner was just created,
        so try creating first (one request instead of a read and a create)."""
        for obj in objects:
            kind = self._kinds[obj["kind"]]
            meta = obj["metadata"]
            if new and self.create_once(obj):
                continue
            current = self._read(kind, meta["name"], meta["namespace"])
            if current is None:
                self.create_once(obj)
            elif (current.metadata.annotations or {}).get(HASH_ANNOTATION) != (
                meta.get("annotations") or {}
            ).get(HASH_ANNOTATION):
                version = current.metadata.resource_version
                kind.replace(meta["name"], meta["namespace"],
                             {**obj, "metadata": {**meta, "resourceVersion": version}})
                self.writes += 1

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
        limit = int((obj.get("spec") or {}).get("historyLimit") or 10)
        if not unrecorded(obj.get("status") or {}, failed.record, limit):
            return False
        kube.update_status(namespace, failed.schedule,
                           lambda status: with_run(status, failed.record, limit)
                           if unrecorded(status, failed.record, limit) else {})
        kube.event(obj, warning=True, reason="RunFailed",
                   message=f"run {failed.record.run_id}: Failed: {failed.record.message}")
        self.writes += 2
        return True

    def create_once(self, obj: dict[str, Any]) -> bool:
        """Create ``obj`` unless it already exists; True when this call created it."""
        meta = obj["metadata"]
        try:
            self._kinds[obj["kind"]].create(meta["namespace"], obj)
        except ApiException as exc:
            if exc.status == 409:
                return False
            if _terminating(exc):
                raise NamespaceTerminating(meta["namespace"]) from exc
            raise
        self.writes += 1
        return True

    def delete(self, kind: str, name: str, namespace: str) -> None:
        """Delete an object if it exists; its dependents go with it (background GC)."""
        try:
            self._kinds[kind].delete(name, namespace, propagation_policy="Background")
            self.writes += 1
        except ApiException as exc:
            if exc.status != 404:
                raise
