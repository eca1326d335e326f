"""Bursting end to end: 50 recipients over PostgreSQL, the runner SIGKILLed mid-burst, and
every recipient receives exactly their own rows, once."""

from __future__ import annotations

import json

import pytest
from devstack.mailsink import MailSink
from devstack.operatorproc import OperatorProcess
from devstack.postgres import Postgres
from kubernetes.client.exceptions import ApiException
from support import (
    Cluster,
    create_secrets,
    report_schedule,
    run_now_no_wait,
    wait_for,
    wait_for_run,
)

RECIPIENTS = 50
HELD = 20  # the message the SMTP server holds while the runner is killed


def _rows(i: int) -> list[int]:
    return [1000 * i + n for n in range(i % 4 + 1)]


def _tables(postgres: Postgres) -> None:
    managers = ", ".join(f"('m{i:02d}@example.com', 'r{i:02d}')" for i in range(RECIPIENTS))
    sales = ", ".join(f"('r{i:02d}', {amount})" for i in range(RECIPIENTS) for amount in _rows(i))
    postgres.execute(
        "DROP TABLE IF EXISTS burst_managers, burst_sales;"
        " CREATE TABLE burst_managers (email text, region text);"
        " CREATE TABLE burst_sales (region text, amount int);"
        f" INSERT INTO burst_managers VALUES {managers}; INSERT INTO burst_sales VALUES {sales};")


def _burst(cluster: Cluster, namespace: str) -> dict[str, object]:
    status = cluster.get_rs(namespace, "burst").get("status") or {}
    [email] = (status.get("history") or [{}])[0].get("deliveries") or [{}]
    return dict(email.get("burst") or {})


def test_a_killed_burst_sends_each_recipient_their_rows_once(
    cluster: Cluster, operator: OperatorProcess, namespace: str, postgres: Postgres,
    smtp: MailSink,
) -> None:
    _tables(postgres)
    create_secrets(cluster, namespace, postgres.url, smtp.port)
    datasets = [
        {"name": "managers", "query": "SELECT email, region FROM burst_managers ORDER BY email"},
        {"name": "sales", "query": "SELECT region, amount FROM burst_sales"
                                   " WHERE region = :region ORDER BY amount"}]
    delivery = {"email": {"smtpSecretRef": {"name": "smtp"},
                          "subject": "Sales {{ recipient.region }}"},
                "burst": {"dataset": "managers", "maxRecipients": RECIPIENTS}}
    with pytest.raises(ApiException, match="sends by email and to storage only"):  # admission (CEL)
        cluster.create_rs(namespace, report_schedule("no", datasets=datasets, delivery={
            **delivery, "teams": {"webhookSecretRef": {"name": "t", "key": "url"}}}))
    cluster.create_rs(namespace, report_schedule("burst", datasets=datasets, delivery=delivery))
    smtp.hold(HELD)
    run_id = run_now_no_wait(cluster, namespace, "burst", "go")
    assert smtp.wait_held(timeout=180), f"message {HELD} never came"

    # The ledger already holds every recipient Sent before the held one.
    progress = wait_for(lambda: _burst(cluster, namespace), "the burst's progress in status")
    assert (progress["recipients"], progress["sent"]) == (RECIPIENTS, HELD - 1)
    [pod] = cluster.core.list_namespaced_pod(namespace).items
    cluster.kill(namespace, pod.metadata.name)
    smtp.release()

    status = wait_for_run(cluster, namespace, "burst",
                          lambda s: s["lastRun"]["runId"] == run_id, timeout=300)
    last = status["lastRun"]
    assert last["result"] == "Succeeded", last
    assert len(cluster.core.list_namespaced_pod(namespace).items) == 2  # the Job's retry
    assert [h["runId"] for h in status["history"]] == [run_id]
    [email] = last["deliveries"]
    burst = email["burst"]
    assert (burst["recipients"], burst["sent"], burst["failed"], burst["skipped"]) == (
        RECIPIENTS, RECIPIENTS, 0, 0)
    assert len(burst["sentKeys"]) == RECIPIENTS and last["recipients"] == []
    assert last["message"] == f"burst: {RECIPIENTS} recipients: {RECIPIENTS} sent, 0 failed," \
                              " 0 skipped"
    assert len(json.dumps(status)) < 16 * 1024

    assert smtp.copies() == {f"m{i:02d}@example.com": 1 for i in range(RECIPIENTS)}
    for [address], message in smtp.messages:
        i = int(address[1:3])
        assert message["Subject"] == f"Sales r{i:02d}"
        [csv] = [p for p in message.iter_attachments()
                 if str(p.get_filename()).endswith(".csv")]
        header, *lines = csv.get_content().strip().splitlines()
        assert header.split(",") == ["region", "amount"]
        assert lines == [f"r{i:02d},{amount}" for amount in _rows(i)]
