"""End to end: apply, run now, the pod runs the runner, the email arrives, status shows it."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest
from devstack.mailsink import MailSink
from devstack.operatorproc import OperatorProcess
from devstack.postgres import Postgres
from support import Cluster, create_secrets, event_messages, report_schedule, run_now, wait_for

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture(scope="module")
def usage_table(postgres: Postgres) -> str:
    """A usage table with a row per user for each of the last 20 days, plus an old row."""
    today = datetime.now(BERLIN).date()
    rows = [f"('{today - timedelta(days=d)}', 'user{d % 3}', {d * 10}, {d}.50)" for d in range(20)]
    rows.append(f"('{today - timedelta(days=400)}', 'old', 1, 1.00)")
    postgres.execute(
        "DROP TABLE IF EXISTS usage; CREATE TABLE usage (day date, user_name text,"
        " requests int, cost numeric(10,2)); INSERT INTO usage VALUES " + ", ".join(rows) + ";"
    )
    return "usage"


def _previous_week() -> tuple[date, date]:
    today = datetime.now(BERLIN).date()
    monday = today - timedelta(days=today.weekday())
    return monday - timedelta(days=7), monday


def test_report_is_delivered_and_recorded(
    cluster: Cluster, operator: OperatorProcess, namespace: str, postgres: Postgres,
    smtp: MailSink, usage_table: str,
) -> None:
    create_secrets(cluster, namespace, postgres.url, smtp.port)
    query = ("SELECT day, user_name, requests, cost FROM usage"
             " WHERE day >= :period_start AND day < :period_end ORDER BY day, user_name")
    cluster.create_rs(namespace, report_schedule(
        "weekly-usage", period={"kind": "PreviousWeek"},
        datasets=[{"name": "usage", "query": query}]))
    wait_for(lambda: (cluster.get_rs(namespace, "weekly-usage").get("status") or {})
             .get("cronJobName"), "CronJob ready")

    status = run_now(cluster, namespace, "weekly-usage", "first")
    last = status["lastRun"]
    assert last["result"] == "Succeeded", last
    assert last["trigger"] == "Manual"
    assert last["recipients"] == ["team@example.com"]

    start, end = _previous_week()
    with psycopg.connect(postgres.url) as conn:
        expected = conn.execute(
            "SELECT day, user_name, requests, cost FROM usage WHERE day >= %s AND day < %s"
            " ORDER BY day, user_name", (start, end)).fetchall()
    assert len(expected) == 7
    assert last["rows"] == 7
    assert last["periodStart"] == datetime.combine(start, datetime.min.time(), BERLIN).astimezone(
        UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    wait_for(lambda: smtp.messages, "the email")
    assert len(smtp.messages) == 1
    rcpt, msg = smtp.messages[0]
    assert rcpt == ["team@example.com"]
    assert msg["From"] == "reports@example.com"
    attachments = list(msg.iter_attachments())
    assert [a.get_filename() for a in attachments] == ["usage.csv"]
    payload = attachments[0].get_content()
    text = payload.decode() if isinstance(payload, bytes) else payload
    got = list(csv.reader(io.StringIO(text)))
    assert got[0] == ["day", "user_name", "requests", "cost"]
    assert got[1:] == [[str(d), u, str(r), str(c)] for d, u, r, c in expected]

    table = cluster.kubectl("get", "reportschedules", "-n", namespace).stdout
    assert "Succeeded" in table and "0 9 * * MON" in table and "Europe/Berlin" in table
    assert event_messages(cluster, namespace, "RunSucceeded")
    dump = json.dumps(cluster.get_rs(namespace, "weekly-usage")) + "".join(
        e.message or "" for e in cluster.core.list_namespaced_event(namespace).items)
    assert postgres.password not in dump


def test_failing_query_is_recorded_with_the_database_message(
    cluster: Cluster, operator: OperatorProcess, namespace: str, postgres: Postgres,
    smtp: MailSink,
) -> None:
    create_secrets(cluster, namespace, postgres.url, smtp.port)
    cluster.create_rs(namespace, report_schedule(
        "broken", datasets=[{"name": "main", "query": "SELECT * FROM no_such_table"}]))
    status = run_now(cluster, namespace, "broken", "try-1")
    last = status["lastRun"]
    assert last["result"] == "Failed"
    assert 'relation "no_such_table" does not exist' in last["message"]
    assert status["consecutiveFailures"] == 1
    assert smtp.messages == []
    assert event_messages(cluster, namespace, "RunFailed",
                          lambda e: "no_such_table" in (e.message or ""))
    assert "Failed" in cluster.kubectl("get", "reportschedules", "-n", namespace).stdout

    # The Job fails without retrying a run that already recorded its failure.
    def job_failed() -> bool:
        jobs = cluster.batch.list_namespaced_job(namespace).items
        return any(c.type == "Failed" and c.status == "True"
                   for j in jobs for c in (j.status.conditions or []))

    wait_for(job_failed, "Job Failed")
    assert len(cluster.core.list_namespaced_pod(namespace).items) == 1
