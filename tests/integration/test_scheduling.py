"""Scheduling on the real control plane: calendar gate, catch-up, backfill, run control, and
history that concurrent runs never lose."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bulletin.api.client import Kube
from bulletin.api.history import with_run
from bulletin.api.status import RunRecord, RunResult, Trigger
from devstack.mailsink import MailSink
from devstack.operatorproc import OperatorProcess
from devstack.postgres import Postgres
from kubernetes import client
from support import (
    Cluster,
    condition,
    create_secrets,
    fire_cronjob,
    job_complete,
    ready_cronjob,
    report_schedule,
    service_account_client,
    wait_for,
    wait_for_run,
)

ORDERS = ("SELECT id, placed, amount FROM orders"
          " WHERE placed >= :period_start AND placed < :period_end ORDER BY id")


@pytest.fixture(scope="module")
def orders(postgres: Postgres) -> None:
    """Orders on fixed dates in September to November 2026."""
    postgres.execute(
        "DROP TABLE IF EXISTS orders; CREATE TABLE orders (id int, placed date, amount int);"
        " INSERT INTO orders VALUES (1, '2026-09-30', 10), (2, '2026-10-01', 20),"
        " (3, '2026-10-15', 30), (4, '2026-10-31', 40), (5, '2026-11-01', 50);")


def test_calendar_gate_skips_firings_that_are_not_run_times(
    cluster: Cluster, operator: OperatorProcess, namespace: str, postgres: Postgres,
    smtp: MailSink, orders: None,
) -> None:
    create_secrets(cluster, namespace, postgres.url, smtp.port)
    cluster.create_rs(namespace, report_schedule(
        "month-end", schedule={"monthly": {"lastDay": True, "at": "09:00"},
                               "timeZone": "Europe/Berlin"},
        datasets=[{"name": "orders", "query": ORDERS}]))
    cronjob = ready_cronjob(cluster, namespace, "month-end")
    assert cronjob.spec.schedule == "0 9 28-31 * *"

    # The CronJob fires on the 28th too; that firing is not the last day, so nothing happens.
    skipped = fire_cronjob(cluster, namespace, cronjob,
                             datetime(2026, 11, 28, 8, 0, tzinfo=UTC))
    wait_for(lambda: job_complete(cluster, namespace, skipped), "skipped Job complete",
             explain=lambda: cluster.diagnose(namespace))
    assert "lastRun" not in (cluster.get_rs(namespace, "month-end").get("status") or {})
    assert smtp.messages == []
    assert "not a run time" in cluster.logs(namespace, _pod_of(cluster, namespace,
                                                                       skipped))

    # The 30th of November is the last day: it runs, for October (the previous month).
    # Both firings are fixed instants in the past, so the runner always starts them late and
    # records a catch-up; they cannot go stale, since time only moves away from them. (Whether an
    # on-time firing is Scheduled is covered with times relative to now in test_trigger.py.)
    due = fire_cronjob(cluster, namespace, cronjob, datetime(2026, 11, 30, 8, 0, tzinfo=UTC))
    status = wait_for_run(cluster, namespace, "month-end",
                          lambda s: (s.get("lastRun") or {}).get("runId") == due)
    last = status["lastRun"]
    assert (last["result"], last["trigger"], last["rows"]) == ("Succeeded", "CatchUp", 3)
    assert last["scheduledTime"] == "2026-11-30T08:00:00Z"
    assert (last["periodStart"], last["periodEnd"]) == ("2026-09-30T22:00:00Z",
                                                        "2026-10-31T23:00:00Z")
    assert len(status["history"]) == 1


def _pod_of(cluster: Cluster, namespace: str, job: str) -> str:
    pods = cluster.core.list_namespaced_pod(namespace, label_selector=f"job-name={job}").items
    return str(pods[0].metadata.name)


@pytest.mark.parametrize("policy", ["Latest", "None"])
def test_catch_up_after_downtime(
    cluster: Cluster, operator: OperatorProcess, namespace: str, postgres: Postgres,
    smtp: MailSink, orders: None, policy: str,
) -> None:
    create_secrets(cluster, namespace, postgres.url, smtp.port)
    due = (datetime.now(UTC) - timedelta(hours=1)).replace(second=0, microsecond=0)
    cron = f"{due.minute} {due.hour} * * *"
    cluster.create_rs(namespace, report_schedule(
        "daily", schedule={"cron": cron, "timeZone": "UTC"}, suspend=True, catchUp=policy,
        datasets=[{"name": "orders", "query": ORDERS}]))
    cronjob = ready_cronjob(cluster, namespace, "daily")
    assert cronjob.spec.starting_deadline_seconds == (86400 if policy == "Latest" else 300)
    # Downtime: the controller last scheduled this CronJob 200 days ago, 200 runs were missed.
    long_ago = (datetime.now(UTC) - timedelta(days=200)).strftime("%Y-%m-%dT%H:%M:%SZ")
    client.BatchV1Api(cluster.api).patch_namespaced_cron_job_status(
        cronjob.metadata.name, namespace, {"status": {"lastScheduleTime": long_ago}})
    cluster.patch_rs(namespace, "daily", {"spec": {"suspend": False}})
    wait_for(lambda: cluster.batch.read_namespaced_cron_job(
        cronjob.metadata.name, namespace).spec.suspend is False, "CronJob resumed")

    if policy == "Latest":
        status = wait_for_run(cluster, namespace, "daily", lambda s: True)
        last = status["lastRun"]
        assert (last["trigger"], last["result"]) == ("CatchUp", "Succeeded")
        assert last["scheduledTime"] == due.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert len(cluster.batch.list_namespaced_job(namespace).items) == 1
    else:
        # Give the controller time to act on the resumed CronJob; it must start nothing.
        cluster.kubectl("wait", "-n", namespace, "--for=jsonpath={.status.lastScheduleTime}",
                        f"cronjob/{cronjob.metadata.name}", "--timeout=5s", check=False)
        assert cluster.batch.list_namespaced_job(namespace).items == []
    events = cluster.core.list_namespaced_event(namespace).items
    assert not [e for e in events if e.reason == "TooManyMissedTimes"]


def test_backfill_and_test_send_through_the_kubectl_plugin(
    cluster: Cluster, operator: OperatorProcess, namespace: str, postgres: Postgres,
    smtp: MailSink, orders: None,
) -> None:
    create_secrets(cluster, namespace, postgres.url, smtp.port)
    cluster.create_rs(namespace, report_schedule(
        "orders", datasets=[{"name": "orders", "query": ORDERS}]))
    ready_cronjob(cluster, namespace, "orders")
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig),
           "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    bad = subprocess.run([str(cluster.kubectl_bin), "bulletin", "run", "orders", "-n", namespace,
                          "--period", "October"], env=env, capture_output=True, text=True)
    assert bad.returncode != 0 and "use 2026-10" in bad.stderr
    out = subprocess.run([str(cluster.kubectl_bin), "bulletin", "run", "orders", "-n", namespace,
                          "--period", "2026-10", "--to", "me@example.com"],
                         env=env, capture_output=True, text=True, check=True).stdout
    assert "run requested" in out
    status = wait_for_run(cluster, namespace, "orders",
                          lambda s: bool((s.get("lastRun") or {}).get("runId")))
    last = status["lastRun"]
    assert (last["result"], last["trigger"], last["rows"]) == ("Succeeded", "Manual", 3)
    assert (last["periodStart"], last["periodEnd"]) == ("2026-09-30T22:00:00Z",
                                                        "2026-10-31T23:00:00Z")
    assert last["recipients"] == ["me@example.com"]
    assert [rcpt for rcpt, _ in smtp.messages] == [["me@example.com"]]


def test_concurrent_runs_never_lose_history(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    """Forty writers with the runner's own token record runs at once; all of them survive."""
    cluster.create_rs(namespace, report_schedule("busy", historyLimit=100,
                                                 concurrencyPolicy="Allow"))
    cronjob = ready_cronjob(cluster, namespace, "busy")
    assert cronjob.spec.concurrency_policy == "Allow"
    api = service_account_client(cluster, namespace, "busy-runner")
    start = datetime(2026, 11, 1, tzinfo=UTC)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        kube = Kube(api)
        record = RunRecord(run_id=f"run-{n:02d}", trigger=Trigger.SCHEDULED,
                           start_time=start + timedelta(minutes=n), result=RunResult.SUCCEEDED)
        try:
            kube.update_status(namespace, "busy", lambda st: with_run(st, record, 100))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    history = cluster.get_rs(namespace, "busy")["status"]["history"]
    assert sorted(h["runId"] for h in history) == [f"run-{n:02d}" for n in range(40)]
    assert history[0]["runId"] == "run-39"


