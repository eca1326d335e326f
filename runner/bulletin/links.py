"""`kubectl bulletin link`: fresh presigned links to a past run's files, with the user's access.

The object keys come from status.history (the archive record, or the records that sent
links); the storage credentials from the Secret that spec.delivery.storage names, read with
the user's own kubeconfig (so RBAC decides who may hand out links).
"""

from __future__ import annotations

import base64
import sys
from collections.abc import Mapping
from typing import Any, TextIO

from bulletin.api.errors import CommandError, DeliveryError
from bulletin.api.history import stored_keys
from bulletin.api.spec import GROUP, PLURAL, VERSION
from bulletin.api.status import ReportScheduleStatus
from bulletin.api.storage import Storage
from bulletin.deliver.storage import ObjectStore


class LinkError(CommandError):
    """Why no link can be made, for the user."""


def pick_run(status: ReportScheduleStatus, run: str | None) -> tuple[str, list[str]]:
    """(run id, keys) of ``run``, or of the newest run that stored files."""
    for entry in status.history:
        if run is not None and entry.run_id != run:
            continue
        keys = stored_keys(entry)
        if keys or run is not None:
            if not keys:
                raise LinkError(f"run {run} stored no files (no archive and no links)")
            return entry.run_id, keys
    if run is not None:
        raise LinkError(f"run {run} is not in status.history (it keeps the last runs only)")
    raise LinkError("no run in status.history stored files: set spec.delivery.storage"
                    " (archive: true keeps every run)")


class SecretDenied(LinkError):
    """The user may not read the storage Secret (``where``: namespace/name)."""

    def __init__(self, where: str, reason: str) -> None:
        self.where = where
        super().__init__(f"cannot read Secret {where}: {reason}")


def store_of(api: Any, namespace: str, obj: Mapping[str, Any], endpoint: str | None = None
             ) -> ObjectStore:
    """The schedule's storage target, with its Secret read through ``api`` (as the user)."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    name = obj["metadata"]["name"]
    raw = ((obj.get("spec") or {}).get("delivery") or {}).get("storage")
    if not raw:
        raise LinkError(f"{name} has no spec.delivery.storage")
    storage = Storage.model_validate(raw)
    if endpoint:
        storage = storage.model_copy(update={"endpoint": endpoint})
    secret_name = storage.credentials_secret_ref.name
    try:
        secret = client.CoreV1Api(api).read_namespaced_secret(secret_name, namespace)
    except ApiException as exc:
        if exc.status in (401, 403):
            raise SecretDenied(f"{namespace}/{secret_name}", str(exc.reason)) from exc
        raise LinkError(f"cannot read Secret {namespace}/{secret_name}: {exc.reason}") from exc
    credentials = {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}
    if endpoint:  # the user, who can read the Secret, signs for another address of the server
        credentials["endpoint"] = endpoint
    try:
        return ObjectStore(storage, credentials, secret_name)
    except DeliveryError as exc:
        raise LinkError(str(exc)) from exc


def print_links(api: Any, namespace: str, name: str, *, run: str | None = None,
                file: str | None = None, expires: int | None = None,
                endpoint: str | None = None, out: TextIO = sys.stdout) -> tuple[str, list[str]]:
    """Print one presigned URL per file of the run (``file`` only, if given); the run id and
    the keys linked."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    try:
        obj = client.CustomObjectsApi(api).get_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name)
    except ApiException as exc:
        raise LinkError(f"reportschedule {namespace}/{name}: {exc.reason}") from exc
    if expires is not None and not 1 <= expires <= 604800:
        raise LinkError("--expires must be 1..604800 seconds (S3 allows 7 days at most)")
    run_id, keys = pick_run(ReportScheduleStatus.of(obj), run)
    if file is not None:
        keys = [k for k in keys if k.rsplit("/", 1)[-1] == file]
        if not keys:
            raise LinkError(f"run {run_id} has no file {file}")
    store = store_of(api, namespace, obj, endpoint)
    try:
        for key in keys:
            if not store.exists(key):
                raise LinkError(f"{key} is gone from {store.where}"
                                f" (retentionDays: {store.storage.retention_days})")
            print(store.presign(key, expires or store.storage.link_expiry_seconds), file=out)
    except DeliveryError as exc:
        raise LinkError(str(exc)) from exc
    return run_id, keys
