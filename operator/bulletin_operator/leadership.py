"""Leader election on a coordination.k8s.io/v1 Lease, for more than one operator replica.

Off unless ``BULLETIN_LEADER_ELECTION`` names the Lease as ``namespace/name`` (the chart sets it
when ``replicas`` > 1). A replica waits in kopf's startup until it holds the Lease, so a
standby neither watches nor writes; meanwhile it answers kopf's health probe itself. The
leader renews every ``retry`` s and exits the process (the kubelet restarts it as a standby) when
it has not renewed for ``renew_deadline`` s, before any standby may take over: a standby takes
the Lease only after it saw the record unchanged for ``lease`` s by its own clock, so the two
never act at once, clock skew or not. ``BULLETIN_LEADER_ELECTION_TIMING`` (JSON, the chart's
``leaderElection``) sets the three. See docs/operating-ha.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import sys
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bulletin.api.gateway import default_client, load_credentials
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from pydantic import BaseModel, ConfigDict, Field, model_validator

log = logging.getLogger(__name__)
LEASE_ENV = "BULLETIN_LEADER_ELECTION"
TIMING_ENV = "BULLETIN_LEADER_ELECTION_TIMING"


class LeaseTiming(BaseModel):
    """How long a Lease lasts, when its holder gives up renewing, and how often all try."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
    lease: int = Field(6, alias="leaseDurationSeconds", ge=2)
    renew_deadline: float = Field(4.0, alias="renewDeadlineSeconds", gt=0)
    retry: float = Field(1.0, alias="retryPeriodSeconds", gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> LeaseTiming:
        if not self.retry < self.renew_deadline < self.lease:
            raise ValueError("retryPeriodSeconds < renewDeadlineSeconds < leaseDurationSeconds"
                             " must hold, or two replicas could act at once")
        return self

    @property
    def timeout(self) -> tuple[float, float]:
        """(connect, read) of one request: a renewal never outlasts the renew deadline."""
        return (1.0, min(2.0, self.renew_deadline / 2))


class Elector:
    """One candidate for the Lease ``namespace/name``, known as ``identity``."""

    def __init__(self, namespace: str, name: str, identity: str,
                 clock: Callable[[], float] = time.monotonic,
                 timing: LeaseTiming | None = None) -> None:
        self.namespace, self.name, self.identity = namespace, name, identity
        self.api = client.CoordinationV1Api(default_client())
        self.clock = clock
        self.timing = timing or LeaseTiming.model_validate({})
        #: clock() at the last successful read or write of the Lease (None: never).
        self.seen: float | None = None
        self._observed: tuple[Any, ...] | None = None
        self._observed_at = 0.0
        #: clock() before the last successful write of the Lease (None: never led).
        self.renewed: float | None = None
        self._stop = threading.Event()

    def try_lead(self) -> bool:
        """Take the Lease if it is free or expired, or renew it if ours; True when we hold it."""
        now = self.clock()
        try:
            lease = self.api.read_namespaced_lease(self.name, self.namespace,
                                                   _request_timeout=self.timing.timeout)
        except ApiException as exc:
            if exc.status != 404:
                raise
            self.seen = now
            return self._write(now, None)
        self.seen = now
        spec = lease.spec
        record = (spec.holder_identity, spec.renew_time, spec.lease_transitions)
        if record != self._observed:
            self._observed, self._observed_at = record, now
        held_by_other = spec.holder_identity not in (None, "", self.identity)
        if held_by_other and now < self._observed_at + (spec.lease_duration_seconds or 0):
            return False
        return self._write(now, lease)

    def _write(self, now: float, lease: Any) -> bool:
        stamp = datetime.now(UTC)
        spec = lease.spec if lease is not None else client.V1LeaseSpec(lease_transitions=0)
        if spec.holder_identity != self.identity:
            spec.acquire_time = stamp
            spec.lease_transitions = (spec.lease_transitions or 0) + (lease is not None)
        spec.holder_identity, spec.renew_time = self.identity, stamp
        spec.lease_duration_seconds = self.timing.lease
        try:
            if lease is None:
                self.api.create_namespaced_lease(self.namespace, client.V1Lease(
                    metadata=client.V1ObjectMeta(name=self.name), spec=spec),
                    _request_timeout=self.timing.timeout)
            else:  # carries resourceVersion: a competing write makes this one fail (409)
                self.api.replace_namespaced_lease(self.name, self.namespace, lease,
                                                  _request_timeout=self.timing.timeout)
        except ApiException as exc:
            if exc.status == 409:
                return False
            raise
        self.renewed = now
        return True

    def release(self) -> None:
        """Give the Lease up at a clean shutdown, so a standby takes over at once."""
        self._stop.set()
        with contextlib.suppress(ApiException, OSError):
            lease = self.api.read_namespaced_lease(self.name, self.namespace,
                                                   _request_timeout=self.timing.timeout)
            if lease.spec.holder_identity == self.identity:
                lease.spec.holder_identity, lease.spec.lease_duration_seconds = "", 1
                self.api.replace_namespaced_lease(self.name, self.namespace, lease,
                                                  _request_timeout=self.timing.timeout)

    def keep(self, lost: Callable[[], None]) -> None:
        """Renew in the background; call ``lost()`` once renewing failed for the deadline."""
        def renew() -> None:
            while not self._stop.wait(self.timing.retry):
                try:
                    self.try_lead()
                except Exception as exc:  # an outage: the watchdog decides
                    log.warning("cannot renew the Lease: %s", exc)

        def watchdog() -> None:
            while (self.renewed is not None
                   and self.clock() - self.renewed < self.timing.renew_deadline):
                if self._stop.wait(0.2):
                    return
            lost()

        for target in (renew, watchdog):
            threading.Thread(target=target, name=f"lease-{target.__name__}", daemon=True).start()


def _lost() -> None:
    log.critical("lost the leader Lease: exiting so that only the new leader acts")
    logging.shutdown()
    os._exit(1)


def _liveness_address(argv: list[str]) -> tuple[str, int] | None:
    """Host and port of kopf's --liveness endpoint on the command line, if any."""
    for i, arg in enumerate(argv):
        url = arg.partition("=")[2] if arg.startswith("--liveness=") else (
            argv[i + 1] if arg == "--liveness" and i + 1 < len(argv) else "")
        if url:
            parts = urllib.parse.urlsplit(url)
            return parts.hostname or "0.0.0.0", parts.port or 80
    return None


@contextlib.contextmanager
def _standby_health(argv: list[str], healthy: Callable[[], bool]) -> Iterator[None]:
    """Answer kopf's health probe while kopf itself does not (it starts after startup): 200
    while the standby can read the Lease, 503 when it could not for a while."""
    address = _liveness_address(argv)
    if address is None:
        yield
        return

    class Health(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if healthy() else 503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(address, Health)
    thread = threading.Thread(target=server.serve_forever, args=(0.1,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()  # the port is kopf's again


async def lead(where: str, timing: LeaseTiming, host: str) -> Elector | None:
    """Return once this replica leads on the Lease ``where`` (namespace/name; empty: election
    is off, None); keep leading in the background. ``host``: the pod's name."""
    if not where:
        return None
    namespace, _, name = where.partition("/")
    load_credentials()
    # <pod>_<pid>_<random>: a container the kubelet restarts is a new candidate, not the holder
    identity = f"{host or socket.gethostname()}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    elector = Elector(namespace, name, identity, timing=timing)
    log.info("waiting to lead (Lease %s as %s)", where, identity)
    started, failing = elector.clock(), False
    with _standby_health(sys.argv, lambda: elector.clock() - (
            elector.seen or started) < 3 * elector.timing.lease):
        while True:
            try:
                if await asyncio.to_thread(elector.try_lead):
                    break
                failing = False
            except Exception as exc:  # an outage: a standby keeps trying, and says so once
                if not failing:
                    log.warning("cannot read the Lease (%s); trying again every %.0f s",
                                exc, elector.timing.retry)
                failing = True
            await asyncio.sleep(elector.timing.retry)
    log.info("leading (Lease %s as %s)", where, identity)
    elector.keep(_lost)
    return elector
