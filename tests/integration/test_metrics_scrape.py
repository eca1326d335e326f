"""/metrics end to end: two schedules run now (one succeeds, one fails its query) on the real
node; the session operator's endpoint then shows what their status says."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

from devstack.mailsink import MailSink
from devstack.operatorproc import OperatorProcess
from devstack.postgres import Postgres
from prometheus_client.parser import text_string_to_metric_families
from support import (
    Cluster,
    create_secrets,
    report_schedule,
    run_now_no_wait,
    wait_for,
    wait_for_run,
)

Series = dict[tuple[str, frozenset[tuple[str, str]]], float]
RESULTS = ("Succeeded", "Failed", "Skipped", "PartiallyDelivered")


def _scrape(operator: OperatorProcess) -> Series:
    url = f"http://127.0.0.1:{operator.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as resp:
        text = resp.read().decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _ts(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def _expected(namespace: str, name: str, status: dict[str, Any]) -> dict[tuple[str, str], Any]:
    """(metric, extra label) -> value, as status says (None: the series must be absent)."""
    last = status["lastRun"]
    out: dict[tuple[str, str], Any] = {
        ("info", f"schedule={status['schedule']},timezone=UTC"): 1.0,
        ("ready", ""): 1.0, ("paused", ""): 0.0,
        ("consecutive_failures", ""): float(status.get("consecutiveFailures") or 0),
        ("last_run_rows", ""): float(last.get("rows") or 0),
        ("last_run_bytes", ""): float(last.get("bytes") or 0),
        ("last_run_timestamp_seconds", ""): _ts(last["startTime"]),
        ("last_run_duration_seconds", ""): _ts(last["endTime"]) - _ts(last["startTime"]),
        ("next_run_timestamp_seconds", ""): _ts(status["nextRunTime"]),
        ("interval_seconds", ""): 7 * 86400.0,  # Mondays 09:00 UTC
        ("last_success_timestamp_seconds", ""):
            _ts(status["lastSuccessTime"]) if status.get("lastSuccessTime") else None,
    }
    out |= {("last_run_result", f"result={r}"): float(last["result"] == r) for r in RESULTS}
    return out


def _actual(series: Series, namespace: str, name: str, keys: list[tuple[str, str]]
            ) -> dict[tuple[str, str], Any]:
    got = {}
    for metric, extra in keys:
        labels = {"namespace": namespace, "name": name}
        labels |= dict(pair.split("=", 1) for pair in extra.split(",") if pair)
        got[metric, extra] = series.get((f"bulletin_report_{metric}",
                                         frozenset(labels.items())))
    return got


def _cronjob_name(cluster: Cluster, namespace: str, name: str) -> str | None:
    return (cluster.get_rs(namespace, name).get("status") or {}).get("cronJobName")


def _ran(run_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda status: (status.get("lastRun") or {}).get("runId") == run_id


def _runs(series: Series, namespace: str, result: str) -> float | None:
    labels = {"namespace": namespace, "result": result, "trigger": "Manual"}
    return series.get(("bulletin_runs_total", frozenset(labels.items())))


def test_metrics_show_the_runs_of_two_schedules(
    cluster: Cluster, operator: OperatorProcess, namespace: str, postgres: Postgres,
    smtp: MailSink,
) -> None:
    before = _scrape(operator)
    ok, refused = (frozenset({("outcome", o)}) for o in ("ok", "refused"))
    reconciles = ("bulletin_operator_reconciles_total", ok), (
        "bulletin_operator_reconciles_total", refused)
    create_secrets(cluster, namespace, postgres.url, smtp.port)
    weekly = {"cron": "0 9 * * MON", "timeZone": "UTC"}
    cluster.create_rs(namespace, report_schedule(
        "good", schedule=weekly,
        datasets=[{"name": "main", "query": "SELECT n FROM generate_series(1, 3) AS n"}]))
    cluster.create_rs(namespace, report_schedule(
        "bad", schedule=weekly,
        datasets=[{"name": "main", "query": "SELECT * FROM no_such_table"}]))
    for name in ("good", "bad"):
        wait_for(partial(_cronjob_name, cluster, namespace, name), f"{name} reconciled")
    fresh = {k: v for k, v in _scrape(operator).items() if k[0] == "bulletin_runs_total"
             and ("namespace", namespace) in k[1]}
    assert len(fresh) == 4 * 3 and set(fresh.values()) == {0}, \
        f"a fresh namespace counts 0 runs of each result and trigger: {fresh}"

    ids = {name: run_now_no_wait(cluster, namespace, name, "m1") for name in ("good", "bad")}
    statuses = {name: wait_for_run(cluster, namespace, name, _ran(run_id))
                for name, run_id in ids.items()}
    assert statuses["good"]["lastRun"]["result"] == "Succeeded"
    assert statuses["good"]["lastRun"]["rows"] == 3
    assert statuses["bad"]["lastRun"]["result"] == "Failed"
    assert statuses["bad"]["consecutiveFailures"] == 1

    def matching() -> Series | None:
        series = _scrape(operator)
        for name in ids:
            status = cluster.get_rs(namespace, name)["status"]
            want = _expected(namespace, name, status)
            if _actual(series, namespace, name, list(want)) != want:
                return None
        if (_runs(series, namespace, "Succeeded"), _runs(series, namespace, "Failed")) != (1, 1):
            return None
        return series

    def differences() -> str:
        series = _scrape(operator)
        lines = []
        for name in ids:
            want = _expected(namespace, name, cluster.get_rs(namespace, name)["status"])
            got = _actual(series, namespace, name, list(want))
            lines += [f"{name} {k}: want {v}, got {got[k]}" for k, v in want.items()
                      if got[k] != v]
        runs = [_runs(series, namespace, r) for r in ("Succeeded", "Failed")]
        return "\n".join([*lines, f"runs_total Succeeded/Failed: {runs}"])

    series = wait_for(matching, "metrics that match both statuses", timeout=60,
                      explain=differences)
    assert statuses["good"]["lastRun"]["bytes"] > 0
    assert series[("bulletin_report_last_success_timestamp_seconds",
                   frozenset({("namespace", namespace), ("name", "good")}))] > 0
    duration = frozenset({("namespace", namespace)})
    assert series[("bulletin_run_duration_seconds_count", duration)] == 2
    assert series[reconciles[0]] >= before[reconciles[0]] + 2
    assert series[("bulletin_operator_schedules", frozenset())] >= 2

    # A schedule the operator refuses: a refused reconcile, not ready, no schedule.
    cluster.create_rs(namespace, report_schedule(
        "nowhere", schedule={"cron": "0 9 * * MON", "timeZone": "Mars/Olympus"}))
    stalled = {"namespace": namespace, "name": "nowhere"}

    def refused_seen() -> Series | None:
        series = _scrape(operator)
        info = ("bulletin_report_info", frozenset({**stalled, "schedule": "",
                                                   "timezone": "Mars/Olympus"}.items()))
        return series if info in series and series[reconciles[1]] > before[reconciles[1]] \
            else None

    series = wait_for(refused_seen, "the refused schedule's series", timeout=60)
    assert series[("bulletin_report_ready", frozenset(stalled.items()))] == 0
    assert ("bulletin_report_interval_seconds", frozenset(stalled.items())) not in series

    # A deleted schedule's series go; the runs it had stay counted.
    cluster.custom.delete_namespaced_custom_object(
        "bulletin.dev", "v1alpha1", namespace, "reportschedules", "good")
    def without_good() -> Series | None:
        series = _scrape(operator)
        mine = {("namespace", namespace), ("name", "good")}
        return None if [k for k in series if mine <= k[1]] else series

    gone = wait_for(without_good, "the deleted schedule's series gone", timeout=60)
    assert _runs(gone, namespace, "Succeeded") == 1
