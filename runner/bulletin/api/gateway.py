"""The one gateway to the Kubernetes API: how a client is made, how an outage is outlasted, and
how a failed call is told (``reason``, ``message``: what the error tree's KubernetesError family
says). Runner, operator, plugin and console make their clients here and nowhere else
(tests/unit/test_gateway.py checks), but for plugin.rest: the plugin's read-only reader for
listings, on the standard library (importing the kubernetes client takes longer than `kubectl
get`), which retries nothing.

Clients: in a pod its ServiceAccount, elsewhere the kubeconfig (``load_credentials``); a named
kubeconfig and context (``kubeconfig_client``); a user's bearer token (``bearer_client``); the
console's ServiceAccount impersonating a user (``impersonating_client``). Each says how often
urllib3 retries underneath: the runner never (``outlasting`` retries, with a log line and a
bound; hidden retries of an etcd-held request would spend the whole outage budget in one call,
unlogged); the operator, plugin and console keep urllib3's three reconnects (``RECONNECTS``),
announced here: their handlers and commands outside an outage loop would otherwise fail on the
first stale pooled connection after an API server restart.

Outages: connection errors, 5xx and 429 answers are retried with backoff for up to
``OUTAGE_SECONDS`` (or ``BULLETIN_API_OUTAGE_SECONDS``). A restarted API server answers 401/403
until its authenticator and RBAC caches have synced, so those are retried too, but only for
``SETTLE_SECONDS`` after the first one: a real denial still fails. An object too large to store
is never retried."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from typing import Any, TypeVar

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from bulletin.api.backoff import Backoff, retried

OUTAGE_SECONDS = 180.0
SETTLE_SECONDS = 30.0
REQUEST_TIMEOUT = (5.0, 30.0)  # connect, read
OUTAGE_BACKOFF = Backoff(initial=0.5, cap=8.0)
NO_RETRIES = 0  # outlasting() retries, with a log line and a bound
RECONNECTS = 3  # urllib3's default, made explicit (see the module docstring)
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
T = TypeVar("T")
log = logging.getLogger(__name__)


def load_credentials() -> None:
    """The default configuration: in a pod its ServiceAccount, without
    kubernetes.config.load_config's print to stdout (a line that is not JSON); elsewhere the
    kubeconfig, as load_config would."""
    if os.environ.get("KUBERNETES_SERVICE_HOST") and not os.environ.get("KUBECONFIG"):
        config.load_incluster_config()
    else:
        config.load_config()


def default_client(retries: int = RECONNECTS) -> client.ApiClient:
    """A client of the default configuration (``load_credentials``), its own connection pool,
    with urllib3 retrying ``retries`` times underneath."""
    configuration = client.Configuration.get_default_copy()
    configuration.retries = retries
    return client.ApiClient(configuration)


def kubeconfig_client(kubeconfig: str | None, context: str | None) -> client.ApiClient:
    """A client from the kubeconfig (``$KUBECONFIG`` by default) and its ``context``."""
    configuration = client.Configuration()
    config.load_kube_config(config_file=kubeconfig, context=context,
                            client_configuration=configuration)
    configuration.retries = RECONNECTS
    return client.ApiClient(configuration)


def in_cluster_configuration(with_token: bool) -> client.Configuration:
    """The API server as the pod sees it; with the pod's ServiceAccount token (re-read as it
    rotates) only ``with_token``: a console in token mode holds no credential of its own."""
    if with_token:
        config.load_incluster_config()
        return client.Configuration.get_default_copy()
    found = client.Configuration()
    host, port = os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"]
    found.host = f"https://{f'[{host}]' if ':' in host else host}:{port}"
    found.ssl_ca_cert = f"{SA_DIR}/ca.crt"
    return found


def _server_of(base: client.Configuration) -> client.Configuration:
    found = client.Configuration()
    found.host, found.ssl_ca_cert = base.host, base.ssl_ca_cert
    found.verify_ssl, found.retries = base.verify_ssl, RECONNECTS
    return found


def bearer_client(base: client.Configuration, token: str) -> client.ApiClient:
    """A client of ``base``'s API server that acts with a user's bearer ``token``."""
    found = _server_of(base)
    found.api_key = {"authorization": f"Bearer {token}"}
    return client.ApiClient(found)


class _Impersonating:
    """A urllib3 pool manager that adds Impersonate-User and one Impersonate-Group header
    per group (the kubernetes client's headers are a dict: one value per name)."""

    def __init__(self, pool: Any, user: str, groups: tuple[str, ...]) -> None:
        self._pool, self._user, self._groups = pool, user, groups

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        from urllib3 import HTTPHeaderDict

        headers = HTTPHeaderDict(kwargs.pop("headers", None) or {})
        for name in [h for h in headers if h.lower().startswith("impersonate-")]:
            headers.discard(name)
        headers["Impersonate-User"] = self._user
        for group in self._groups:
            headers.add("Impersonate-Group", group)
        return self._pool.request(method, url, headers=headers, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)


def impersonating_client(base: client.Configuration, user: str,
                         groups: tuple[str, ...]) -> client.ApiClient:
    """A client with ``base``'s credentials that impersonates ``user`` in ``groups``."""
    found = _server_of(base)
    found.api_key, found.refresh_api_key_hook = base.api_key, base.refresh_api_key_hook
    found.cert_file, found.key_file = base.cert_file, base.key_file
    api = client.ApiClient(found)
    api.rest_client.pool_manager = _Impersonating(api.rest_client.pool_manager, user, groups)
    return api


def too_large(exc: BaseException) -> bool:
    """The API server's refusal of an object too large to store: a 413, or etcd's "request is
    too large" (a 500) or a 422 that says so; the same request will never pass."""
    if not isinstance(exc, ApiException):
        return False
    text = f"{exc.reason} {exc.body!r}".lower()
    return exc.status == 413 or (exc.status in (422, 500) and "too large" in text)


def transient(exc: BaseException) -> bool:
    """An error that a restarting API server or etcd gives: worth retrying the same request."""
    if isinstance(exc, ApiException):
        return (exc.status in (429, 500, 502, 503, 504) or not exc.status) and not too_large(exc)
    return isinstance(exc, HTTPError | OSError)


def denied(exc: BaseException) -> bool:
    """A 401 or 403 answer (a real denial, or an API server whose caches have not synced)."""
    return isinstance(exc, ApiException) and exc.status in (401, 403)


def outage_limit() -> float:
    """How long API calls outlast an outage: ``BULLETIN_API_OUTAGE_SECONDS`` or the default."""
    return float(os.environ.get("BULLETIN_API_OUTAGE_SECONDS") or OUTAGE_SECONDS)


def outlasting(what: str, call: Callable[[], T], limit: float | None = None, *,
               sleep: Callable[[float], None] = time.sleep,
               clock: Callable[[], float] = time.monotonic) -> T:
    """``call()``, retried with backoff while it fails transiently, for up to ``limit`` s;
    a denial is retried for ``SETTLE_SECONDS`` from the first one (see the module docstring)."""
    denied_since: float | None = None

    def retryable(exc: BaseException, wait: float) -> bool:
        nonlocal denied_since
        if not isinstance(exc, ApiException | HTTPError | OSError):
            return False
        if denied(exc):
            now = clock()
            denied_since = now if denied_since is None else denied_since
            return now + wait <= denied_since + SETTLE_SECONDS
        return transient(exc)

    def say(exc: BaseException, wait: float) -> None:
        log.warning("cannot %s (%s %s); retrying in %.1fs", what, type(exc).__name__,
                    getattr(exc, "status", None) or "", wait)

    return retried(call, backoff=OUTAGE_BACKOFF,
                   limit=outage_limit() if limit is None else limit, retryable=retryable,
                   on_retry=say, sleep=sleep, clock=clock)



# What a call through a client raises when the API server cannot be reached or refuses.
API_ERRORS = (ApiException, HTTPError, OSError)


def reason(exc: BaseException) -> str:
    """A failed call in a few words: the API server's reason (e.g. "Forbidden") or the error's
    type; never the body, which may quote an object."""
    return str(getattr(exc, "reason", None) or type(exc).__name__)


def message(exc: ApiException) -> str:
    """The API server's own account of a refusal (its Status message), else status and reason."""
    try:
        return str(json.loads(exc.body)["message"])
    except (TypeError, ValueError, KeyError):
        return f"{exc.status} {exc.reason}"
