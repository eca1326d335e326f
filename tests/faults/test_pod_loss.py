"""A runner pod deleted mid-delivery: at once (as when its node is lost), the Job's next pod
sends only the targets the ledger does not record as sent; gracefully (SIGTERM), the pod
finishes the send in flight and records it, so nothing is sent twice."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from devstack.mailsink import MailSink
from devstack.operatorproc import OperatorProcess
from devstack.postgres import Postgres
from devstack.webhooks import WebhookServer
from support import (
    Cluster,
    create_secrets,
    report_schedule,
    run_now_no_wait,
    wait_for,
    wait_for_run,
)

pytestmark = pytest.mark.faults


def test_a_deleted_pod_is_replaced_and_sends_only_the_rest(
    cluster: Cluster, operator: OperatorProcess, namespace: str, postgres: Postgres,
    smtp: MailSink, receiver: WebhookServer,
) -> None:
    # Targets in order: email, webhook/a, webhook/b. The receiver holds b's request (the 2nd
    # webhook request) and never answers it: the pod is deleted with email and a sent.
    create_secrets(cluster, namespace, postgres.url, smtp.port)
    delivery = {"email": {"smtpSecretRef": {"name": "smtp"}, "to": ["team@example.com"]},
                "webhooks": [{"name": n, "url": receiver.url(f"/{n}")} for n in ("a", "b")]}
    cluster.create_rs(namespace, report_schedule("r", delivery=delivery))
    receiver.hold(2)
    run_id = run_now_no_wait(cluster, namespace, "r", "go")
    assert receiver.wait_held(timeout=180), "the second webhook request never came"
    [pod] = cluster.core.list_namespaced_pod(namespace).items
    cluster.core.delete_namespaced_pod(pod.metadata.name, namespace, grace_period_seconds=0)

    status = wait_for_run(cluster, namespace, "r", lambda s: s["lastRun"]["runId"] == run_id,
                          timeout=240)
    last = status["lastRun"]
    assert last["result"] == "Succeeded", last
    assert [h["runId"] for h in status["history"]] == [run_id]
    assert [r.path for r in receiver.received] == ["/a", "/b", "/b"]  # b again, a not
    assert smtp.copies() == {"team@example.com": 1}
    assert {d["target"]: (d["state"], d["attempts"]) for d in last["deliveries"]} == {
        "email": ("Sent", 1), "webhook/a": ("Sent", 1), "webhook/b": ("Sent", 2)}
    pods = cluster.core.list_namespaced_pod(namespace).items
    assert [p.metadata.name for p in pods] != [pod.metadata.name]  # the Job's replacement


def test_a_pod_stopped_gracefully_finishes_its_send_and_the_next_pod_sends_the_rest(
    cluster: Cluster, operator: OperatorProcess, namespace: str, postgres: Postgres,
    smtp: MailSink, receiver: WebhookServer, pod_logs: Callable[[], str],
) -> None:
    # Targets in order: email, webhook/a, webhook/b. The pod is deleted (SIGTERM, the default
    # grace period) while a's request is in flight; a is answered 200 a moment later. The pod
    # records a as Sent and starts nothing new; the Job's next pod (only once this one ended:
    # podFailurePolicy implies podReplacementPolicy Failed) sends b alone: no repeat.
    create_secrets(cluster, namespace, postgres.url, smtp.port)
    delivery = {"email": {"smtpSecretRef": {"name": "smtp"}, "to": ["team@example.com"]},
                "webhooks": [{"name": n, "url": receiver.url(f"/{n}")} for n in ("a", "b")]}
    cluster.create_rs(namespace, report_schedule("r", delivery=delivery))
    receiver.hold(1)
    run_id = run_now_no_wait(cluster, namespace, "r", "go")
    assert receiver.wait_held(timeout=180), "webhook a's request never came"
    job = cluster.batch.read_namespaced_job(run_id, namespace)
    assert job.spec.pod_replacement_policy == "Failed"
    [pod] = cluster.core.list_namespaced_pod(namespace).items
    cluster.core.delete_namespaced_pod(pod.metadata.name, namespace)  # graceful: SIGTERM
    wait_for(lambda: "SIGTERM: finishing the send in flight" in pod_logs(),
             "the runner to take the SIGTERM", explain=pod_logs)
    receiver.release(200)

    status = wait_for_run(cluster, namespace, "r", lambda s: s["lastRun"]["runId"] == run_id,
                          timeout=240)
    last = status["lastRun"]
    assert last["result"] == "Succeeded", last
    assert [(r.path, r.status) for r in receiver.received] == [("/a", 200), ("/b", 200)]
    assert smtp.copies() == {"team@example.com": 1}
    assert {d["target"]: (d["state"], d["attempts"]) for d in last["deliveries"]} == {
        "email": ("Sent", 1), "webhook/a": ("Sent", 1), "webhook/b": ("Sent", 1)}
