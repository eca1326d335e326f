"""Tenants are adversaries, end to end on the real control plane: the API server refuses
smuggled recipients and unbounded timeouts, and a run refuses to call a non-public address."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from devstack.mailsink import MailSink
from devstack.operatorproc import OperatorProcess
from devstack.ports import HOST
from devstack.postgres import Postgres
from devstack.webhooks import WebhookServer
from kubernetes.client.exceptions import ApiException
from support import Cluster, create_secrets, report_schedule, run_now


@pytest.fixture
def receiver() -> Iterator[WebhookServer]:
    server = WebhookServer().start()
    yield server
    server.stop()


@pytest.mark.parametrize(("spec", "field", "message"), [
    ({"delivery": {"email": {"smtpSecretRef": {"name": "smtp"},
                             "to": ["a@evil.com(.example.com"]}}},
     "spec.delivery.email.to[0]", "must be a plain address like user@example.com"),
    ({"delivery": {"email": {"smtpSecretRef": {"name": "smtp"}, "to": ["ok@example.com"],
                             "bcc": ["x@example.com\r\nBcc: y@evil.com"]}}},
     "spec.delivery.email.bcc[0]", "must be a plain address"),
    ({"notifications": {"onFailure": {"email": ["Boss <boss@example.com>"]}}},
     "spec.notifications.onFailure.email[0]", "must be a plain address"),
    ({"delivery": {"email": {"smtpSecretRef": {"name": "smtp"}, "to": ["ok@example.com"],
                             "fromName": "Reports\r\nBcc: y@evil.com"}}},
     "spec.delivery.email.fromName", "should match"),
    ({"source": {"connectionSecretRef": {"name": "db", "key": "url"},
                 "statementTimeoutSeconds": 0}},
     "spec.source.statementTimeoutSeconds", "should be greater than or equal to 1"),
])
def test_the_api_server_refuses_unsafe_fields(cluster: Cluster, namespace: str,
                                              spec: dict[str, object], field: str,
                                              message: str) -> None:
    with pytest.raises(ApiException) as caught:
        cluster.create_rs(namespace, report_schedule("bad", **spec))
    assert caught.value.status == 422
    assert field in str(caught.value.body) and message in str(caught.value.body)


def test_a_webhook_to_a_non_public_address_fails_the_run_and_sends_nothing(
    cluster: Cluster, operator: OperatorProcess, namespace: str, postgres: Postgres,
    smtp: MailSink, receiver: WebhookServer,
) -> None:
    create_secrets(cluster, namespace, postgres.url, smtp.port)
    # 0.0.0.0 reaches a receiver on the host if connected to: refused whatever private
    # networks the operator allows.
    url = receiver.url("/ops").replace(HOST, "0.0.0.0")
    cluster.create_rs(namespace, report_schedule(
        "ssrf", delivery={"webhooks": [{"name": "ops", "url": url}],
                          "retry": {"attempts": 2, "initialBackoffSeconds": 1}}))
    status = run_now(cluster, namespace, "ssrf", "t1")
    last = status["lastRun"]
    assert last["result"] == "Failed", last
    [record] = last["deliveries"]
    assert (record["target"], record["state"], record["attempts"]) == ("webhook/ops", "Failed", 1)
    assert "webhook/ops (0.0.0.0): host 0.0.0.0 resolves to 0.0.0.0, an unspecified" \
        " address" in record["error"]
    assert receiver.received == []
