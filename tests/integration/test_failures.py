"""Repeated failures pause the schedule (never its spec); success or a spec change resume it."""

from __future__ import annotations

from typing import Any

from devstack.mailsink import MailSink
from devstack.operatorproc import OperatorProcess
from devstack.postgres import Postgres
from devstack.webhooks import WebhookServer
from kubernetes import client
from support import (
    USABLE,
    Cluster,
    condition,
    create_secrets,
    event_messages,
    report_schedule,
    run_now,
    run_now_no_wait,
    wait_for,
)


def _state(cluster: Cluster, namespace: str, name: str) -> tuple[str | None, bool]:
    obj = cluster.get_rs(namespace, name)
    cronjob = cluster.batch.read_namespaced_cron_job(obj["status"]["cronJobName"], namespace)
    return condition(obj, "Paused").get("status"), bool(cronjob.spec.suspend)


def test_failures_pause_and_success_or_spec_change_resumes(
    cluster: Cluster, operator: OperatorProcess, namespace: str, postgres: Postgres,
    smtp: MailSink,
) -> None:
    table = f"late_{namespace.replace('-', '_')}"
    create_secrets(cluster, namespace, postgres.url, smtp.port)
    cluster.create_rs(namespace, report_schedule(
        "flaky", notifications={"pauseAfterFailures": 2},
        datasets=[{"name": "main", "query": f"SELECT * FROM {table}"}]))
    wait_for(lambda: _state(cluster, namespace, "flaky") == ("False", False), "running")

    for token in ("f1", "f2"):
        assert run_now(cluster, namespace, "flaky", token)["lastRun"]["result"] == "Failed"
    wait_for(lambda: _state(cluster, namespace, "flaky") == ("True", True), "paused",
             explain=lambda: cluster.diagnose(namespace))
    obj = cluster.get_rs(namespace, "flaky")
    assert "2 runs failed in a row" in condition(obj, "Paused")["message"]
    assert obj["spec"].get("suspend") is False, "the operator never writes spec"
    assert obj["metadata"]["generation"] == 1
    assert event_messages(cluster, namespace, "Paused")

    # The data arrives; a successful run now resumes the schedule.
    postgres.execute(f"CREATE TABLE {table} AS SELECT 1 AS one")
    assert run_now(cluster, namespace, "flaky", "ok")["lastRun"]["result"] == "Succeeded"
    wait_for(lambda: _state(cluster, namespace, "flaky") == ("False", False), "resumed by success")

    # Failing again pauses again; this time a spec change resumes.
    cluster.patch_rs(namespace, "flaky", {"spec": {"datasets": [
        {"name": "main", "query": "SELECT * FROM nowhere"}]}})
    wait_for(lambda: cluster.get_rs(namespace, "flaky")["status"]["observedGeneration"] == 2,
             "generation 2 observed")
    for token in ("f3", "f4"):
        run_now(cluster, namespace, "flaky", token)
    wait_for(lambda: _state(cluster, namespace, "flaky") == ("True", True), "paused again")
    cluster.patch_rs(namespace, "flaky", {"spec": {"datasets": [
        {"name": "main", "query": f"SELECT * FROM {table}"}]}})

    def resumed() -> dict[str, Any] | None:
        status = cluster.get_rs(namespace, "flaky")["status"]
        ok = _state(cluster, namespace, "flaky") == ("False", False)
        return status if ok and status["observedGeneration"] == 3 else None

    assert wait_for(resumed, "resumed by spec change")["consecutiveFailures"] == 0


def test_owners_hear_what_failed_and_how_to_fix_it(
    cluster: Cluster, operator: OperatorProcess, namespace: str, postgres: Postgres,
    smtp: MailSink,
) -> None:
    hooks = WebhookServer().start()
    try:
        create_secrets(cluster, namespace, postgres.url, smtp.port)
        cluster.core.create_namespaced_secret(namespace, client.V1Secret(
            metadata=client.V1ObjectMeta(name="alerts", labels=USABLE),
            string_data={"url": hooks.url("/alerts")}))
        cluster.create_rs(namespace, report_schedule(
            "broken", datasets=[{"name": "main", "query": "SELECT * FROM missing_table"}],
            notifications={"onFailure": {
                "email": ["owners@example.com"],
                "webhookSecretRef": {"name": "alerts", "key": "url"}}}))
        assert run_now(cluster, namespace, "broken", "t1")["lastRun"]["result"] == "Failed"
        wait_for(lambda: smtp.messages and hooks.delivered("/alerts"), "both notices")
        (rcpt, msg), = smtp.messages
        assert rcpt == ["owners@example.com"] and msg["Subject"] == "[Bulletin] broken failed"
        body = msg.get_body(("plain",))
        assert body is not None
        text = body.get_content().replace("\r\n", "\n")
        assert 'relation "missing_table" does not exist' in text
        assert "How to fix: check the dataset's SQL" in text
        assert f"kubectl bulletin run broken -n {namespace}" in text
        (posted,) = hooks.delivered("/alerts")
        assert posted.json()["text"] == text.strip()
        # Nothing reaches the report's own recipients when the run failed.
        assert all(r != ["team@example.com"] for r, _ in smtp.messages)
    finally:
        hooks.stop()


def test_a_run_that_dies_before_recording_is_still_recorded(
    cluster: Cluster, operator: OperatorProcess, namespace: str,
) -> None:
    """A missing database Secret does not keep the pod waiting: the runner records why. A
    runner that cannot even read its schedule (its RoleBinding is gone) dies, the Job gives up,
    and the operator records the run as Failed with the pod's reason, and posts an Event."""
    cluster.create_rs(namespace, report_schedule("orphan"))  # no `db` Secret in the namespace
    wait_for(lambda: condition(cluster.get_rs(namespace, "orphan"), "Ready").get("status")
             == "True", "orphan Ready")
    last = run_now(cluster, namespace, "orphan", "no-db")["lastRun"]
    assert last["result"] == "Failed"
    assert "no database URL: check spec.source.connectionSecretRef" in last["message"]

    client.RbacAuthorizationV1Api(cluster.api).delete_namespaced_role_binding(
        "orphan-runner", namespace)
    job = run_now_no_wait(cluster, namespace, "orphan", "t")

    def recorded() -> dict[str, Any] | None:
        # In the history, not necessarily lastRun: both runs may have started in the same
        # second, and history orders by start time.
        history = (cluster.get_rs(namespace, "orphan").get("status") or {}).get("history") or []
        return next((h for h in history if h.get("runId") == job and h.get("result")), None)

    last = wait_for(recorded, "the failed run in status", timeout=240,
                    explain=lambda: cluster.diagnose(namespace))
    assert last["result"] == "Failed"
    assert "BackoffLimitExceeded" in last["message"]
    assert "exit code 1" in last["message"]
    assert event_messages(cluster, namespace, "RunFailed",
                          lambda e: e.involved_object.name == "orphan")
