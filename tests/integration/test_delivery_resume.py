"""Exactly once per target: a runner SIGKILLed mid-delivery resumes in the Job's next pod."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from devstack.mailsink import MailSink
from devstack.operatorproc import OperatorProcess
from devstack.postgres import Postgres
from devstack.webhooks import WebhookServer
from support import Cluster, create_secrets, report_schedule, wait_for, wait_for_run

HOOKS = ["a", "b", "c", "d"]


@pytest.fixture
def receiver() -> Iterator[WebhookServer]:
    server = WebhookServer().start()
    yield server
    server.stop()


def _deliveries(cluster: Cluster, namespace: str, name: str) -> dict[str, dict[str, object]]:
    history = (cluster.get_rs(namespace, name).get("status") or {}).get("history") or []
    return {d["target"]: d for d in history[0].get("deliveries") or []} if history else {}


def _runner_pods(cluster: Cluster, namespace: str) -> list[str]:
    pods = cluster.core.list_namespaced_pod(namespace).items
    return [p.metadata.name for p in sorted(pods, key=lambda p: p.metadata.creation_timestamp)]


def test_a_killed_run_sends_only_what_is_left(
    cluster: Cluster, operator: OperatorProcess, namespace: str, postgres: Postgres,
    smtp: MailSink, receiver: WebhookServer,
) -> None:
    # Targets in order: email, webhook/a, b, c, d (n = 5). The receiver holds the 3rd webhook
    # request (c), so the pod is killed after k = 3 targets were sent.
    create_secrets(cluster, namespace, postgres.url, smtp.port)
    delivery = {
        "email": {"smtpSecretRef": {"name": "smtp"}, "to": ["team@example.com"]},
        "webhooks": [{"name": n, "url": receiver.url(f"/{n}")} for n in HOOKS],
        "retry": {"attempts": 3, "initialBackoffSeconds": 1, "maxBackoffSeconds": 2},
    }
    cluster.create_rs(namespace, report_schedule("resume", delivery=delivery))
    receiver.hold(3)
    cluster.patch_rs(namespace, "resume",
                     {"metadata": {"annotations": {"bulletin.dev/run-requested-at": "go"}}})
    assert receiver.wait_held(timeout=180), "the third webhook request never came"

    # Status already says what happened, as it happened: 3 Sent, c in flight.
    states = wait_for(lambda: {t: (d["state"], d["attempts"])
                               for t, d in _deliveries(cluster, namespace, "resume").items()},
                      "delivery records")
    assert states == {"email": ("Sent", 1), "webhook/a": ("Sent", 1), "webhook/b": ("Sent", 1),
                      "webhook/c": ("Pending", 1), "webhook/d": ("Pending", 0)}
    [first_pod] = _runner_pods(cluster, namespace)
    cluster.kill(namespace, first_pod)
    receiver.release()
    sent_before = len(receiver.received)

    status = wait_for_run(cluster, namespace, "resume",
                          lambda s: s.get("lastRunRequest") == "go", timeout=240)
    last = status["lastRun"]
    assert last["result"] == "Succeeded", last
    assert len(_runner_pods(cluster, namespace)) == 2  # the Job's retry, same run id
    assert [h["runId"] for h in status["history"]] == [last["runId"]]

    after = [r.path for r in receiver.received[sent_before:]]
    assert after == ["/c", "/d"]  # exactly n - k more sends
    assert sorted(r.path for r in receiver.delivered()) == [f"/{n}" for n in HOOKS]
    assert smtp.copies() == {"team@example.com": 1}
    assert {d["target"]: (d["state"], d["attempts"]) for d in last["deliveries"]} == {
        "email": ("Sent", 1), "webhook/a": ("Sent", 1), "webhook/b": ("Sent", 1),
        "webhook/c": ("Sent", 2), "webhook/d": ("Sent", 1)}
    assert status["consecutiveFailures"] == 0
