"""Peers that accept and never answer, or never accept: each run ends within its timeouts,
its status and an Event name the peer's problem, and nothing is delivered twice. The stalling
servers are real sockets on the node's address (devstack.stalls); SMTP's, which wait out the
fixed 120 s SMTP timeout, are in tests/faults/test_slow_smtp.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from devstack.mailsink import MailSink
from devstack.operatorproc import OperatorProcess
from devstack.ports import HOST, free_port
from devstack.postgres import Postgres
from devstack.stalls import StallServer, http_no_answer, silent
from kubernetes import client
from support import (
    USABLE,
    Cluster,
    create_secrets,
    event_messages,
    report_schedule,
    run_now,
    wait_for,
)


@pytest.fixture
def stall(request: pytest.FixtureRequest) -> Iterator[StallServer]:
    server = StallServer(request.param).start()
    yield server
    server.stop()


def ended_once(cluster: Cluster, namespace: str, run_id: str) -> None:
    """The run's Job finishes with one pod: the Job did not run the delivery again."""
    def finished() -> bool:
        job = cluster.batch.read_namespaced_job(run_id, namespace)
        return any(c.type in ("Complete", "Failed") and c.status == "True"
                   for c in job.status.conditions or [])

    wait_for(finished, f"Job {run_id} to finish", timeout=60,
             explain=lambda: cluster.diagnose(namespace))
    pods = cluster.core.list_namespaced_pod(namespace, label_selector=f"job-name={run_id}")
    assert len(pods.items) == 1, [p.metadata.name for p in pods.items]


def failed_event(cluster: Cluster, namespace: str, run_id: str) -> str:
    [message] = event_messages(cluster, namespace, "RunFailed",
                               lambda e: run_id in (e.message or ""))
    return message


@pytest.mark.parametrize("stall", [http_no_answer], indirect=True)
def test_a_webhook_that_never_answers(
    cluster: Cluster, operator: OperatorProcess, namespace: str, postgres: Postgres,
    smtp: MailSink, stall: StallServer,
) -> None:
    create_secrets(cluster, namespace, postgres.url, smtp.port)
    hook = {"name": "ops", "url": f"http://{HOST}:{stall.port}/ops", "timeoutSeconds": 2}
    retry = {"attempts": 2, "initialBackoffSeconds": 1, "maxBackoffSeconds": 1}
    cluster.create_rs(namespace, report_schedule(
        "silent-hook", delivery={"webhooks": [hook], "retry": retry}))
    status = run_now(cluster, namespace, "silent-hook", "t1")
    last = status["lastRun"]
    assert last["result"] == "Failed", last
    [record] = last["deliveries"]
    assert (record["target"], record["state"], record["attempts"]) == ("webhook/ops", "Failed", 2)
    assert record["error"] == f"webhook/ops ({HOST}): timed out (ReadTimeout)"
    assert "webhook/ops" in last["message"] and "timed out" in last["message"]
    assert "timed out (ReadTimeout)" in failed_event(cluster, namespace, last["runId"])
    # one request per attempt, all the same delivery (receivers dedupe on it); no Job retry
    ids = [h["X-Bulletin-Delivery"] for h in stall.seen.http_requests]
    assert ids == [f"{namespace}/silent-hook/{last['runId']}/webhook/ops"] * 2
    ended_once(cluster, namespace, last["runId"])


def _db_secret(cluster: Cluster, namespace: str, name: str, url: str) -> None:
    cluster.core.create_namespaced_secret(namespace, client.V1Secret(
        metadata=client.V1ObjectMeta(name=name, labels=USABLE), string_data={"url": url}))


def _broken_db_run(cluster: Cluster, namespace: str, name: str, url: str) -> dict[str, Any]:
    _db_secret(cluster, namespace, name, url)
    cluster.create_rs(namespace, report_schedule(name, source={
        "connectionSecretRef": {"name": name, "key": "url"}, "connectTimeoutSeconds": 2}))
    last: dict[str, Any] = run_now(cluster, namespace, name, "t1")["lastRun"]
    assert last["result"] == "Failed", last
    assert not last.get("deliveries"), last  # nothing was sent
    ended_once(cluster, namespace, last["runId"])
    return last


@pytest.mark.parametrize("stall", [silent], indirect=True)
def test_a_database_that_never_completes_its_handshake(
    cluster: Cluster, operator: OperatorProcess, namespace: str, postgres: Postgres,
    smtp: MailSink, stall: StallServer,
) -> None:
    create_secrets(cluster, namespace, postgres.url, smtp.port)
    last = _broken_db_run(cluster, namespace, "silent-db",
                          f"postgresql://reports:pw-never-shown@{HOST}:{stall.port}/x")
    assert ("could not connect within 2s (spec.source.connectTimeoutSeconds)"
            in last["message"]), last
    assert "could not connect within 2s" in failed_event(cluster, namespace, last["runId"])
    assert stall.seen.connections >= 1
    assert smtp.messages == []


def test_a_database_port_that_is_closed(
    cluster: Cluster, operator: OperatorProcess, namespace: str, postgres: Postgres,
    smtp: MailSink,
) -> None:
    create_secrets(cluster, namespace, postgres.url, smtp.port)
    last = _broken_db_run(cluster, namespace, "closed-db",
                          f"postgresql://reports:pw-never-shown@{HOST}:{free_port()}/x")
    assert "Connection refused" in last["message"], last
    assert "Connection refused" in failed_event(cluster, namespace, last["runId"])
    assert "pw-never-shown" not in str(last)
    assert smtp.messages == []
