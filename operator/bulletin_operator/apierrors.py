"""How the operator reads the API server's refusals of the objects it applies."""

from __future__ import annotations

import json
from typing import Any

from kubernetes.client.exceptions import ApiException


class NamespaceTerminating(Exception):
    """The namespace is being deleted: nothing can be created there, and nothing needs to be."""


class NameConflict(Exception):
    """An object the schedule would own exists and is controlled by something else."""


class Rejected(Exception):
    """The API refused an object (a 4xx): retrying the same object cannot help."""


def terminating(exc: ApiException) -> bool:
    """Whether the API refused a create because the namespace is being deleted."""
    return exc.status == 403 and "being terminated" in str(exc.body or "")


def _api_message(exc: ApiException) -> str:
    try:
        return str(json.loads(exc.body)["message"])
    except (TypeError, ValueError, KeyError):
        return f"{exc.status} {exc.reason}"


def api_refusal(exc: ApiException, obj: dict[str, Any]) -> Exception | None:
    """The exception to raise for an API error on ``obj``, None for one the caller handles."""
    meta = obj["metadata"]
    if terminating(exc):
        return NamespaceTerminating(meta["namespace"])
    if exc.status is not None and 400 <= exc.status < 500 and exc.status not in (404, 409, 429):
        return Rejected(f"{obj['kind']} {meta['name']} was refused by the API server:"
                        f" {_api_message(exc)}")
    return None


def conflict(kind: str, meta: dict[str, Any]) -> NameConflict:
    """The NameConflict for an existing ``kind`` (its ``meta``) that the schedule does not own."""
    return NameConflict(
        f"{kind} {meta.get('name')} already exists and is not owned by this ReportSchedule;"
        f" rename the ReportSchedule or remove the {kind}")
