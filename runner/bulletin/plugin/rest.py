"""A small read-only REST client for the listing commands, on the standard library: importing
the kubernetes client takes longer than `kubectl get` takes in all. It reads one kubeconfig with
client certificates or a token; anything else (exec or auth-provider plugins, several files in
$KUBECONFIG, a proxy) is left to the kubernetes client (load() returns None)."""

from __future__ import annotations

import json
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from bulletin.api.errors import KubernetesError

USER_KEYS = {"client-certificate", "client-certificate-data", "client-key", "client-key-data",
             "token"}
CLUSTER_KEYS = {"server", "certificate-authority", "certificate-authority-data",
                "insecure-skip-tls-verify"}
TIMEOUT = 30.0


class RestError(KubernetesError):
    """An error status from the API server (read like kubernetes' ApiException)."""

    def __init__(self, status: int, reason: str, body: str) -> None:
        super().__init__(f"({status}) {reason}")
        self.status, self.reason, self.body = status, reason, body


@dataclass(frozen=True)
class Rest:
    """Where the API server is and how to authenticate; the context's namespace."""

    server: str
    namespace: str
    context: ssl.SSLContext | None
    token: str | None

    def get(self, path: str, accept: str = "application/json", **query: str) -> dict[str, Any]:
        """GET ``path`` (with ``query``): the decoded JSON; RestError on an error status."""
        import http.client

        url = urlsplit(self.server)
        conn: http.client.HTTPConnection
        if url.scheme == "https":
            conn = http.client.HTTPSConnection(url.netloc, timeout=TIMEOUT, context=self.context)
        else:
            conn = http.client.HTTPConnection(url.netloc, timeout=TIMEOUT)
        headers = {"Accept": accept, "User-Agent": "kubectl-bulletin"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        target = url.path.rstrip("/") + path + (f"?{urlencode(query)}" if query else "")
        try:
            conn.request("GET", target, headers=headers)
            response = conn.getresponse()
            body = response.read().decode()
        finally:
            conn.close()
        if response.status >= 400:
            raise RestError(response.status, response.reason, body)
        found: dict[str, Any] = json.loads(body)
        return found


def _named(doc: dict[str, Any], kind: str, name: str | None) -> dict[str, Any] | None:
    for entry in doc.get(kind) or []:
        if entry.get("name") == name:
            return dict(entry.get(kind[:-1]) or {})
    return None


def _ssl(cluster: dict[str, Any], user: dict[str, Any], base: Path) -> ssl.SSLContext:
    import base64

    context = ssl.create_default_context()
    if cluster.get("insecure-skip-tls-verify"):
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    elif data := cluster.get("certificate-authority-data"):
        context.load_verify_locations(cadata=base64.b64decode(data).decode())
    elif path := cluster.get("certificate-authority"):
        context.load_verify_locations(cafile=base / path)
    pem = [base64.b64decode(user[f"{k}-data"]) if user.get(f"{k}-data") else
           (base / user[k]).read_bytes() if user.get(k) else None
           for k in ("client-certificate", "client-key")]
    if pem[0] and pem[1]:
        with tempfile.TemporaryDirectory() as tmp:  # ssl loads a key pair from files only
            cert, key = Path(tmp, "cert"), Path(tmp, "key")
            cert.write_bytes(pem[0])
            key.touch(mode=0o600)
            key.write_bytes(pem[1])
            context.load_cert_chain(cert, key)
    return context


def load(kubeconfig: str | None, context: str | None) -> Rest | None:
    """A client for the kubeconfig's ``context`` (default: the current one), or None when
    this client cannot do what it says (the kubernetes client then reports any error)."""
    import yaml

    path = kubeconfig or os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
    if os.pathsep in path.strip(os.pathsep) or not Path(path).is_file():
        return None
    try:
        return _load(Path(path), context)
    except (yaml.YAMLError, ValueError, TypeError, AttributeError, KeyError, OSError):
        return None


def _load(path: Path, context: str | None) -> Rest | None:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    doc = yaml.load(path.read_text(), Loader=loader)  # a safe loader, C if built
    if not isinstance(doc, dict):
        return None
    ctx = _named(doc, "contexts", context or doc.get("current-context"))
    cluster = ctx and _named(doc, "clusters", ctx.get("cluster"))
    user = ctx and _named(doc, "users", ctx.get("user"))
    if (not ctx or not cluster or user is None or set(user) - USER_KEYS
            or set(cluster) - CLUSTER_KEYS or not cluster.get("server")):
        return None
    base = path.resolve().parent
    ssl_context = _ssl(cluster, user, base) if cluster["server"].startswith("https") else None
    return Rest(cluster["server"], ctx.get("namespace") or "default", ssl_context,
                user.get("token"))
