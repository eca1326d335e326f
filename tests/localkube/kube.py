"""A minimal, typed Kubernetes REST client built on the standard library.

localkube talks to the API server with plain JSON dicts instead of the generated
``kubernetes`` models, so the harness stays independent of the client's generator.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import socket
import ssl
import tempfile
import threading
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

JSON = dict[str, Any]

PATCH_TYPES = {
    "strategic": "application/strategic-merge-patch+json",
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
}


class ApiError(Exception):
    """An HTTP error answered by the API server (``status`` is the HTTP code)."""

    def __init__(self, status: int, reason: str, body: JSON | None = None) -> None:
        self.status = status
        self.reason = reason
        self.body = body or {}
        message = self.body.get("message") if isinstance(self.body, dict) else None
        super().__init__(f"{status} {reason}: {message or ''}".rstrip(": "))


@dataclass(frozen=True)
class Credentials:
    """Where the API server is and how to authenticate to it."""

    server: str
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    token: str | None = None

    @classmethod
    def from_kubeconfig(cls, path: Path, context: str | None = None) -> Credentials:
        """Read the current (or named) context of a kubeconfig file."""
        path = Path(path)
        cfg = yaml.safe_load(path.read_text()) or {}
        ctx_name = context or cfg.get("current-context")
        ctx = _named(cfg.get("contexts", []), ctx_name, "context")
        cluster = _named(cfg.get("clusters", []), ctx.get("cluster"), "cluster")
        user = _named(cfg.get("users", []), ctx.get("user"), "user") if ctx.get("user") else {}
        base = path.parent

        def file_of(section: Mapping[str, Any], key: str) -> Path | None:
            if section.get(key):
                p = Path(section[key]).expanduser()
                return p if p.is_absolute() else base / p
            if section.get(f"{key}-data"):
                return _data_file(base64.b64decode(section[f"{key}-data"]))
            return None

        token = user.get("token")
        if not token and user.get("tokenFile"):
            token = Path(user["tokenFile"]).read_text().strip()
        return cls(
            server=str(cluster["server"]).rstrip("/"),
            ca_file=file_of(cluster, "certificate-authority"),
            cert_file=file_of(user, "client-certificate"),
            key_file=file_of(user, "client-key"),
            token=token,
        )

    def ssl_context(self) -> ssl.SSLContext:
        """An SSL context trusting the cluster CA and presenting the client cert."""
        ctx = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        if self.cert_file and self.key_file:
            ctx.load_cert_chain(str(self.cert_file), str(self.key_file))
        return ctx


def _named(items: list[JSON], name: Any, kind: str) -> JSON:
    for item in items:
        if item.get("name") == name:
            return dict(item.get(kind) or {})
    raise ValueError(f"kubeconfig has no {kind} named {name!r}")


def _data_file(data: bytes) -> Path:
    fd, name = tempfile.mkstemp(prefix="localkube-", suffix=".pem")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return Path(name)


class KubeClient:
    """Thread-safe JSON client for the Kubernetes REST API (one connection per thread)."""

    def __init__(self, creds: Credentials, timeout: float = 30.0) -> None:
        self.creds = creds
        self.timeout = timeout
        url = urllib.parse.urlsplit(creds.server)
        if url.scheme != "https" or not url.hostname:
            raise ValueError(f"unsupported server URL {creds.server!r}")
        self._host = url.hostname
        self._port = url.port or 443
        self._ssl = creds.ssl_context()
        self._local = threading.local()

    @classmethod
    def from_kubeconfig(cls, path: Path, timeout: float = 30.0) -> KubeClient:
        """Build a client from a kubeconfig file."""
        return cls(Credentials.from_kubeconfig(path), timeout=timeout)

    def _connect(self, timeout: float) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(
            self._host, self._port, context=self._ssl, timeout=timeout
        )

    def _headers(self, content_type: str | None) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": "localkube"}
        if content_type:
            headers["Content-Type"] = content_type
        if self.creds.token:
            headers["Authorization"] = f"Bearer {self.creds.token}"
        return headers

    @staticmethod
    def _url(path: str, query: Mapping[str, Any] | None) -> str:
        params = {k: str(v).lower() if isinstance(v, bool) else str(v)
                  for k, v in (query or {}).items() if v is not None}
        return path + ("?" + urllib.parse.urlencode(params) if params else "")

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: Mapping[str, Any] | None = None,
        content_type: str = "application/json",
    ) -> JSON:
        """Send one request and return the decoded JSON answer; raise ApiError on >= 400."""
        payload = None if body is None else json.dumps(body).encode()
        headers = self._headers(content_type if payload is not None else None)
        url = self._url(path, query)
        for attempt in (1, 2):
            conn: http.client.HTTPSConnection | None = getattr(self._local, "conn", None)
            fresh = conn is None
            if conn is None:
                conn = self._connect(self.timeout)
                self._local.conn = conn
            try:
                conn.request(method, url, body=payload, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            except (http.client.HTTPException, OSError):
                conn.close()
                self._local.conn = None
                if fresh or attempt == 2:
                    raise
                continue  # a kept-alive connection went stale: retry once on a new one
            return _decode(resp.status, resp.reason, data)
        raise AssertionError("unreachable")

    def get(self, path: str, **query: Any) -> JSON:
        """GET a resource or a list."""
        return self.request("GET", path, query=query)

    def create(self, path: str, body: JSON, **query: Any) -> JSON:
        """POST a new object to a collection path."""
        return self.request("POST", path, body, query=query)

    def replace(self, path: str, body: JSON) -> JSON:
        """PUT an object."""
        return self.request("PUT", path, body)

    def patch(self, path: str, body: Any, patch_type: str = "strategic") -> JSON:
        """PATCH an object (``strategic``, ``merge`` or ``json``)."""
        return self.request("PATCH", path, body, content_type=PATCH_TYPES[patch_type])

    def delete(self, path: str, body: JSON | None = None, **query: Any) -> JSON:
        """DELETE an object, optionally with DeleteOptions."""
        return self.request("DELETE", path, body, query=query)

    def exists(self, path: str) -> bool:
        """True if GET succeeds, False on 404."""
        try:
            self.get(path)
        except ApiError as e:
            if e.status == 404:
                return False
            raise
        return True

    def watch(
        self, path: str, resource_version: str, timeout_seconds: int = 60, **query: Any
    ) -> Watch:
        """Watch a collection from resource_version; iterate the result for events."""
        params = dict(query, watch="true", resourceVersion=resource_version,
                      timeoutSeconds=timeout_seconds, allowWatchBookmarks="true")
        return Watch(self, self._url(path, params), timeout_seconds + 15.0)


class Watch:
    """One watch request: iterate for (type, object) events until the server ends it.

    Iteration raises ApiError(410) when the resource version is too old (relist then).
    close() may be called from another thread and ends the iteration promptly.
    """

    def __init__(self, client: KubeClient, url: str, read_timeout: float) -> None:
        self._client = client
        self._url = url
        self._conn = client._connect(read_timeout)
        self._closed = False

    def close(self) -> None:
        """Abort the watch (unblocks a pending read)."""
        self._closed = True
        sock = self._conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._conn.close()

    def __iter__(self) -> Iterator[tuple[str, JSON]]:
        conn = self._conn
        try:
            if self._closed:
                return
            conn.request("GET", self._url, headers=self._client._headers(None))
            resp = conn.getresponse()
            if resp.status >= 400:
                _decode(resp.status, resp.reason, resp.read())
            while not self._closed:
                try:
                    line = resp.readline()
                except (OSError, ValueError, http.client.HTTPException):
                    if self._closed:
                        return
                    raise
                if not line:
                    return
                if not line.strip():
                    continue
                event = json.loads(line)
                obj = event.get("object") or {}
                if event.get("type") == "ERROR":
                    raise ApiError(int(obj.get("code", 500)), str(obj.get("reason", "")), obj)
                yield str(event.get("type")), obj
        finally:
            conn.close()


def _decode(status: int, reason: str, data: bytes) -> JSON:
    try:
        obj = json.loads(data) if data else {}
    except ValueError:
        obj = {"message": data.decode(errors="replace")[:2000]}
    if not isinstance(obj, dict):
        obj = {"value": obj}
    if status >= 400:
        raise ApiError(status, reason, obj)
    return obj


def ns_path(namespace: str, resource: str, name: str | None = None,
            group: str = "", version: str = "v1", sub: str | None = None) -> str:
    """Build a namespaced REST path, e.g. ns_path("default", "pods", "p", sub="status")."""
    base = f"/api/{version}" if not group else f"/apis/{group}/{version}"
    path = f"{base}/namespaces/{namespace}/{resource}"
    if name:
        path += f"/{name}"
    if sub:
        path += f"/{sub}"
    return path
