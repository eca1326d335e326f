"""Where the archive's URL comes from: a file the chart mounts from the platform team's
Secret (operator, hosted console), or that Secret read with the user's own kubeconfig
(`kubectl bulletin console`, `kubectl bulletin history --archive`)."""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bulletin.api.errors import ConfigurationError

URL_FILE = "BULLETIN_ARCHIVE_URL_FILE"
SECRET = "BULLETIN_ARCHIVE_SECRET"
DEFAULT_SECRET = "bulletin/bulletin-archive"
DEFAULT_KEY = "url"
DEFAULT_RETENTION_DAYS = 90


class Unreachable(ConfigurationError):
    """The archive's Secret cannot be read as this user (a sentence for them; ``status``: the
    API server's answer, 0 for a Secret without the key)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ArchiveSecret:
    """namespace/name[:key] of the archive's Secret."""

    namespace: str
    name: str
    key: str = DEFAULT_KEY

    @classmethod
    def parse(cls, text: str) -> ArchiveSecret:
        where, _, key = text.partition(":")
        namespace, _, name = where.partition("/")
        if not namespace or not name:
            raise ValueError(f"archive Secret {text!r}: expected NAMESPACE/NAME[:KEY]")
        return cls(namespace, name, key or DEFAULT_KEY)

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


def mounted_url(env: Mapping[str, str] = os.environ) -> str | None:
    """The URL in the file BULLETIN_ARCHIVE_URL_FILE names; None when unset or empty."""
    path = env.get(URL_FILE, "").strip()
    if not path:
        return None
    text = Path(path).read_text().strip() if Path(path).exists() else ""
    return text or None


def secret_ref(value: str | None = None, env: Mapping[str, str] = os.environ) -> ArchiveSecret:
    """The archive Secret: ``value``, else BULLETIN_ARCHIVE_SECRET, else the chart's default."""
    return ArchiveSecret.parse(value or env.get(SECRET) or DEFAULT_SECRET)


def url_from_secret(core: Any, ref: ArchiveSecret) -> str:
    """The URL in the Secret, read with ``core`` (a CoreV1Api as the user). Unreachable says
    who may read it when the user may not (or when it does not exist)."""
    from kubernetes.client.exceptions import ApiException

    try:
        secret = core.read_namespaced_secret(ref.name, ref.namespace)
    except ApiException as exc:
        if exc.status == 404:
            raise Unreachable(f"there is no run archive Secret {ref} (the platform team names"
                              " it in the chart's archive.existingSecret; give it with"
                              " --archive-secret NS/NAME[:KEY])", 404) from None
        if exc.status in (401, 403):
            raise Unreachable(
                f"the run archive is reachable only through the hosted console, or by those"
                f" who may read Secret {ref} (HTTP {exc.status}: {exc.reason})",
                exc.status) from None
        raise
    raw = (secret.data or {}).get(ref.key)
    if not raw:
        raise Unreachable(f"Secret {ref} has no key {ref.key!r} with the archive's URL")
    return base64.b64decode(raw).decode().strip()