def test_replace_policy_and_calendar_errors_the_cron_cannot_hold(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.create_rs(namespace, report_schedule("replace", concurrencyPolicy="Replace"))
    assert ready_cronjob(cluster, namespace, "replace").spec.concurrency_policy == "Replace"

    # Admission rejects what CEL can see ...
    bad = report_schedule("both", schedule={"monthly": {"day": 3, "lastDay": True, "at": "09:00"}})
    proc = cluster.kubectl("apply", "-n", namespace, "-f", "-", check=False,
                           input_=json.dumps(bad))
    assert proc.returncode != 0
    assert "spec.schedule.monthly: set exactly one of day, lastDay: true, or weekday" in proc.stderr

    # ... and the operator stalls on what it cannot, leaving no CronJob behind.
    for name, schedule, message in (
        ("quartz", {"cron": "0 9 L * *"}, "use schedule.monthly with lastDay"),
        ("feb30", {"cron": "0 9 30 2 *"}, "never runs in the next five years"),
    ):
        cluster.create_rs(namespace, report_schedule(name, schedule=schedule))

        def stalled(name: str = name) -> dict[str, Any]:
            cond = condition(cluster.get_rs(namespace, name), "Stalled")
            return cond if cond.get("status") == "True" else {}

        assert message in wait_for(stalled, f"{name} Stalled")["message"]
        assert condition(cluster.get_rs(namespace, name), "Ready")["status"] == "False"
        cronjobs = cluster.batch.list_namespaced_cron_job(namespace).items
        assert [c.metadata.name for c in cronjobs] == ["replace"]
