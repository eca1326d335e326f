"""SMTP servers that accept and then stall, on the real node: each run waits out the fixed
SMTP timeout (120 s a reply), then ends with the server's silence named in status and an
Event, and the message a server may have taken is not sent again. Both run at once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from devstack.operatorproc import OperatorProcess
from devstack.ports import HOST
from devstack.postgres import Postgres
from devstack.stalls import StallServer, smtp_after_data, smtp_after_ehlo
from integration.test_slow_peer_runs import ended_once, failed_event
from kubernetes import client
from support import USABLE, Cluster, report_schedule, run_now_no_wait, wait_for_run

pytestmark = pytest.mark.faults
RETRY = {"attempts": 3, "initialBackoffSeconds": 1, "maxBackoffSeconds": 1}


@pytest.fixture
def stalls() -> Iterator[tuple[StallServer, StallServer]]:
    servers = StallServer(smtp_after_ehlo).start(), StallServer(smtp_after_data).start()
    yield servers
    for server in servers:
        server.stop()


def _schedule(cluster: Cluster, namespace: str, name: str, server: StallServer,
              attempts: int) -> None:
    cluster.core.create_namespaced_secret(namespace, client.V1Secret(
        metadata=client.V1ObjectMeta(name=name, labels=USABLE),
        string_data={"host": HOST, "port": str(server.port), "security": "none"}))
    email = {"smtpSecretRef": {"name": name}, "to": ["team@example.com"]}
    cluster.create_rs(namespace, report_schedule(name, delivery={
        "email": email, "retry": {**RETRY, "attempts": attempts}}))


def _is_run(run_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda status: bool(status["lastRun"]["runId"] == run_id)


def test_smtp_servers_that_stall_after_ehlo_and_after_the_message(
    cluster: Cluster, operator: OperatorProcess, namespace: str, postgres: Postgres,
    stalls: tuple[StallServer, StallServer],
) -> None:
    after_ehlo, after_data = stalls
    cluster.core.create_namespaced_secret(namespace, client.V1Secret(
        metadata=client.V1ObjectMeta(name="db", labels=USABLE),
        string_data={"url": postgres.url}))
    # one attempt after EHLO (each waits 120 s); three allowed after DATA, one used
    _schedule(cluster, namespace, "mute-ehlo", after_ehlo, attempts=1)
    _schedule(cluster, namespace, "mute-data", after_data, attempts=3)
    runs = {name: run_now_no_wait(cluster, namespace, name, "t1")
            for name in ("mute-ehlo", "mute-data")}
    last = {name: wait_for_run(cluster, namespace, name, _is_run(run_id), timeout=400)["lastRun"]
            for name, run_id in runs.items()}

    ehlo = last["mute-ehlo"]
    assert ehlo["result"] == "Failed", ehlo
    [email] = ehlo["deliveries"]
    assert (email["state"], email["attempts"]) == ("Failed", 1)
    assert ("no answer from the server (connect, greeting, EHLO, STARTTLS or AUTH) within 120s"
            in email["error"]), email
    assert "no answer from the server" in failed_event(cluster, namespace, ehlo["runId"])

    data = last["mute-data"]
    assert data["result"] == "Failed", data
    [email] = data["deliveries"]
    assert (email["state"], email["attempts"]) == ("Failed", 1), email
    assert "(DATA) within 120s; not resent" in email["error"], email
    assert "not resent" in failed_event(cluster, namespace, data["runId"])
    assert after_data.seen.smtp_messages == 1
    for run in last.values():
        ended_once(cluster, namespace, run["runId"])
