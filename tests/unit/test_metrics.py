"""The operator's metrics as Prometheus reads them: the store fed by watch events, the
collector, run counting across restarts, reconcile outcomes, and the HTTP endpoint."""

from __future__ import annotations

import urllib.request
from typing import Any

import pytest
from bulletin.api.status import ReportScheduleStatus
from bulletin_operator.metrics import OperatorMetrics, serve
from bulletin_operator.settings import OperatorConfig
from devstack.ports import free_port
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

SPEC: dict[str, Any] = {"schedule": {"cron": "0 9 * * MON", "timeZone": "Europe/Berlin"}}
Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _scrape(text: str) -> Series:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _series(registry: CollectorRegistry) -> Series:
    return _scrape(generate_latest(registry).decode())


def _get(series: Series, metric: str, /, **labels: str) -> float | None:
    return series.get((metric, frozenset(labels.items())))


def _run(run_id: str, result: str, trigger: str = "Scheduled", seconds: int = 40
         ) -> dict[str, Any]:
    return {"runId": run_id, "trigger": trigger, "result": result,
            "startTime": "2026-11-23T08:00:00Z", "endTime": f"2026-11-23T08:00:{seconds:02d}Z"}


def _status(*runs: dict[str, Any], failures: int = 0) -> ReportScheduleStatus:
    return ReportScheduleStatus.parse({
        "schedule": "0 9 * * 1", "nextRunTime": "2026-11-30T08:00:00Z",
        "conditions": [{"type": "Ready", "status": "True", "reason": "CronJobReady",
                        "lastTransitionTime": "2026-11-01T00:00:00Z"}],
        "consecutiveFailures": failures, "lastRun": runs[0] if runs else None,
        "history": list(runs)})


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def test_each_schedule_has_its_series_until_deleted(registry: CollectorRegistry) -> None:
    metrics = OperatorMetrics(registry)
    metrics.observe("a", "daily", SPEC, _status(_run("d-1", "Succeeded")))
    metrics.observe("b", "weekly", SPEC, _status(_run("w-1", "Failed"), failures=2))
    series = _series(registry)
    assert _get(series, "bulletin_operator_schedules") == 2
    assert _get(series, "bulletin_report_info", namespace="a", name="daily",
                schedule="0 9 * * 1", timezone="Europe/Berlin") == 1
    assert _get(series, "bulletin_report_last_run_result", namespace="b", name="weekly",
                result="Failed") == 1
    assert _get(series, "bulletin_report_last_run_result", namespace="b", name="weekly",
                result="Succeeded") == 0
    assert _get(series, "bulletin_report_consecutive_failures", namespace="b",
                name="weekly") == 2
    assert _get(series, "bulletin_report_interval_seconds", namespace="a",
                name="daily") == 7 * 86400

    metrics.observe("b", "weekly", SPEC, _status(_run("w-2", "Succeeded"), _run("w-1", "Failed")))
    series = _series(registry)
    assert _get(series, "bulletin_report_last_run_result", namespace="b", name="weekly",
                result="Succeeded") == 1
    assert _get(series, "bulletin_report_consecutive_failures", namespace="b",
                name="weekly") == 0

    metrics.forget("a", "daily")
    series = _series(registry)
    assert _get(series, "bulletin_operator_schedules") == 1
    assert not [k for k in series if dict(k[1]).get("name") == "daily"]


def test_label_names_are_the_contract(registry: CollectorRegistry) -> None:
    metrics = OperatorMetrics(registry)
    metrics.observe("a", "r", SPEC, _status(_run("r-1", "Failed")))
    metrics.observe("a", "r", SPEC, _status(_run("r-2", "Failed"), _run("r-1", "Failed")))
    with metrics.reconciling():
        pass
    labels: dict[str, set[str]] = {}
    for name, pairs in _series(registry):
        labels.setdefault(name, set()).update(k for k, _ in pairs)
    per_schedule = {"namespace", "name"}
    assert labels["bulletin_report_info"] == per_schedule | {"schedule", "timezone"}
    assert labels["bulletin_report_last_run_result"] == per_schedule | {"result"}
    for plain in ("ready", "paused", "last_run_timestamp_seconds", "last_run_duration_seconds",
                  "last_run_rows", "last_run_bytes", "consecutive_failures",
                  "next_run_timestamp_seconds", "interval_seconds"):
        assert labels[f"bulletin_report_{plain}"] == per_schedule, plain
    assert labels["bulletin_runs_total"] == {"namespace", "result", "trigger"}
    assert labels["bulletin_run_duration_seconds_bucket"] == {"namespace", "le"}
    assert labels["bulletin_operator_reconciles_total"] == {"outcome"}
    assert labels["bulletin_operator_reconcile_duration_seconds_bucket"] == {"le"}
    assert labels["bulletin_operator_schedules"] == set()
    assert not [n for n in labels if n.endswith("_created")]


