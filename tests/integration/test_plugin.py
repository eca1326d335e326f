"""The real kubectl plugin (`kubectl bulletin ...` through kubectl's plugin lookup) against real
schedules on the local control plane: a real run's history, logs and status; suspend and resume
as the CronJob sees them; next run times across a DST change; kubectl-style errors."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import yaml
from devstack.mailsink import MailSink
from devstack.operatorproc import OperatorProcess
from devstack.postgres import Postgres
from kubernetes import client
from support import (
    Cluster,
    condition,
    create_secrets,
    plugin,
    report_schedule,
    wait_for,
    wait_for_run,
)


def ok(cluster: Cluster, *args: str) -> str:
    proc = plugin(cluster, *args)
    assert proc.returncode == 0, f"kubectl bulletin {' '.join(args)}: {proc.stderr}"
    return proc.stdout


def ready(cluster: Cluster, namespace: str, name: str) -> dict:
    return wait_for(lambda: (obj := cluster.get_rs(namespace, name)) and
                    condition(obj, "Ready").get("status") == "True" and obj,
                    f"{name} Ready", explain=lambda: cluster.diagnose(namespace))


def test_history_logs_and_status_of_a_real_run(
    cluster: Cluster, operator: OperatorProcess, namespace: str, postgres: Postgres,
    smtp: MailSink,
) -> None:
    create_secrets(cluster, namespace, postgres.url, smtp.port)
    cluster.create_rs(namespace, report_schedule(
        "daily", schedule={"daily": {"at": "06:00"}, "timeZone": "Europe/Berlin"},
        datasets=[{"name": "main", "query": "SELECT n FROM generate_series(1, 3) AS n"}]))
    ready(cluster, namespace, "daily")
    started = ok(cluster, "run", "daily", "-n", namespace)
    run_id = started.split()[-1]
    assert started == f"reportschedule.bulletin.dev/daily run requested, started as {run_id}\n"
    status = wait_for_run(cluster, namespace, "daily",
                          lambda s: (s.get("lastRun") or {}).get("runId") == run_id)
    assert status["lastRun"]["result"] == "Succeeded", status["lastRun"]

    header, row = ok(cluster, "history", "daily", "-n", namespace).splitlines()
    assert header.split() == ["RUN", "TRIGGER", "STARTED", "PERIOD", "RESULT", "DURATION",
                              "ROWS", "RECIPIENTS", "ERROR"]
    cells = row.split()
    assert (cells[0], cells[1], cells[4], cells[6], cells[7]) == (
        run_id, "Manual", "Succeeded", "3", "team@example.com")
    every = ok(cluster, "history", "-A", "--no-headers").splitlines()
    assert [r.split()[:3] for r in every if r.split()[0] == namespace] == [
        [namespace, "daily", run_id]]
    records = json.loads(ok(cluster, "history", "daily", "-n", namespace, "-o", "json"))
    assert records == cluster.get_rs(namespace, "daily")["status"]["history"]
    assert yaml.safe_load(ok(cluster, "history", "daily", "-n", namespace, "-o", "yaml",
                             "--limit", "1")) == records[:1]

    log = ok(cluster, "logs", "daily", "-n", namespace)
    assert f"run {run_id} (Manual): Succeeded, 3 rows" in log
    assert ok(cluster, "logs", "daily", "-n", namespace, "--run", run_id, "--follow") == log

    [line] = ok(cluster, "status", "daily", "-n", namespace).splitlines()[1:]
    cells = line.split()  # the schedule "daily 06:00" and the next run "in 1d2h" are two each
    assert cells[:5] == ["daily", "daily", "06:00", "True", "Succeeded"]
    assert (cells[6], cells[8]) == ("in", "0")
    listed = json.loads(ok(cluster, "status", "-A", "-o", "json"))
    assert listed["kind"] == "List"
    assert [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in listed["items"]
            if o["metadata"]["namespace"] == namespace] == [(namespace, "daily")]
    wide = ok(cluster, "status", "-n", namespace, "-o", "wide").splitlines()
    assert wide[0].endswith("TIMEZONE        SUSPENDED   CRONJOB   LAST SUCCESS")
    assert "Europe/Berlin" in wide[1].split()


def test_run_tells_whether_the_operator_started_it(
    cluster: Cluster, operator: OperatorProcess, namespace: str, postgres: Postgres,
    smtp: MailSink,
) -> None:
    """`run` prints the run's id once its Job exists, and exits 1 with the operator's reason
    when it refuses (another run-now still running); `--wait` follows the run to its end;
    `logs -f` right after `run` follows that run, not the one before."""
    create_secrets(cluster, namespace, postgres.url, smtp.port)
    cluster.create_rs(namespace, report_schedule(
        "slow", datasets=[{"name": "main", "query": "SELECT 1 AS n FROM pg_sleep(10)"}]))
    ready(cluster, namespace, "slow")
    first = ok(cluster, "run", "slow", "-n", namespace, "--wait", "--timeout", "300")
    first_id = first.splitlines()[0].split()[-1]
    assert first.splitlines() == [
        f"reportschedule.bulletin.dev/slow run requested, started as {first_id}",
        f"run {first_id} Succeeded, 1 rows"]

    second_id = ok(cluster, "run", "slow", "-n", namespace).split()[-1]
    assert second_id != first_id
    cluster.batch.read_namespaced_job(second_id, namespace)  # printed once its Job exists
    refused = plugin(cluster, "run", "slow", "-n", namespace)
    assert (refused.returncode, refused.stdout) == (1, ""), refused.stderr
    assert refused.stderr == ("error: the operator refused to run slow now: Job"
                              f" {second_id} is still running; try again after it\n")
    log = ok(cluster, "logs", "slow", "-n", namespace, "-f")
    assert f"run {second_id} (Manual): Succeeded, 1 rows" in log and first_id not in log


def test_run_refused_for_a_secret_not_opened_to_reports(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.core.create_namespaced_secret(namespace, client.V1Secret(
        metadata=client.V1ObjectMeta(name="db"), string_data={"url": "postgresql://db/x"}))
    cluster.create_rs(namespace, report_schedule("locked"))
    wait_for(lambda: condition(cluster.get_rs(namespace, "locked"), "Stalled").get("status")
             == "True", "locked Stalled")
    proc = plugin(cluster, "run", "locked", "-n", namespace)
    assert (proc.returncode, proc.stdout) == (1, ""), proc.stderr
    assert proc.stderr.startswith("error: the operator refused to run locked now: ")
    assert "Secret 'db' (spec.source.connectionSecretRef)" in proc.stderr
    assert cluster.batch.list_namespaced_job(namespace).items == []


def test_listing_conventions(cluster: Cluster, namespace: str) -> None:
    """No operator needed: `get`/`list` are `status`, with -l, --no-headers and -A."""
    for name, team in (("alpha", "a"), ("beta", "b")):
        manifest = report_schedule(name)
        manifest["metadata"]["labels"] = {"team": team}
        cluster.create_rs(namespace, manifest)
    rows = ok(cluster, "get", "-n", namespace, "--no-headers").splitlines()
    assert [r.split()[0] for r in rows] == ["alpha", "beta"]
    rows = ok(cluster, "list", "-n", namespace, "-l", "team=b").splitlines()
    assert rows[0].split()[0] == "NAME" and [r.split()[0] for r in rows[1:]] == ["beta"]
    rows = ok(cluster, "status", "-A", "--selector", "team=a", "--no-headers").splitlines()
    assert [r.split()[:2] for r in rows if r.split()[0] == namespace] == [[namespace, "alpha"]]
    assert ok(cluster, "--version").startswith("kubectl bulletin ")
    empty = plugin(cluster, "history", "-n", namespace)
    assert (empty.returncode, empty.stdout, empty.stderr) == (
        0, "", "No runs in status.history yet.\n")


def test_suspend_and_resume_reach_the_cronjob(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.create_rs(namespace, report_schedule("weekly"))
    cronjob = ready(cluster, namespace, "weekly")["status"]["cronJobName"]

    def cronjob_suspended(value: bool) -> bool:
        return bool(cluster.batch.read_namespaced_cron_job(cronjob, namespace).spec.suspend) \
            is value

    assert cronjob_suspended(False)
    proc = plugin(cluster, "suspend", "weekly", "-n", namespace)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "reportschedule.bulletin.dev/weekly suspended\n"
    assert "Warning:" in proc.stderr and "Argo CD" in proc.stderr and "Git" in proc.stderr
    assert cluster.get_rs(namespace, "weekly")["spec"]["suspend"] is True
    wait_for(lambda: cronjob_suspended(True), "the CronJob suspended")
    assert "<suspended>" in ok(cluster, "status", "weekly", "-n", namespace)
    assert "unchanged" in ok(cluster, "suspend", "weekly", "-n", namespace)

    assert ok(cluster, "resume", "weekly", "-n", namespace) == \
        "reportschedule.bulletin.dev/weekly resumed\n"
    wait_for(lambda: cronjob_suspended(False), "the CronJob resumed")


def last_sunday_of_march(year: int) -> date:
    day = date(year, 3, 31)
    return day - timedelta(days=(day.weekday() + 1) % 7)


def test_next_marks_the_dst_change(cluster: Cluster, namespace: str) -> None:
    """No operator needed: `next` computes from the spec with bulletin.schedule."""
    berlin = ZoneInfo("Europe/Berlin")
    cluster.create_rs(namespace, report_schedule(
        "early", schedule={"daily": {"at": "02:30"}, "timeZone": "Europe/Berlin"}))
    sunday = last_sunday_of_march(2031)
    start = datetime.combine(sunday - timedelta(days=2), time(12), tzinfo=UTC)
    days = [sunday - timedelta(days=1) + timedelta(days=i) for i in range(4)]
    # 02:30 does not exist on the Sunday: PEP 495 fold=0 puts it at 03:30 CEST.
    expected = [datetime.combine(d, time(2, 30), tzinfo=berlin).astimezone(UTC) for d in days]
    assert expected[1].astimezone(berlin).hour == 3

    args = ("next", "early", "-n", namespace, "--count", "4", "--from", start.isoformat())
    records = json.loads(ok(cluster, *args, "-o", "json"))
    assert [datetime.fromisoformat(r["time"]) for r in records] == expected
    assert [r["offsetChanged"] for r in records] == [False, True, False, False]
    rows = ok(cluster, *args).splitlines()
    assert rows[0].split() == ["LOCAL", "UTC", "OFFSET", "UTC", "IN", "DST"]
    assert rows[2].startswith(f"{sunday} Sun 03:30 CEST") and rows[2].endswith("+01:00 -> +02:00")
    assert [("->" in r) for r in rows[1:]] == [False, True, False, False]


def test_errors_read_like_kubectl(cluster: Cluster, namespace: str) -> None:
    for args in (("history", "nope"), ("status", "nope"), ("suspend", "nope"),
                 ("logs", "nope"), ("next", "nope"), ("run", "nope")):
        proc = plugin(cluster, *args, "-n", namespace)
        assert proc.returncode == 1 and proc.stdout == ""
        assert proc.stderr == \
            'Error from server (NotFound): reportschedules.bulletin.dev "nope" not found\n', args
    empty = plugin(cluster, "status", "-n", namespace)
    assert (empty.returncode, empty.stdout, empty.stderr) == (
        0, "", f"No resources found in {namespace} namespace.\n")
    cluster.create_rs(namespace, report_schedule("idle"))
    gone = plugin(cluster, "logs", "idle", "-n", namespace, "--run", "idle-123")
    assert gone.returncode == 1
    assert gone.stderr == 'Error from server (NotFound): jobs.batch "idle-123" not found\n'
