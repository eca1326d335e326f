"""The plugin's view of the cluster: kubeconfig, namespace, ReportSchedule reads, and errors and
output printed the way kubectl prints them."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from bulletin.api.errors import CommandError

if TYPE_CHECKING:
    from bulletin.plugin.rest import Rest

# bulletin.api.spec's names, repeated so a listing need not import pydantic (a test compares)
GROUP = "bulletin.dev"
VERSION = "v1alpha1"
PLURAL = "reportschedules"
RESOURCE = f"{PLURAL}.{GROUP}"  # as kubectl names it in messages
KIND = f"reportschedule.{GROUP}"  # as kubectl names an object it changed
MERGE_PATCH = "application/merge-patch+json"


class PluginError(CommandError):
    """An error for the user; printed on stderr as it stands, exit status 1."""


class UsageError(PluginError):
    """Bad arguments (exit status 2)."""


@dataclass
class KubeSession:
    """An API client with the namespace the command works in: reads of ReportSchedules go
    through ``rest`` when the kubeconfig allows, the rest through the kubernetes client."""

    namespace: str
    load_api: Callable[[], Any]  # the kubernetes ApiClient, made when first needed
    rest: Rest | None = None
    _api: Any = field(default=None, repr=False)

    @property
    def api(self) -> Any:
        if self._api is None:
            self._api = self.load_api()
        return self._api

    @property
    def custom(self) -> Any:
        from kubernetes import client

        return client.CustomObjectsApi(self.api)

    @property
    def core(self) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self.api)

    @property
    def batch(self) -> Any:
        from kubernetes import client

        return client.BatchV1Api(self.api)

    def get(self, name: str) -> dict[str, Any]:
        """The ReportSchedule ``name`` in this namespace."""
        if self.rest is not None:
            return self.rest.get(f"/apis/{GROUP}/{VERSION}/namespaces/{self.namespace}/{PLURAL}"
                                 f"/{name}")
        obj: dict[str, Any] = self.custom.get_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, name)
        return obj

    def calendar(self, name: str) -> dict[str, Any]:
        """The ReportCalendar ``name`` in this namespace."""
        from bulletin.api.calendar import CALENDAR_PLURAL

        obj: dict[str, Any] = self.custom.get_namespaced_custom_object(
            GROUP, VERSION, self.namespace, CALENDAR_PLURAL, name)
        return obj

    def list(self, all_namespaces: bool = False,
             selector: str | None = None) -> list[dict[str, Any]]:
        """The ReportSchedules of this namespace, or of all namespaces (of a label selector)."""
        if self.rest is not None:
            where = "" if all_namespaces else f"/namespaces/{self.namespace}"
            found = self.rest.get(f"/apis/{GROUP}/{VERSION}{where}/{PLURAL}",
                                  **({"labelSelector": selector} if selector else {}))
            return list(found.get("items") or [])
        query = {"label_selector": selector} if selector else {}
        if all_namespaces:
            found = self.custom.list_cluster_custom_object(GROUP, VERSION, PLURAL, **query)
        else:
            found = self.custom.list_namespaced_custom_object(GROUP, VERSION, self.namespace,
                                                              PLURAL, **query)
        return list(found.get("items") or [])

    def patch(self, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """A JSON merge patch of the ReportSchedule ``name``."""
        obj: dict[str, Any] = self.custom.patch_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, name, dict(body), _content_type=MERGE_PATCH)
        return obj


def connect(kubeconfig: str | None, context: str | None, namespace: str | None) -> KubeSession:
    """A client from the kubeconfig (``$KUBECONFIG`` by default), in ``namespace`` or the
    context's namespace (default: "default")."""
    from bulletin.plugin.rest import load

    if (rest := load(kubeconfig, context)) is not None:
        return KubeSession(namespace or rest.namespace, lambda: _api(kubeconfig, context), rest)
    api = _api(kubeconfig, context)
    if namespace is None:
        from kubernetes import config

        contexts, current = config.list_kube_config_contexts(kubeconfig)
        chosen = next((c for c in contexts if c["name"] == context), current)
        namespace = (chosen.get("context") or {}).get("namespace") or "default"
    return KubeSession(namespace, lambda: api)


def _api(kubeconfig: str | None, context: str | None) -> Any:
    from bulletin.api.gateway import kubeconfig_client

    return kubeconfig_client(kubeconfig, context)


def server_error(exc: Any) -> str:
    """An ApiException as kubectl reports it:
    'Error from server (NotFound): reportschedules.bulletin.dev "x" not found'."""
    try:
        body = json.loads(exc.body or "")
    except (TypeError, ValueError):
        body = None
    if isinstance(body, dict) and body.get("message"):
        return f"Error from server ({body.get('reason') or exc.reason}): {body['message']}"
    return f"Error from server ({exc.reason}): status {exc.status}"


def dump(data: Any, output: str, out: TextIO = sys.stdout) -> None:
    """Print ``data`` as -o json (indented by four, as kubectl does) or -o yaml."""
    if output == "json":
        out.write(json.dumps(data, indent=4, sort_keys=True) + "\n")
    else:
        import yaml

        out.write(yaml.safe_dump(data, sort_keys=True, default_flow_style=False))


def as_list(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Objects wrapped the way `kubectl get -o json` wraps several."""
    return {"apiVersion": "v1", "items": items, "kind": "List",
            "metadata": {"resourceVersion": ""}}
