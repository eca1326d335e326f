"""Transient failures are retried within the run and delivered once; permanent ones are not."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from devstack.mailsink import MailSink
from devstack.operatorproc import OperatorProcess
from devstack.postgres import Postgres
from devstack.webhooks import WebhookServer
from support import Cluster, create_secrets, report_schedule, run_now

RETRY = {"attempts": 5, "initialBackoffSeconds": 1, "maxBackoffSeconds": 2}
EMAIL = {"smtpSecretRef": {"name": "smtp"}, "to": ["a@example.com", "b@example.com"],
         "cc": ["c@example.com"], "bcc": ["d@example.org"]}


@pytest.fixture
def receiver() -> Iterator[WebhookServer]:
    server = WebhookServer().start()
    yield server
    server.stop()


def _by_target(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["target"]: d for d in status["lastRun"]["deliveries"]}


def test_smtp_refusing_connections_then_accepting_sends_one_copy_each(
    cluster: Cluster, operator: OperatorProcess, namespace: str, postgres: Postgres,
    smtp: MailSink,
) -> None:
    create_secrets(cluster, namespace, postgres.url, smtp.port)
    cluster.create_rs(namespace, report_schedule(
        "refused", delivery={"email": EMAIL, "retry": RETRY}))
    smtp.refuse(3)
    status = run_now(cluster, namespace, "refused", "t1")
    assert status["lastRun"]["result"] == "Succeeded", status["lastRun"]
    email = _by_target(status)["email"]
    assert (email["state"], email["attempts"]) == ("Sent", 4)
    assert smtp.refused == 3
    assert smtp.copies() == {"a@example.com": 1, "b@example.com": 1, "c@example.com": 1,
                             "d@example.org": 1}
    assert sorted(status["lastRun"]["recipients"]) == sorted(smtp.copies())


def test_webhook_500_twice_then_200_is_delivered_once(
    cluster: Cluster, operator: OperatorProcess, namespace: str, postgres: Postgres,
    smtp: MailSink, receiver: WebhookServer,
) -> None:
    create_secrets(cluster, namespace, postgres.url, smtp.port)
    receiver.fail("/ops", [500, 500])
    receiver.fail("/gone", [404])
    delivery = {"webhooks": [{"name": "ops", "url": receiver.url("/ops")},
                             {"name": "gone", "url": receiver.url("/gone")}],
                "retry": RETRY}
    cluster.create_rs(namespace, report_schedule("flaky", delivery=delivery))
    status = run_now(cluster, namespace, "flaky", "t1")
    targets = _by_target(status)
    assert (targets["webhook/ops"]["state"], targets["webhook/ops"]["attempts"]) == ("Sent", 3)
    assert len(receiver.delivered("/ops")) == 1
    assert [r.status for r in receiver.received if r.path == "/ops"] == [500, 500, 200]
    # A 404 is permanent: one attempt, and the run says precisely what happened.
    assert (targets["webhook/gone"]["state"], targets["webhook/gone"]["attempts"]) == (
        "Failed", 1)
    assert "HTTP 404" in targets["webhook/gone"]["error"]
    assert status["lastRun"]["result"] == "PartiallyDelivered"
    assert "webhook/gone" in status["lastRun"]["message"]
