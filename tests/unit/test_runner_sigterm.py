"""SIGTERM in a runner pod (bulletin.shutdown): the send in flight finishes and is recorded,
nothing new starts, a retry's wait ends at once; outside a send the run stops where it is.
Real signals to this process, a real HTTP receiver."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from bulletin import shutdown
from bulletin.deliver.dispatch import deliver_all
from delivery_support import PERIOD, context, report, spec
from devstack.webhooks import WebhookServer
from doubles import MemoryLedger


@pytest.fixture(autouse=True)
def sigterm_handled() -> Iterator[None]:
    before = signal.getsignal(signal.SIGTERM)
    shutdown._State.stop.clear()
    shutdown.install()
    yield
    signal.signal(signal.SIGTERM, before)
    shutdown._State.stop.clear()


@pytest.fixture
def server() -> Iterator[WebhookServer]:
    receiver = WebhookServer().start()
    yield receiver
    receiver.stop()


def _hooks(server: WebhookServer, *names: str) -> list[dict[str, str]]:
    return [{"name": n, "url": server.url(f"/{n}")} for n in names]


def _sigterm_when_held_then_release(server: WebhookServer) -> threading.Thread:
    def act() -> None:
        assert server.wait_held(timeout=30)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.2)  # the signal is handled while the request is in flight
        server.release(200)

    thread = threading.Thread(target=act, daemon=True)
    thread.start()
    return thread


def test_the_send_in_flight_finishes_is_recorded_and_nothing_new_starts(
        server: WebhookServer, tmp_path: Path) -> None:
    server.hold(1)
    ledger = MemoryLedger()
    thread = _sigterm_when_held_then_release(server)
    with pytest.raises(shutdown.Terminated):
        deliver_all(spec({"webhooks": _hooks(server, "a", "b")}), context({}, tmp_path),
                    report(tmp_path / "out"), ledger, PERIOD)
    thread.join(5)
    assert [(r.path, r.status) for r in server.received] == [("/a", 200)]
    assert [(r.target, r.state, r.attempts) for r in ledger.saves[-1]] == [
        ("webhook/a", "Sent", 1), ("webhook/b", "Pending", 0)]


@pytest.mark.timeout(120)  # a wait the signal did not end would last 5-10 minutes
def test_a_retry_wait_ends_at_the_signal(server: WebhookServer, tmp_path: Path) -> None:
    server.fail("/a", [503])
    ledger = MemoryLedger()
    delivery = {"webhooks": _hooks(server, "a"),
                "retry": {"attempts": 3, "initialBackoffSeconds": 600,
                          "maxBackoffSeconds": 3600}}
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    with pytest.raises(shutdown.Terminated):
        deliver_all(spec(delivery), context({}, tmp_path), report(tmp_path / "out"), ledger,
                    PERIOD)
    assert [(r.target, r.state, r.attempts) for r in ledger.saves[-1]] == [
        ("webhook/a", "Pending", 1)]
    assert len(server.received) == 1


def test_outside_a_send_the_signal_stops_at_once() -> None:
    timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    with pytest.raises(shutdown.Terminated):
        time.sleep(10)
    assert shutdown.stopping()
