"""No secret value appears in status, Events or logs, even when deliveries fail and retry.

Every kind of delivery secret is in play: the database password, an SMTP password (STARTTLS
with AUTH), the S3 secret key, a webhook signing key, webhook and Slack URLs that carry
tokens. Two targets fail on the way (one transiently, one for good), so error texts are
written too; then status, every Event, every runner pod's log and the operator's log are
scanned for each value.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator

import pytest
from devstack.mailsink import MailSink
from devstack.operatorproc import OperatorProcess
from devstack.ports import HOST
from devstack.postgres import Postgres
from devstack.s3 import S3Server
from devstack.webhooks import WebhookServer
from kubernetes import client
from support import USABLE, Cluster, report_schedule, run_now

SMTP_PASSWORD = "smtp-" + secrets.token_hex(8)
SIGNING_KEY = "whsec-" + secrets.token_hex(12)
HOOK_TOKEN = "hooktoken" + secrets.token_hex(8)
SLACK_TOKEN = "xoxslack" + secrets.token_hex(8)
DENIED_TOKEN = "denied" + secrets.token_hex(8)


@pytest.fixture
def mail() -> Iterator[MailSink]:
    sink = MailSink(security="starttls", users={"reporter": SMTP_PASSWORD}).start()
    yield sink
    sink.stop()


@pytest.fixture
def receiver() -> Iterator[WebhookServer]:
    server = WebhookServer(key=SIGNING_KEY).start()
    yield server
    server.stop()


@pytest.fixture(scope="module", autouse=True)
def _bucket(s3: S3Server) -> None:
    s3.create_bucket("archive")


def _secret(cluster: Cluster, namespace: str, name: str, data: dict[str, str]) -> None:
    cluster.core.create_namespaced_secret(namespace, client.V1Secret(
        metadata=client.V1ObjectMeta(name=name, labels=USABLE), string_data=data))


def test_no_secret_value_is_written_anywhere(
    cluster: Cluster, operator: OperatorProcess, namespace: str, postgres: Postgres,
    mail: MailSink, receiver: WebhookServer, s3: S3Server,
) -> None:
    assert mail.tls is not None
    hook_url = receiver.url(f"/hooks/{HOOK_TOKEN}")
    slack_url = receiver.url(f"/services/{SLACK_TOKEN}")
    denied_url = receiver.url(f"/hooks/{DENIED_TOKEN}")
    receiver.fail(f"/hooks/{HOOK_TOKEN}", [500])
    receiver.fail(f"/hooks/{DENIED_TOKEN}", [403])
    _secret(cluster, namespace, "db", {"url": postgres.url})
    _secret(cluster, namespace, "smtp", {
        "host": HOST, "port": str(mail.port), "security": "starttls",
        "username": "reporter", "password": SMTP_PASSWORD, "ca": mail.tls.ca_pem,
        "from": "Reports <reports@example.com>"})
    _secret(cluster, namespace, "s3", {"accessKeyId": s3.access_key,
                                       "secretAccessKey": s3.secret_key,
                                       "endpoint": s3.endpoint})
    _secret(cluster, namespace, "hooks", {"ops": hook_url, "ops-key": SIGNING_KEY,
                                          "denied": denied_url})
    _secret(cluster, namespace, "chat", {"slack": slack_url})
    delivery = {
        "email": {"smtpSecretRef": {"name": "smtp"}, "to": ["team@example.com"]},
        "webhooks": [
            {"name": "ops", "urlSecretRef": {"name": "hooks", "key": "ops"},
             "signingSecretRef": {"name": "hooks", "key": "ops-key"}},
            {"name": "denied", "urlSecretRef": {"name": "hooks", "key": "denied"}},
        ],
        "slack": {"webhookSecretRef": {"name": "chat", "key": "slack"}},
        "storage": {"endpoint": s3.endpoint, "bucket": "archive", "encryption": "none",
                    "credentialsSecretRef": {"name": "s3"}, "archive": True},
        "retry": {"attempts": 3, "initialBackoffSeconds": 1, "maxBackoffSeconds": 2},
    }
    cluster.create_rs(namespace, report_schedule("secretive", delivery=delivery))
    status = run_now(cluster, namespace, "secretive", "t1")

    last = status["lastRun"]
    states = {d["target"]: d["state"] for d in last["deliveries"]}
    assert states == {"archive": "Sent", "email": "Sent", "webhook/ops": "Sent",
                      "webhook/denied": "Failed", "slack": "Sent"}, last
    assert last["result"] == "PartiallyDelivered"
    assert "HTTP 403" in last["message"]
    assert mail.logins == ["PLAIN:reporter"] or mail.logins == ["LOGIN:reporter"]
    assert [r.verified for r in receiver.received if r.path.endswith(HOOK_TOKEN)] == [True, True]

    pods = [p.metadata.name for p in cluster.core.list_namespaced_pod(namespace).items]
    logs = "".join(cluster.logs(namespace, p) for p in pods)
    assert "webhook/ops: attempt 1 failed" in logs  # the failure was logged, redacted
    events = [f"{e.reason} {e.message}"
              for e in cluster.core.list_namespaced_event(namespace).items]
    written = {
        "status": cluster.kubectl("get", "reportschedule", "secretive", "-n", namespace,
                                  "-o", "json").stdout,
        "events": "\n".join(events),
        "runner logs": logs,
        "operator log": operator.log.read_text(errors="replace"),
    }
    values = {"database password": postgres.password, "SMTP password": SMTP_PASSWORD,
              "S3 secret key": s3.secret_key, "signing key": SIGNING_KEY,
              "webhook URL token": HOOK_TOKEN, "Slack URL token": SLACK_TOKEN,
              "denied URL token": DENIED_TOKEN}
    leaks = [f"{what} in {where}" for where, text in written.items()
             for what, value in values.items() if value in text]
    assert leaks == []
    assert json.loads(written["status"])["status"]["history"][0]["runId"] == last["runId"]
