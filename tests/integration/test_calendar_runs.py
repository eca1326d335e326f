"""Shared calendars, catch-up and backfill on the real control plane and node: admission of bad
calendars, a schedule stalled on a missing calendar, a firing skipped on a holiday, catchUp All
after downtime, and a three-month backfill through the kubectl plugin."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import pytest
from bulletin.api.client import Kube
from bulletin.api.history import with_run
from bulletin.api.status import RunRecord, RunResult, Trigger
from devstack.mailsink import MailSink
from devstack.operatorproc import OperatorProcess
from devstack.postgres import Postgres
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from support import (
    Cluster,
    condition,
    create_secrets,
    fire_cronjob,
    job_complete,
    plugin,
    ready_cronjob,
    report_schedule,
    service_account_client,
    wait_for,
    wait_for_run,
)

G, V = "bulletin.dev", "v1alpha1"
ORDERS = ("SELECT id, placed FROM calendar_orders"
          " WHERE placed >= :period_start AND placed < :period_end ORDER BY id")
UTC_DAILY = {"daily": {"at": "09:00"}, "timeZone": "UTC"}
DATASETS = [{"name": "orders", "query": ORDERS}]


@pytest.fixture(scope="module")
def orders(postgres: Postgres) -> None:
    """Orders on fixed dates: one in January, two in February, one in March, and one, two and
    three on November 2, 3 and 4 2026."""
    postgres.execute(
        "DROP TABLE IF EXISTS calendar_orders; CREATE TABLE calendar_orders (id int, placed date);"
        " INSERT INTO calendar_orders VALUES (1, '2026-01-10'), (2, '2026-02-10'),"
        " (3, '2026-02-20'), (4, '2026-03-05'), (5, '2026-11-02'), (6, '2026-11-03'),"
        " (7, '2026-11-03'), (8, '2026-11-04'), (9, '2026-11-04'), (10, '2026-11-04');")


def _calendar(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": f"{G}/{V}", "kind": "ReportCalendar", "metadata": {"name": name},
            **({"spec": spec} if spec else {})}


def _apply(cluster: Cluster, namespace: str, obj: dict[str, Any]) -> subprocess.CompletedProcess:
    return cluster.kubectl("apply", "-n", namespace, "-f", "-", check=False,
                           input_=json.dumps(obj))


def test_bad_calendars_are_refused_at_admission(cluster: Cluster, namespace: str) -> None:
    for spec, message in (
        ({"holidays": ["12-25", "13-45"]}, "spec.holidays[1]"),
        ({"holidays": ["last Monday in May"]}, "spec.holidays[0]"),
        ({"weekend": ["SATURDAY"]}, 'spec.weekend[0]: Unsupported value: "SATURDAY"'),
        ({}, "spec: Required value"),
    ):
        proc = _apply(cluster, namespace, _calendar("bad", **spec))
        assert proc.returncode != 0, spec
        assert message in proc.stderr, proc.stderr
    bad_ref = report_schedule("x", schedule={**UTC_DAILY, "calendarRef": {"name": "Not_A_Name"}})
    proc = _apply(cluster, namespace, bad_ref)
    assert proc.returncode != 0 and "spec.schedule.calendarRef.name" in proc.stderr
    good = _calendar("ok", holidays=["2026-04-03", "12-25", "last Monday of May"],
                     weekend=["FRI", "SAT"])
    assert _apply(cluster, namespace, good).returncode == 0
    got = cluster.kubectl("get", "rcal", "ok", "-n", namespace, "-o", "json").stdout
    assert json.loads(got)["spec"]["weekend"] == ["FRI", "SAT"]


def test_missing_calendar_stalls_then_its_holidays_are_skipped(
    cluster: Cluster, operator: OperatorProcess, namespace: str, postgres: Postgres,
    smtp: MailSink, orders: None,
) -> None:
    create_secrets(cluster, namespace, postgres.url, smtp.port)
    cluster.create_rs(namespace, report_schedule(
        "daily", schedule={**UTC_DAILY, "calendarRef": {"name": "holidays"}}, datasets=DATASETS))

    def stalled() -> dict[str, Any]:
        cond = condition(cluster.get_rs(namespace, "daily"), "Stalled")
        return cond if cond.get("status") == "True" else {}

    cond = wait_for(stalled, "daily Stalled", explain=lambda: cluster.diagnose(namespace))
    assert cond["reason"] == "CalendarNotUsable"
    assert "ReportCalendar 'holidays' not found" in cond["message"]
    assert "create it, or remove calendarRef" in cond["message"]
    assert cluster.batch.list_namespaced_cron_job(namespace).items == []

    # Creating the calendar is the fix: the operator watches calendars and recovers.
    assert _apply(cluster, namespace, _calendar(
        "holidays", holidays=["12-25", "last Monday of May"])).returncode == 0
    assert _apply(cluster, namespace, _calendar("other", holidays=["01-01"])).returncode == 0
    cronjob = ready_cronjob(cluster, namespace, "daily")
    runner = client.CustomObjectsApi(service_account_client(cluster, namespace, "daily-runner"))
    assert runner.get_namespaced_custom_object(G, V, namespace, "reportcalendars", "holidays")
    with pytest.raises(ApiException) as denied:
        runner.get_namespaced_custom_object(G, V, namespace, "reportcalendars", "other")
    assert denied.value.status == 403

    nxt = plugin(cluster, "next", "daily", "-n", namespace, "--from", "2026-12-23T12:00:00Z",
                 "--count", "2", "-o", "json")
    assert [r["time"] for r in json.loads(nxt.stdout)] == ["2026-12-24T09:00:00Z",
                                                           "2026-12-26T09:00:00Z"]

    skipped = fire_cronjob(cluster, namespace, cronjob, datetime(2026, 12, 25, 9, tzinfo=UTC))

    wait_for(lambda: job_complete(cluster, namespace, skipped), "holiday Job complete",
             explain=lambda: cluster.diagnose(namespace))
    assert "lastRun" not in (cluster.get_rs(namespace, "daily").get("status") or {})
    pod = cluster.core.list_namespaced_pod(namespace, label_selector=f"job-name={skipped}").items[0]
    assert ("is a yearly holiday in ReportCalendar 'holidays'"
            in cluster.logs(namespace, pod.metadata.name))


def test_catch_up_all_runs_each_missed_period_oldest_first(
    cluster: Cluster, operator: OperatorProcess, namespace: str, postgres: Postgres,
    smtp: MailSink, orders: None,
) -> None:
    create_secrets(cluster, namespace, postgres.url, smtp.port)
    cluster.create_rs(namespace, report_schedule(
        "catchup", schedule=UTC_DAILY, catchUp="All", maxCatchUp=2, suspend=True,
        datasets=DATASETS))
    cronjob = ready_cronjob(cluster, namespace, "catchup")
    # The last scheduled run was on November 1; the cluster was down until November 5.
    first = datetime(2026, 11, 1, 9, tzinfo=UTC)
    seeded = RunRecord(run_id=f"catchup-{int(first.timestamp()) // 60}",
                       trigger=Trigger.SCHEDULED, scheduled_time=first, start_time=first,
                       end_time=first, result=RunResult.SUCCEEDED)
    Kube(cluster.api).update_status(namespace, "catchup", lambda st: with_run(st, seeded, 10))

    current = fire_cronjob(cluster, namespace, cronjob, datetime(2026, 11, 5, 9, tzinfo=UTC))
    status = wait_for_run(cluster, namespace, "catchup",
                          lambda s: (s.get("lastRun") or {}).get("runId") == current)
    runs = [(h["scheduledTime"], h["trigger"], h["result"], h.get("periodStart"), h["rows"])
            for h in status["history"]]
    # maxCatchUp 2: November 3 and 4 run (oldest first), November 2 is left out, by an Event.
    assert runs == [
        ("2026-11-05T09:00:00Z", "CatchUp", "Succeeded", "2026-11-04T00:00:00Z", 3),
        ("2026-11-04T09:00:00Z", "CatchUp", "Succeeded", "2026-11-03T00:00:00Z", 2),
        ("2026-11-03T09:00:00Z", "CatchUp", "Succeeded", "2026-11-02T00:00:00Z", 1),
        ("2026-11-01T09:00:00Z", "Scheduled", "Succeeded", None, 0),
    ]
    assert status["history"][2]["runId"] == f"catchup-{int(first.timestamp()) // 60 + 2 * 1440}"
    events = [e for e in cluster.core.list_namespaced_event(namespace).items
              if e.reason == "CatchUpLimited"]
    assert [e.type for e in events] == ["Warning"]
    assert events[0].message.startswith("1 missed run(s) from 2026-11-02 09:00Z to"
                                        " 2026-11-02 09:00Z were not run: maxCatchUp 2")


def test_backfill_of_three_months_runs_one_period_at_a_time(
    cluster: Cluster, operator: OperatorProcess, namespace: str, postgres: Postgres,
    smtp: MailSink, orders: None,
) -> None:
    create_secrets(cluster, namespace, postgres.url, smtp.port)
    cluster.create_rs(namespace, report_schedule(
        "monthly", schedule={"monthly": {"day": 1, "at": "06:00"}, "timeZone": "UTC"},
        datasets=DATASETS))
    ready_cronjob(cluster, namespace, "monthly")
    proc = plugin(cluster, "run", "monthly", "-n", namespace, "--period", "2026-01..2026-03",
                  "--each", "month", "--timeout", "300", timeout=600)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "backfilling monthly: 3 run(s), 2026-01 to 2026-03"
    assert [line.split(":")[0] for line in lines[1:]] == ["2026-01", "2026-02", "2026-03"]
    history = cluster.get_rs(namespace, "monthly")["status"]["history"]
    assert [(h["periodStart"], h["periodEnd"], h["rows"], h["trigger"], h["result"])
            for h in reversed(history)] == [
        ("2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z", 1, "Manual", "Succeeded"),
        ("2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z", 2, "Manual", "Succeeded"),
        ("2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z", 1, "Manual", "Succeeded"),
    ]
    # One at a time: each run started after the previous one ended, and each Job was made
    # after the previous Job had finished (its pod exits seconds after the run records its end).
    ordered = list(reversed(history))
    assert all(b["startTime"] >= a["endTime"] for a, b in pairwise(ordered))
    jobs = sorted(cluster.batch.list_namespaced_job(namespace).items,
                  key=lambda j: j.metadata.creation_timestamp)
    assert [j.metadata.name for j in jobs] == [h["runId"] for h in ordered]
    assert all(b.metadata.creation_timestamp >= a.status.completion_time
               for a, b in pairwise(jobs))
