"""The runner's only contact with the API: read its ReportSchedule, record runs, post Events."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from bulletin.api.backoff import Backoff
from bulletin.api.spec import GROUP, KIND, PLURAL, VERSION

log = logging.getLogger(__name__)
CONFLICT_RETRIES = 30
_CONFLICT_BACKOFF = Backoff(initial=0.1, cap=2.0)  # concurrent writers spread out


class Kube:
    """Typed wrappers over the few calls a run needs (RBAC allows exactly these)."""

    def __init__(self, api_client: client.ApiClient | None = None) -> None:
        if api_client is None:
            config.load_config()
            api_client = client.ApiClient()
        self.custom = client.CustomObjectsApi(api_client)
        self.core = client.CoreV1Api(api_client)

    def get_schedule(self, namespace: str, name: str) -> dict[str, Any]:
        """The ReportSchedule object."""
        obj: dict[str, Any] = self.custom.get_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name
        )
        return obj

    def update_status(
        self,
        namespace: str,
        name: str,
        change: Callable[[Mapping[str, Any]], Mapping[str, Any]],
    ) -> dict[str, Any]:
        """Apply ``change`` to the status with optimistic concurrency, retrying on conflicts."""
        for attempt in range(CONFLICT_RETRIES):
            obj = self.custom.get_namespaced_custom_object_status(
                GROUP, VERSION, namespace, PLURAL, name
            )
            status = dict(obj.get("status") or {})
            status.update(change(status))
            obj["status"] = status
            try:
                result: dict[str, Any] = self.custom.replace_namespaced_custom_object_status(
                    GROUP, VERSION, namespace, PLURAL, name, obj
                )
                return result
            except ApiException as exc:
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
            self.core.create_namespaced_event(meta["namespace"], body)
        except ApiException as exc:
            log.warning("could not post event %s: %s", reason, exc.reason)
