"""How the operator reads the API server's refusals of the objects it applies, and how its
reconciles wait out an API server or etcd restart: in the worker, with short growing waits, one
log line when the outage begins and one when it ends, and no write to the object meanwhile
(kopf's own retry would log a traceback and patch its retry state into every schedule)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from bulletin.api.backoff import Backoff, retried
from bulletin.api.errors import KubernetesError
from bulletin.api.gateway import message, transient
from kubernetes.client.exceptions import ApiException

log = logging.getLogger(__name__)
T = TypeVar("T")
OUTAGE_BACKOFF = Backoff(initial=0.5, cap=5.0)
RIDE_OUT_SECONDS = 300.0  # longer: the error goes to kopf, which retries in a minute
SETTLE_SECONDS = 30.0  # a restarted API server denies (401/403) until its caches sync


class NamespaceTerminating(KubernetesError):
    """The namespace is being deleted: nothing can be created there, and nothing needs to be."""


class NameConflict(KubernetesError):
    """An object the schedule would own exists and is controlled by something else."""


class Rejected(KubernetesError):
    """The API refused an object (a 4xx): retrying the same object cannot help."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def terminating(exc: ApiException) -> bool:
    """Whether the API refused a create because the namespace is being deleted."""
    return exc.status == 403 and "being terminated" in str(exc.body or "")


def api_refusal(exc: ApiException, obj: dict[str, Any]) -> Exception | None:
    """The exception to raise for an API error on ``obj``, None for one the caller handles."""
    meta = obj["metadata"]
    if terminating(exc):
        return NamespaceTerminating(meta["namespace"])
    if exc.status is not None and 400 <= exc.status < 500 and exc.status not in (404, 409, 429):
        return Rejected(f"{obj['kind']} {meta['name']} was refused by the API server:"
                        f" {message(exc)}", exc.status)
    return None


def conflict(kind: str, meta: dict[str, Any]) -> NameConflict:
    """The NameConflict for an existing ``kind`` (its ``meta``) that the schedule does not own."""
    return NameConflict(
        f"{kind} {meta.get('name')} already exists and is not owned by this ReportSchedule;"
        f" rename the ReportSchedule or remove the {kind}")


class Outage:
    """The API server's unavailability as the reconciles see it, shared by all of them. It
    ends with a success QUIET_SECONDS after the last failure: right after a restart, pooled
    connections fail one by one between successes, and that is still the same outage."""

    QUIET_SECONDS = 2.0

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._since: float | None = None
        self._last_failure = 0.0
        self._ended: float | None = None

    def failed(self, exc: BaseException) -> None:
        """A request failed transiently: the first one of an outage is logged."""
        with self._lock:
            self._last_failure = self.clock()
            if self._since is None:
                self._since = self._last_failure
                log.warning("the API server does not answer (%s); reconciles wait and retry"
                            " every %.0f s at most", _describe(exc), OUTAGE_BACKOFF.cap)

    def passed(self) -> None:
        """A request succeeded: an outage, if any, is over (and logged as such) once no
        request failed for QUIET_SECONDS."""
        if self._since is None:
            return
        with self._lock:
            now = self.clock()
            if self._since is not None and now - self._last_failure >= self.QUIET_SECONDS:
                log.info("the API server answers again, after %.1f s", now - self._since)
                self._since, self._ended = None, now

    def settling(self) -> bool:
        """Whether an outage is on or ended less than SETTLE_SECONDS ago."""
        with self._lock:
            return self._since is not None or (
                self._ended is not None and self.clock() - self._ended < SETTLE_SECONDS)


OUTAGE = Outage()


def _describe(exc: BaseException) -> str:
    status = getattr(exc, "status", None)
    return f"{type(exc).__name__} {status}" if status else type(exc).__name__


def _retryable(exc: BaseException, outage: Outage) -> bool:
    if isinstance(exc, ApiException | Rejected) and exc.status in (401, 403):
        return outage.settling() and not (isinstance(exc, ApiException) and terminating(exc))
    return transient(exc)


def ride_out(call: Callable[[], T], outage: Outage = OUTAGE, limit: float = RIDE_OUT_SECONDS,
             sleep: Callable[[float], None] = time.sleep) -> T:
    """``call()``, tried again while it fails transiently (or is denied just after an outage),
    for up to ``limit`` s; anything else, or an outage that lasts longer, raises."""
    found = retried(call, backoff=OUTAGE_BACKOFF, limit=limit,
                    retryable=lambda exc, wait: _retryable(exc, outage),
                    on_retry=lambda exc, wait: outage.failed(exc), sleep=sleep,
                    clock=outage.clock)
    outage.passed()
    return found
