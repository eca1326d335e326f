"""Who is asking, and a Kubernetes client that acts as them. Three ways: ``local`` (the
user's kubeconfig; a random token in the URL keeps other local users out), ``token`` (the
user's bearer token, from the Authorization header or the login cookie) and ``header`` (a
trusted proxy names the user in headers; the console's ServiceAccount impersonates them)."""

from __future__ import annotations

import hashlib
import hmac
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from threading import Lock
from typing import Any

from bulletin.api.address import is_plain_address
from bulletin.api.errors import CommandError
from bulletin.plugin.kube import KubeSession

LOCAL_COOKIE = "bulletin_console"
TOKEN_COOKIE = "bulletin_token"
CLIENTS_KEPT = 64


class Unauthenticated(CommandError):
    """The request names no user (no token, no cookie, no proxy header)."""


@dataclass(frozen=True)
class Identity:
    """The user as the request names them; ``secret`` is the bearer token (token mode)."""

    user: str | None = None
    groups: tuple[str, ...] = ()
    secret: str | None = field(default=None, repr=False)
    email: str | None = None  # header mode: the proxy's email header, if a plain address


@dataclass
class Access:
    """How the console reaches the API server for each request."""

    mode: str  # local | token | header
    namespace: str = "default"
    local: KubeSession | None = None  # local mode: the kubeconfig's client
    local_token: str = ""  # local mode: the URL token
    local_cookie: str = LOCAL_COOKIE  # local mode: per port (cookies are not), see serve.local
    configuration: Any = None  # token/header: the API server (and, header mode, the SA)
    user_header: str = "X-Forwarded-User"
    groups_header: str = "X-Forwarded-Groups"
    email_header: str = "X-Forwarded-Email"
    _clients: OrderedDict[str, Any] = field(default_factory=OrderedDict, repr=False)
    _lock: Lock = field(default_factory=Lock, repr=False)

    def identify(self, headers: Mapping[str, str], cookies: Mapping[str, str],
                 query_token: str | None = None) -> Identity:
        """The request's user; Unauthenticated when it names none."""
        if self.mode == "local":
            offered = cookies.get(self.local_cookie) or query_token or ""
            if not self.local_token or not hmac.compare_digest(offered, self.local_token):
                raise Unauthenticated("open the URL with the token that"
                                      " `kubectl bulletin console` printed")
            return Identity()
        if self.mode == "token":
            auth = headers.get("authorization", "")
            bearer = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
            secret = bearer or cookies.get(TOKEN_COOKIE, "")
            if not secret:
                raise Unauthenticated("sign in with a Kubernetes token")
            return Identity(secret=secret)
        user = headers.get(self.user_header.lower(), "").strip()
        if not user:
            raise Unauthenticated(f"no {self.user_header} header: the console must be reached"
                                  " through its authenticating proxy")
        getlist = getattr(headers, "getlist", None)  # a proxy may repeat the header
        values = (getlist(self.groups_header.lower()) if getlist else
                  [headers.get(self.groups_header.lower(), "")])
        groups = tuple(g.strip() for v in values for g in v.split(",") if g.strip())
        email = headers.get(self.email_header.lower(), "").strip()
        return Identity(user=user, groups=groups,
                        email=email if is_plain_address(email) else None)

    def kube(self, who: Identity, namespace: str | None = None) -> KubeSession:
        """A client acting as ``who`` in ``namespace``."""
        namespace = namespace or self.namespace
        if self.mode == "local":
            assert self.local is not None
            return replace(self.local, namespace=namespace)
        api = self._client(who)
        return KubeSession(namespace, lambda: api)

    def _client(self, who: Identity) -> Any:
        key = hashlib.sha256(repr((who.user, who.groups, who.secret)).encode()).hexdigest()
        with self._lock:
            if key in self._clients:
                self._clients.move_to_end(key)
                return self._clients[key]
        api = self._new_client(who)
        with self._lock:
            self._clients[key] = api
            while len(self._clients) > CLIENTS_KEPT:
                self._clients.popitem(last=False)
        return api

    def _new_client(self, who: Identity) -> Any:
        from bulletin.api.gateway import bearer_client, impersonating_client

        if self.mode == "token":
            assert who.secret is not None
            return bearer_client(self.configuration, who.secret)
        assert who.user is not None
        return impersonating_client(self.configuration, who.user, who.groups)


def whoami(kube: KubeSession) -> tuple[str, tuple[str, ...]]:
    """The user and groups the API server sees (a SelfSubjectReview)."""
    from kubernetes import client

    review = client.AuthenticationV1Api(kube.api).create_self_subject_review(
        client.V1SelfSubjectReview())
    info = review.status.user_info
    return str(info.username or ""), tuple(info.groups or ())


def can(kube: KubeSession, verb: str, name: str | None = None, resource: str = "reportschedules",
        group: str = "bulletin.dev") -> bool:
    """Whether the user may ``verb`` the resource in the client's namespace (the answer of
    `kubectl auth can-i`: a SelfSubjectAccessReview)."""
    from kubernetes import client

    attrs = client.V1ResourceAttributes(namespace=kube.namespace, verb=verb, group=group,
                                        resource=resource, name=name)
    review = client.AuthorizationV1Api(kube.api).create_self_subject_access_review(
        client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec(
            resource_attributes=attrs)))
    return bool(review.status.allowed)
