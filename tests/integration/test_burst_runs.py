"""Bursting end to end: 50 recipients over PostgreSQL, the runner SIGKILLed mid-burst, and
every recipient receives exactly their own rows, once; 300 recipients over two shards of an
Indexed Job, by email and to storage, each once; a burst wider than the policy is refused."""

from __future__ import annotations

import json

import pytest
from devstack.mailsink import MailSink
from devstack.operatorproc import OperatorProcess
from devstack.postgres import Postgres
from devstack.s3 import S3Server
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from support import (
    USABLE,
    Cluster,
    condition,
    create_secrets,
    ledger_sent,
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

    # The shard's ledger already holds every recipient Sent before the held one.
    progress = wait_for(lambda: _burst(cluster, namespace), "the burst's progress in status")
    assert progress["recipients"] == RECIPIENTS
    wait_for(lambda: ledger_sent(cluster, namespace, run_id, 0) == HELD - 1,
             f"{HELD - 1} recipients in the shard's ledger")
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
    assert burst["shardCount"] == 1 and last["recipients"] == []
    assert [(s["index"], s["sent"], s["done"]) for s in burst["shards"]] == [
        (0, RECIPIENTS, True)]
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


SHARDED = 300


def test_a_sharded_burst_reaches_each_recipient_once_by_email_and_storage(
    cluster: Cluster, operator: OperatorProcess, namespace: str, postgres: Postgres,
    smtp: MailSink, s3: S3Server,
) -> None:
    postgres.execute(
        "DROP TABLE IF EXISTS shard_customers;"
        " CREATE TABLE shard_customers AS SELECT 'c' || lpad(g::text, 3, '0') || '@example.com'"
        f" AS email, g AS id FROM generate_series(1, {SHARDED}) AS g")
    create_secrets(cluster, namespace, postgres.url, smtp.port)
    s3.create_bucket(namespace)
    cluster.core.create_namespaced_secret(namespace, client.V1Secret(
        metadata=client.V1ObjectMeta(name="s3", labels=USABLE),
        string_data={"accessKeyId": s3.access_key, "secretAccessKey": s3.secret_key,
                     "endpoint": s3.endpoint}))
    datasets = [
        {"name": "customers", "query": "SELECT email, id FROM shard_customers"},
        {"name": "statement", "query": "SELECT :id AS customer, :id * 10 AS total"}]
    burst = {"dataset": "customers", "maxRecipients": SHARDED, "shards": 2, "parallelism": 2}
    delivery = {"email": {"smtpSecretRef": {"name": "smtp"}},
                "storage": {"endpoint": s3.endpoint, "bucket": namespace, "encryption": "none",
                            "credentialsSecretRef": {"name": "s3"}},
                "burst": burst}
    cluster.create_rs(namespace, report_schedule("wide", datasets=datasets, delivery={
        **delivery, "burst": {**burst, "shards": 11}}))
    cluster.create_rs(namespace, report_schedule("statements", datasets=datasets,
                                                 delivery=delivery))
    run_id = run_now_no_wait(cluster, namespace, "statements", "go")
    status = wait_for_run(cluster, namespace, "statements",
                          lambda s: s["lastRun"]["runId"] == run_id, timeout=300)

    last = status["lastRun"]
    assert last["result"] == "Succeeded", last
    [email] = last["deliveries"]
    counts = email["burst"]
    assert (counts["recipients"], counts["sent"], counts["failed"], counts["shardCount"]) == (
        SHARDED, SHARDED, 0, 2)
    assert [(s["index"], s["done"]) for s in counts["shards"]] == [(0, True), (1, True)]
    assert sum(s["recipients"] for s in counts["shards"]) == SHARDED
    assert all(s["recipients"] > SHARDED // 4 for s in counts["shards"])
    addresses = {f"c{i:03d}@example.com" for i in range(1, SHARDED + 1)}
    assert smtp.copies() == dict.fromkeys(addresses, 1)

    job = cluster.batch.read_namespaced_job(run_id, namespace)
    assert (job.spec.completion_mode, job.spec.completions, job.spec.parallelism) == (
        "Indexed", 2, 2)
    for shard in (0, 1):
        ledger = cluster.core.read_namespaced_config_map(f"{run_id}-shard-{shard}", namespace)
        [owner] = ledger.metadata.owner_references
        assert (owner.kind, owner.name, owner.uid) == ("Job", run_id, job.metadata.uid)
        assert ledger_sent(cluster, namespace, run_id, shard, "storage") == (
            counts["shards"][shard]["recipients"])
    pages = s3.client().get_paginator("list_objects_v2").paginate(Bucket=namespace)
    keys = [o["Key"] for page in pages for o in page.get("Contents") or []]
    folders = {k.rsplit("/", 2)[-2] for k in keys}
    assert len(keys) == len(folders) == SHARDED, keys[:5]
    assert all(k.startswith(f"{namespace}/statements/") and f"/{run_id}/" in k for k in keys)

    refused = wait_for(lambda: condition(cluster.get_rs(namespace, "wide"), "Ready"),
                       "wide's Ready condition")
    assert (refused["status"], refused["reason"]) == ("False", "BurstNotAllowed"), refused
    assert "spec.delivery.burst.shards: 11 is above the administrator's limit 10" in (
        refused["message"])
