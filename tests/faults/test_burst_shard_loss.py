"""A sharded burst losing pods: one shard's pod SIGKILLed after k of its n recipients (while
the SMTP server holds its next message), another shard's pod deleted while it sends. Each
shard's retry sends only what its ledger does not hold: every recipient gets exactly one
message, and the run ends Succeeded."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from bulletin.assembly.burst import Recipient
from bulletin.shards import shard_of
from devstack.mailsink import MailSink
from devstack.operatorproc import OperatorProcess
from devstack.postgres import Postgres
from support import (
    Cluster,
    create_secrets,
    ledger_sent,
    report_schedule,
    run_now_no_wait,
    wait_for,
    wait_for_run,
)

pytestmark = pytest.mark.faults

RECIPIENTS = 120
HELD = 25  # the message the SMTP server holds while its shard's pod is killed
INDEX = "batch.kubernetes.io/job-completion-index"


def _pods(cluster: Cluster, namespace: str) -> dict[int, str]:
    """The running pod of each shard."""
    pods = cluster.core.list_namespaced_pod(namespace).items
    return {int(p.metadata.annotations[INDEX]): p.metadata.name for p in pods
            if p.status.phase == "Running" and p.metadata.deletion_timestamp is None}


def _shard(i: int) -> int:
    """The shard (of 2) of recipient i, by the runner's own rule."""
    return shard_of(Recipient(f"c{i:03d}@example.com", {"id": i}, None).key, 2)


def _shard_of_address(address: str) -> int:
    return _shard(int(address[1:4]))


def _received(smtp: MailSink, shard: int) -> int:
    """Messages the SMTP server received for the recipients of ``shard``."""
    copies = smtp.copies()
    return sum(copies.get(f"c{i:03d}@example.com", 0) for i in range(1, RECIPIENTS + 1)
               if _shard(i) == shard)


def test_killed_and_deleted_shards_send_each_recipient_exactly_once(
    cluster: Cluster, operator: OperatorProcess, namespace: str, postgres: Postgres,
    smtp: MailSink, pod_logs: Callable[[], str],
) -> None:
    postgres.execute(
        "DROP TABLE IF EXISTS loss_customers;"
        " CREATE TABLE loss_customers AS SELECT 'c' || lpad(g::text, 3, '0') || '@example.com'"
        f" AS email, g AS id FROM generate_series(1, {RECIPIENTS}) AS g")
    create_secrets(cluster, namespace, postgres.url, smtp.port)
    datasets = [  # each report takes 0.1 s to query: a shard sends for several seconds
        {"name": "customers", "query": "SELECT email, id FROM loss_customers"},
        {"name": "statement", "query": "SELECT :id AS customer, pg_sleep(0.1)::text AS t"}]
    delivery = {"email": {"smtpSecretRef": {"name": "smtp"}},
                "burst": {"dataset": "customers", "maxRecipients": RECIPIENTS, "shards": 2,
                          "parallelism": 2}}
    cluster.create_rs(namespace, report_schedule("loss", datasets=datasets, delivery=delivery))
    smtp.hold(HELD)
    run_id = run_now_no_wait(cluster, namespace, "loss", "go")
    assert smtp.wait_held(timeout=180), f"message {HELD} never came"

    # The held message's recipient names the held shard (a ledger's growth cannot: a batch
    # write of marks made before the hold can land after it).
    held = _shard_of_address(smtp.held_for[0])
    sending = 1 - held
    pods = _pods(cluster, namespace)
    # SIGKILL loses the marks of the last 0.25 s (docs/scale.md): kill once the held shard's
    # ledger holds every message it sent, as "after k of its recipients" means.
    wait_for(lambda: ledger_sent(cluster, namespace, run_id, held) == _received(smtp, held),
             "the held shard's ledger to hold each message it sent", timeout=60)
    k = ledger_sent(cluster, namespace, run_id, held)
    assert 0 < k < HELD
    cluster.kill(namespace, pods[held])  # SIGKILL after k of its recipients
    smtp.release()
    cluster.core.delete_namespaced_pod(pods[sending], namespace)  # SIGTERM while it sends
    wait_for(lambda: "SIGTERM" in pod_logs(), "the sending shard to take the SIGTERM",
             explain=pod_logs)

    status = wait_for_run(cluster, namespace, "loss", lambda s: s["lastRun"]["runId"] == run_id,
                          timeout=400)
    last = status["lastRun"]
    assert last["result"] == "Succeeded", last
    burst = last["deliveries"][0]["burst"]
    assert (burst["recipients"], burst["sent"], burst["failed"]) == (RECIPIENTS, RECIPIENTS, 0)
    repeated = {a: (n, _shard_of_address(a)) for a, n in smtp.copies().items() if n != 1}
    assert repeated == {}, f"(copies, shard) by address; shard {held} was killed"
    assert smtp.copies() == {f"c{i:03d}@example.com": 1 for i in range(1, RECIPIENTS + 1)}
    job = wait_for(lambda: (j := cluster.batch.read_namespaced_job(run_id, namespace))
                   .status.succeeded == 2 and j, "the Job's two shards Succeeded")
    assert job.status.failed == 2  # each shard's first pod; each retried alone