def test_runs_are_counted_once_and_a_restart_counts_none_again(
    registry: CollectorRegistry,
) -> None:
    metrics = OperatorMetrics(registry)
    old = _run("r-1", "Failed")
    metrics.observe("a", "r", SPEC, _status(old))  # first sight: history before we watched
    assert _get(_series(registry), "bulletin_runs_total", namespace="a", result="Failed",
                trigger="Scheduled") == 0

    now = _run("r-2", "Succeeded", trigger="Manual", seconds=20)
    for _ in range(2):  # the same status twice (e.g. a delivery record updated)
        metrics.observe("a", "r", SPEC, _status(now, old))
    series = _series(registry)
    assert _get(series, "bulletin_runs_total", namespace="a", result="Succeeded",
                trigger="Manual") == 1
    assert _get(series, "bulletin_run_duration_seconds_count", namespace="a") == 1
    assert _get(series, "bulletin_run_duration_seconds_sum", namespace="a") == 20
    assert _get(series, "bulletin_run_duration_seconds_bucket", namespace="a", le="15.0") == 0
    assert _get(series, "bulletin_run_duration_seconds_bucket", namespace="a", le="30.0") == 1

    restarted = CollectorRegistry()
    OperatorMetrics(restarted).observe("a", "r", SPEC, _status(now, old))
    assert {v for k, v in _series(restarted).items() if k[0] == "bulletin_runs_total"} == {0}


def test_runs_series_start_at_zero_so_a_first_failure_after_a_restart_is_an_increase(
    registry: CollectorRegistry,
) -> None:
    """Before the first run a namespace's schedule ends, every result and trigger reads 0; the
    first failure then moves one of them 0 -> 1, which increase() counts (absent -> 1 it would
    not)."""
    metrics = OperatorMetrics(registry)
    metrics.observe("a", "r", SPEC, _status(_run("r-1", "Succeeded")))  # ended before we watched
    runs = {dict(k[1])["result"] + "/" + dict(k[1])["trigger"]: v
            for k, v in _series(registry).items() if k[0] == "bulletin_runs_total"}
    assert runs == {f"{r}/{t}": 0 for r in ("Succeeded", "Failed", "Skipped",
                                           "PartiallyDelivered")
                    for t in ("Scheduled", "Manual", "CatchUp")}

    metrics.observe("a", "r", SPEC, _status(_run("r-2", "Failed"), _run("r-1", "Succeeded")))
    metrics.observe("b", "s", SPEC, _status())  # another namespace: its own zeros
    series = _series(registry)
    assert _get(series, "bulletin_runs_total", namespace="a", result="Failed",
                trigger="Scheduled") == 1
    assert _get(series, "bulletin_runs_total", namespace="a", result="Succeeded",
                trigger="Scheduled") == 0
    assert _get(series, "bulletin_runs_total", namespace="b", result="Failed",
                trigger="Scheduled") == 0
    metrics.forget("a", "r")  # the counts stay after the schedule goes
    assert _get(_series(registry), "bulletin_runs_total", namespace="a", result="Failed",
                trigger="Scheduled") == 1


def test_reconcile_outcomes_and_latency(registry: CollectorRegistry) -> None:
    metrics = OperatorMetrics(registry)
    assert _get(_series(registry), "bulletin_operator_reconciles_total", outcome="error") == 0
    with metrics.reconciling():
        pass
    with metrics.reconciling() as outcome:
        outcome.refused()
    with pytest.raises(RuntimeError), metrics.reconciling():
        raise RuntimeError("API down")
    series = _series(registry)
    for outcome_ in ("ok", "refused", "error"):
        assert _get(series, "bulletin_operator_reconciles_total", outcome=outcome_) == 1
    assert _get(series, "bulletin_operator_reconcile_duration_seconds_count") == 3


def test_api_requests_leader_and_build_info(registry: CollectorRegistry) -> None:
    metrics = OperatorMetrics(registry)
    series = _series(registry)
    assert _get(series, "bulletin_operator_leader") == 0  # a standby until it leads
    [build] = [labels for (name, labels) in series if name == "bulletin_build_info"]
    assert {k for k, _ in build} == {"version", "kopf", "python"}
    for status in (200, 404, 409, 503):
        with metrics.api_request("PUT") as request:
            request.code = status
    with pytest.raises(ConnectionResetError), metrics.api_request("GET"):
        raise ConnectionResetError
    metrics.leader.set(1)
    with metrics.reconciling():
        assert _get(_series(registry), "bulletin_operator_reconciles_in_progress") == 1
    series = _series(registry)
    assert _get(series, "bulletin_operator_leader") == 1
    assert _get(series, "bulletin_operator_reconciles_in_progress") == 0
    assert _get(series, "bulletin_operator_api_request_duration_seconds_count", verb="PUT") == 4
    errors = {dict(labels)["code"]: value for (name, labels), value in series.items()
              if name == "bulletin_operator_api_request_errors_total"}
    assert errors == {"409": 1, "503": 1, "error": 1}  # 200 and 404 are answers


def test_metrics_are_served_over_http(registry: CollectorRegistry) -> None:
    metrics = OperatorMetrics(registry)
    metrics.observe("a", "r", SPEC, _status())
    port = free_port()
    server = serve("127.0.0.1", port, registry)
    assert server is not None
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            assert resp.headers["Content-Type"].startswith("text/plain")
            series = _scrape(resp.read().decode())
    finally:
        server.shutdown()
        server.server_close()
    assert _get(series, "bulletin_report_ready", namespace="a", name="r") == 1
    assert serve("127.0.0.1", 0, registry) is None


def test_the_endpoint_comes_from_the_environment() -> None:
    default = OperatorConfig.from_env({})
    assert (default.metrics_address, default.metrics_port) == ("0.0.0.0", 8080)
    found = OperatorConfig.from_env({"BULLETIN_METRICS_PORT": "0",
                                     "BULLETIN_METRICS_ADDRESS": "127.0.0.1"})
    assert (found.metrics_address, found.metrics_port) == ("127.0.0.1", 0)
    with pytest.raises(ValueError, match="BULLETIN_METRICS_PORT"):
        OperatorConfig.from_env({"BULLETIN_METRICS_PORT": "70000"})
