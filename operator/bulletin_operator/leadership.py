"""Leader election on a coordination.k8s.io/v1 Lease, for more than one operator replica.

Off unless ``BULLETIN_LEADER_ELECTION`` names the Lease as ``namespace/name`` (the chart sets it
when ``replicas`` > 1). A replica waits in kopf's startup until it holds the Lease, so a
standby neither watches nor writes; meanwhile it answers kopf's liveness probe itself. The
leader renews every ``RETRY`` s and exits the process (the kubelet restarts it as a standby) when
it has not renewed for ``RENEW_DEADLINE`` s, before any standby may take over: a standby takes
the Lease only after it saw the record unchanged for ``LEASE_SECONDS`` s by its own clock, so
the two never act at once, clock skew or not. See docs/operating-ha.md.
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

from bulletin.api.client import load_credentials
from kubernetes import client
from kubernetes.client.exceptions import ApiException

log = logging.getLogger(__name__)
LEASE_ENV = "BULLETIN_LEADER_ELECTION"
LEASE_SECONDS = 15
RENEW_DEADLINE = 10.0
RETRY = 2.0
_TIMEOUT = (2.0, 4.0)  # connect, read: one renewal never outlasts RENEW_DEADLINE


class Elector:
    """One candidate for the Lease ``namespace/name``, known as ``identity``."""

    def __init__(self, namespace: str, name: str, identity: str,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.namespace, self.name, self.identity = namespace, name, identity
        self.api = client.CoordinationV1Api()
        self.clock = clock
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
                                                   _request_timeout=_TIMEOUT)
        except ApiException as exc:
            if exc.status != 404:
                raise
            return self._write(now, None)
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
        spec.lease_duration_seconds = LEASE_SECONDS
        try:
            if lease is None:
                self.api.create_namespaced_lease(self.namespace, client.V1Lease(
                    metadata=client.V1ObjectMeta(name=self.name), spec=spec),
                    _request_timeout=_TIMEOUT)
            else:  # carries resourceVersion: a competing write makes this one fail (409)
                self.api.replace_namespaced_lease(self.name, self.namespace, lease,
                                                  _request_timeout=_TIMEOUT)
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
                                                   _request_timeout=_TIMEOUT)
            if lease.spec.holder_identity == self.identity:
                lease.spec.holder_identity, lease.spec.lease_duration_seconds = "", 1
                self.api.replace_namespaced_lease(self.name, self.namespace, lease,
                                                  _request_timeout=_TIMEOUT)

    def keep(self, lost: Callable[[], None]) -> None:
        """Renew in the background; call ``lost()`` once renewing failed for RENEW_DEADLINE."""
        def renew() -> None:
            while not self._stop.wait(RETRY):
                try:
                    self.try_lead()
                except Exception as exc:  # an outage: the watchdog decides
                    log.warning("cannot renew the Lease: %s", exc)

        def watchdog() -> None:
            while self.renewed is not None and self.clock() - self.renewed < RENEW_DEADLINE:
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
def _standby_liveness(argv: list[str]) -> Iterator[None]:
    """Answer kopf's liveness probe while kopf itself does not (it starts after startup)."""
    address = _liveness_address(argv)
    if address is None:
        yield
        return

    class Alive(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(address, Alive)
    thread = threading.Thread(target=server.serve_forever, args=(0.1,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()  # the port is kopf's again


async def lead() -> Elector | None:
    """Return once this replica leads (None: election is off); keep leading in the background."""
    where = os.environ.get(LEASE_ENV, "").strip()
    if not where:
        return None
    namespace, _, name = where.partition("/")
    load_credentials()
    # <pod>_<pid>_<random>: a container the kubelet restarts is a new candidate, not the holder
    host = os.environ.get("HOSTNAME") or socket.gethostname()
    identity = f"{host}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    elector = Elector(namespace, name, identity)
    log.info("waiting to lead (Lease %s as %s)", where, identity)
    with _standby_liveness(sys.argv):
        while True:
            try:
                if await asyncio.to_thread(elector.try_lead):
                    break
            except Exception as exc:  # an outage: a standby keeps trying
                log.warning("cannot read the Lease: %s", exc)
            await asyncio.sleep(RETRY)
    log.info("leading (Lease %s as %s)", where, identity)
    elector.keep(_lost)
    return elector
