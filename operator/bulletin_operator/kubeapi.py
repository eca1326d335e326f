"""Plain-JSON requests for the objects a schedule owns and the metadata it checks.

The kubernetes client's typed methods turn every response into model objects, which costs more
CPU than the request itself when an operator writes thousands of objects: the write path sends
dicts, reads only metadata (PartialObjectMetadata) and never decodes what it does not use.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import orjson
from bulletin.api.gateway import default_client
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from bulletin_operator.metrics import METRICS

# kind -> (API prefix, plural)
PATHS = {
    "ServiceAccount": ("/api/v1", "serviceaccounts"),
    "Secret": ("/api/v1", "secrets"),
    "ConfigMap": ("/api/v1", "configmaps"),
    "Role": ("/apis/rbac.authorization.k8s.io/v1", "roles"),
    "RoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "rolebindings"),
    "CronJob": ("/apis/batch/v1", "cronjobs"),
    "Job": ("/apis/batch/v1", "jobs"),
    "ReportCalendar": ("/apis/bulletin.dev/v1alpha1", "reportcalendars"),
    "ReportSchedule": ("/apis/bulletin.dev/v1alpha1", "reportschedules"),
}
# Plain JSON as the fallback: an API server that cannot transform still answers.
METADATA_ONLY = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1, application/json"
LIST_METADATA_ONLY = ("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,"
                      " application/json")


def path(kind: str, namespace: str | None, name: str | None = None) -> str:
    """The URL path of a namespaced object, or of its collection when ``name`` is None (in
    all namespaces when ``namespace`` is None too)."""
    prefix, plural = PATHS[kind]
    scope = "" if namespace is None else f"/namespaces/{namespace}"
    base = f"{prefix}{scope}/{plural}"
    return base if name is None else f"{base}/{name}"


class KubeApi:
    """Requests through a client of the default configuration (``client``: one of its own)."""

    def __init__(self, api: client.ApiClient | None = None) -> None:
        self._api = api or default_client()

    def request(self, method: str, url: str, body: dict[str, Any] | None = None,
                accept: str = "application/json", decode: bool = True
                ) -> dict[str, Any] | None:
        """The decoded response ({} with ``decode`` off); None for a 404. Other errors raise
        ApiException (with the API server's Status as ``body``)."""
        headers = {"Accept": accept}
        if body is not None:
            headers["Content-Type"] = "application/json"
        method, full, headers, payload, _ = self._api.param_serialize(
            method, url, header_params=headers, body=body, auth_settings=["BearerToken"])
        with METRICS.api_request(method) as outcome:
            response = self._api.call_api(method, full, headers, payload)
            data = response.read()
            outcome.code = response.status
        if response.status == 404:
            return None
        if response.status >= 400:
            exc = ApiException(status=response.status, reason=response.reason)
            exc.body = data.decode("utf-8", "replace") if data else ""
            raise exc
        return dict(orjson.loads(data)) if data and decode else {}

    def metadata(self, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
        """An object's metadata (None when it does not exist); never its content, so no
        Secret value reaches the operator."""
        found = self.request("GET", path(kind, namespace, name), accept=METADATA_ONLY)
        return None if found is None else dict(found.get("metadata") or {})

    def list_pages(self, kind: str, namespace: str | None, selector: str = "", page: int = 500,
                   accept: str = "application/json") -> Iterator[list[dict[str, Any]]]:
        """The objects of ``kind`` (matching a label selector, if any) in one namespace or all
        (None), a page of at most ``page`` items at a time."""
        token = ""
        while True:
            query = {"limit": page, **({"labelSelector": selector} if selector else {}),
                     **({"continue": token} if token else {})}
            found = self.request("GET", f"{path(kind, namespace)}?{urlencode(query)}",
                                 accept=accept) or {}
            yield list(found.get("items") or [])
            token = (found.get("metadata") or {}).get("continue") or ""
            if not token:
                return

    def list_metadata(self, kind: str, namespace: str | None, selector: str,
                      page: int = 500) -> Iterator[dict[str, Any]]:
        """The metadata of every object of ``kind`` matching a label selector, in one namespace
        or all (None), read in pages of ``page`` items."""
        for items in self.list_pages(kind, namespace, selector, page, LIST_METADATA_ONLY):
            for item in items:
                yield dict(item.get("metadata") or {})

    def create(self, obj: dict[str, Any]) -> None:
        """Create ``obj`` (the response is not decoded)."""
        meta = obj["metadata"]
        self._send("POST", path(obj["kind"], meta["namespace"]), obj)

    def replace(self, obj: dict[str, Any]) -> None:
        """Replace ``obj`` (its metadata carries the resourceVersion it replaces)."""
        meta = obj["metadata"]
        self._send("PUT", path(obj["kind"], meta["namespace"], meta["name"]), obj)

    def delete(self, kind: str, name: str, namespace: str, body: dict[str, Any]) -> None:
        """Delete an object with delete options ``body``; a 404 is no error."""
        self.request("DELETE", path(kind, namespace, name), body, accept=METADATA_ONLY)

    def _send(self, method: str, url: str, obj: dict[str, Any]) -> None:
        if self.request(method, url, obj, accept=METADATA_ONLY, decode=False) is None:
            raise ApiException(status=404, reason="Not Found")
