"""The chart's monitoring: the metrics Service, ServiceMonitor, PrometheusRule and Grafana
dashboard as `helm template` renders them, and the alerts run by promtool (built from the
pinned github.com/prometheus/prometheus by tests/promtool/build.sh) against the test cases in
tests/promtool/alerts_test.yaml. The rules promtool sees are the ones the chart renders."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from helmchart import CHART, ROOT, helm, render

PROMTOOL_DIR = ROOT / "tests" / "promtool"
DASHBOARD = CHART / "dashboards" / "bulletin.json"
ALERTS = {"BulletinReportFailed", "BulletinReportNotSucceeding", "BulletinReportPaused",
          "BulletinOperatorDown"}
# The metric names of the contract between the operator's /metrics and the chart
# (issue 10). The operator's metrics module defines them; this list pins what the chart's rules
# and dashboard may use, so a renamed metric fails here rather than in a silent panel.
CONTRACT = {
    "bulletin_report_info", "bulletin_report_ready", "bulletin_report_paused",
    "bulletin_report_last_run_result", "bulletin_report_last_run_timestamp_seconds",
    "bulletin_report_last_run_duration_seconds", "bulletin_report_last_run_rows",
    "bulletin_report_last_run_bytes", "bulletin_report_last_success_timestamp_seconds",
    "bulletin_report_consecutive_failures", "bulletin_report_next_run_timestamp_seconds",
    "bulletin_report_interval_seconds", "bulletin_runs_total", "bulletin_run_duration_seconds",
    "bulletin_operator_reconciles_total", "bulletin_operator_reconcile_duration_seconds",
    "bulletin_operator_schedules", "bulletin_operator_leader", "bulletin_build_info",
    "bulletin_operator_api_request_duration_seconds", "bulletin_operator_api_request_errors_total",
    "bulletin_operator_reconciles_in_progress",
}
HISTOGRAMS = {"bulletin_run_duration_seconds", "bulletin_operator_reconcile_duration_seconds",
              "bulletin_operator_api_request_duration_seconds"}
RULES_ON = "metrics.prometheusRule.enabled=true"
RUNBOOK = "https://github.com/bulletin-dev/bulletin/blob/main/docs/operating.md"


@cache
def promtool() -> Path:
    """Build promtool from tests/promtool/go.mod (instant when cached) and return its path."""
    proc = subprocess.run(["bash", str(PROMTOOL_DIR / "build.sh")], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"tests/promtool/build.sh failed ({proc.returncode}):\n{proc.stderr}")
    return Path(proc.stdout.strip().splitlines()[-1])


def run_promtool(*args: str, cwd: Path) -> str:
    proc = subprocess.run([str(promtool()), *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)
    assert proc.returncode == 0, f"promtool {' '.join(args)}:\n{proc.stdout}{proc.stderr}"
    return proc.stdout


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    [found] = [o for o in objects if o["kind"] == kind]
    return found


def rules_file(path: Path, *set_values: str) -> list[dict[str, Any]]:
    """Write the chart's PrometheusRule groups as a Prometheus rules file; return its rules."""
    rule = one(render("bulletin", "bulletin-system", RULES_ON, *set_values), "PrometheusRule")
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}, sort_keys=False))
    return [r for group in rule["spec"]["groups"] for r in group["rules"]]


def test_the_rendered_alerts_pass_promtool_check_and_their_unit_tests(tmp_path: Path) -> None:
    rules = rules_file(tmp_path / "rules.yaml")
    assert {r["alert"] for r in rules} == ALERTS
    assert "SUCCESS: 4 rules found" in run_promtool("check", "rules", "rules.yaml", cwd=tmp_path)
    shutil.copy(PROMTOOL_DIR / "alerts_test.yaml", tmp_path)
    assert "SUCCESS" in run_promtool("test", "rules", "alerts_test.yaml", cwd=tmp_path)


def test_every_alert_has_cases_where_it_fires_and_where_it_does_not() -> None:
    cases = yaml.safe_load((PROMTOOL_DIR / "alerts_test.yaml").read_text())["tests"]
    checks = [c for test in cases for c in test["alert_rule_test"]]
    for alert in ALERTS:
        mine = [c for c in checks if c["alertname"] == alert]
        assert any(c["exp_alerts"] for c in mine), f"{alert} never expected to fire"
        assert any(not c["exp_alerts"] for c in mine), f"{alert} never expected to stay quiet"


def test_alert_values_reach_the_rules(tmp_path: Path) -> None:
    rules = {r["alert"]: r for r in rules_file(
        tmp_path / "rules.yaml", "metrics.prometheusRule.failed.consecutiveFailures=3",
        "metrics.prometheusRule.notSucceeding.intervals=3",
        "metrics.prometheusRule.notSucceeding.for=1h",
        "metrics.prometheusRule.paused.enabled=false",
        "metrics.prometheusRule.alertLabels.team=data",
        "metrics.prometheusRule.operatorDown.severity=page",
        'metrics.prometheusRule.operatorDown.upSelector=job="bulletin"')}
    run_promtool("check", "rules", "rules.yaml", cwd=tmp_path)
    assert set(rules) == ALERTS - {"BulletinReportPaused"}
    assert "bulletin_report_consecutive_failures) >= 3" in rules["BulletinReportFailed"]["expr"]
    not_succeeding = rules["BulletinReportNotSucceeding"]
    assert "> 3 * max by" in not_succeeding["expr"] and not_succeeding["for"] == "1h"
    assert "more than 3 times" in not_succeeding["annotations"]["description"]
    down = rules["BulletinOperatorDown"]
    assert down["expr"] == ('max by (job, namespace) (up{job="bulletin"}) == 0'
                            ' or absent(up{job="bulletin"})\nor max by (job, namespace)'
                            ' (bulletin_operator_leader{job="bulletin"}) == 0')
    assert down["labels"] == {"severity": "page", "team": "data"}
    assert rules["BulletinReportFailed"]["labels"] == {"severity": "warning", "team": "data"}


def metric_names(expr: str) -> set[str]:
    """The bulletin_* metrics an expression reads (histogram series mapped to their metric)."""
    names = set(re.findall(r"\bbulletin_[a-z_]+", expr))
    return {re.sub(r"_(bucket|sum|count)$", "", n) if re.sub(r"_(bucket|sum|count)$", "", n)
            in HISTOGRAMS else n for n in names}


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def test_rules_and_dashboard_read_only_contract_metrics(tmp_path: Path) -> None:
    used = set()
    for expr in [r["expr"] for r in rules_file(tmp_path / "rules.yaml")] + dashboard_exprs():
        assert metric_names(expr) <= CONTRACT, f"not in the metrics contract: {expr}"
        used |= metric_names(expr)
    # The dashboard shows nearly everything the operator exports.
    assert CONTRACT - used == {"bulletin_report_last_run_bytes"}


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    """Grafana's variables replaced by what Grafana sends; promtool parses each query."""
    grafana = {"$namespace": ".*", "$job": ".*", "$__rate_interval": "5m", "$__range": "1d"}
    rules = []
    for i, expr in enumerate(dashboard_exprs()):
        for var, value in grafana.items():
            expr = expr.replace(var, value)
        assert "$" not in expr, expr
        rules.append({"record": f"dashboard:query_{i}", "expr": expr})
    (tmp_path / "dashboard.yaml").write_text(
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    run_promtool("check", "rules", "--lint=none", "dashboard.yaml", cwd=tmp_path)


def _failed_runs_query(range_: str) -> str:
    """The dashboard's "Failed runs" stat query, as Grafana sends it over ``range_``."""
    dashboard = json.loads(DASHBOARD.read_text())
    [panel] = [p for p in dashboard["panels"]
               if p["title"] == "Failed runs" and p["type"] == "stat"]
    [target] = panel["targets"]
    return str(target["expr"]).replace("$namespace", ".*").replace("$__range", range_)


def test_a_first_failure_after_an_operator_restart_shows_and_alerts(tmp_path: Path) -> None:
    """Issue 22: the replaced operator pod exports bulletin_runs_total at 0 before the first
    run ends (as OperatorMetrics does), so its first failure is an increase the dashboard's
    "Failed runs" counts and BulletinReportFailed fires. A series that first appears at 1 (as
    before the zeros) gives no increase: the contrast shows the test tells them apart."""
    rules_file(tmp_path / "rules.yaml")
    series = 'bulletin_runs_total{{job="bulletin-metrics", instance="{pod}", namespace="{ns}",' \
        ' result="Failed", trigger="Scheduled"}}'
    report = 'bulletin_report_{metric}{{job="bulletin-metrics", instance="b:8080",' \
        ' namespace="sales", name="eod"{extra}}}'
    case = {
        "interval": "1m",
        "input_series": [
            # The old pod (0 failures) to 4m, then the new one from 5m: 0 until the run fails
            # at 10m (_xN: N missing samples; vxN: N + 1 samples).
            {"series": series.format(pod="a:8080", ns="sales"), "values": "0x4 stale"},
            {"series": series.format(pod="b:8080", ns="sales"), "values": "_x5 0x4 1x20"},
            {"series": report.format(metric="last_run_result", extra=', result="Failed"'),
             "values": "_x5 0x4 1x20"},
            {"series": report.format(metric="consecutive_failures", extra=""),
             "values": "_x5 0x4 1x20"},
        ],
        "promql_expr_test": [
            {"expr": _failed_runs_query("1h"), "eval_time": "9m", "exp_samples": [{"value": 0}]},
            {"expr": _failed_runs_query("1h"), "eval_time": "20m", "exp_samples": [{"value": 1}]},
        ],
        "alert_rule_test": [
            {"alertname": "BulletinReportFailed", "eval_time": "9m", "exp_alerts": []},
            {"alertname": "BulletinReportFailed", "eval_time": "20m", "exp_alerts": [
                {"exp_labels": {"severity": "warning", "namespace": "sales", "name": "eod"},
                 "exp_annotations": {
                     "runbook_url": RUNBOOK + "#bulletinreportfailed",
                     "summary": "Report sales/eod failed its last run",
                     "description": "The last run of ReportSchedule sales/eod failed (1 failed"
                     " runs in a row). The error is in status.lastRun: kubectl -n sales"
                     " describe reportschedule eod"}}]},
        ],
    }
    without_zeros = {"interval": "1m", "input_series": [
        {"series": series.format(pod="b:8080", ns="legacy"), "values": "_x10 1x20"}],
        "promql_expr_test": [{"expr": _failed_runs_query("1h"), "eval_time": "20m",
                              "exp_samples": [{"value": 0}]}]}
    (tmp_path / "restart_test.yaml").write_text(yaml.safe_dump(
        {"rule_files": ["rules.yaml"], "evaluation_interval": "1m",
         "tests": [case, without_zeros]}, sort_keys=False))
    assert "SUCCESS" in run_promtool("test", "rules", "restart_test.yaml", cwd=tmp_path)


def test_dashboard_is_grafana_json_with_datasource_and_namespace_variables() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["namespace"]["includeAll"] and variables["namespace"]["multi"]
    # One operator at a time: with "All" (.*), up{job=~"$job"} would read every target.
    assert not variables["job"]["includeAll"] and not variables["job"]["multi"]
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    titles = {p["title"] for p in panels}
    assert {"Reports", "Failed runs", "Run duration", "Run duration histogram", "Next runs",
            "Reconciles", "Reconcile errors", "Reconcile latency"} <= titles
    for panel in panels:
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
    overview = next(p for p in panels if p["title"] == "Reports" and p["type"] == "table")
    renamed = overview["transformations"][1]["options"]["renameByName"]
    assert {"Namespace", "Name", "Last result", "Last run", "Next run", "Consecutive failures",
            "Paused"} <= set(renamed.values())


def test_helm_lint_is_clean_with_every_monitoring_object() -> None:
    out = helm("lint", "--strict", str(CHART), "--set", "metrics.serviceMonitor.enabled=true",
               "--set", RULES_ON, "--set", "metrics.dashboard.enabled=true").stdout
    assert "1 chart(s) linted, 0 chart(s) failed" in out
    assert "[WARNING]" not in out and "[ERROR]" not in out, out


def test_default_render_has_the_metrics_service_on_the_operator_pod() -> None:
    objects = render("rel", "ops")
    service, deployment = one(objects, "Service"), one(objects, "Deployment")
    pod = deployment["spec"]["template"]
    container = pod["spec"]["containers"][0]
    assert service["metadata"]["name"] == "rel-metrics"
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": 8080, "targetPort": "metrics", "protocol": "TCP"}]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"health": 8081, "metrics": 8080}
    assert "--liveness=http://0.0.0.0:8081/healthz" in container["command"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["BULLETIN_METRICS_PORT"] == "8080"
    assert not {"ServiceMonitor", "PrometheusRule", "ConfigMap"} & {o["kind"] for o in objects}


def test_metrics_can_be_turned_off_or_moved() -> None:
    off = render("rel", "ops", "metrics.enabled=false")
    assert "Service" not in {o["kind"] for o in off}
    container = one(off, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert [p["name"] for p in container["ports"]] == ["health"]
    assert {e["name"]: e["value"] for e in container["env"]}["BULLETIN_METRICS_PORT"] == "0"

    moved = render("rel", "ops", "metrics.port=9100")
    container = one(moved, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "metrics", "containerPort": 9100} in container["ports"]
    assert one(moved, "Service")["spec"]["ports"][0]["port"] == 9100


def test_service_monitor_selects_the_metrics_service_and_keeps_report_namespaces() -> None:
    objects = render("rel", "ops", "metrics.serviceMonitor.enabled=true",
                     "metrics.serviceMonitor.interval=1m",
                     "metrics.serviceMonitor.labels.release=prometheus")
    monitor, service = one(objects, "ServiceMonitor"), one(objects, "Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["namespace"] == "ops"
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    spec = monitor["spec"]
    assert spec["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert spec["namespaceSelector"] == {"matchNames": ["ops"]}
    assert spec["endpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "1m",
                                  "honorLabels": True}]


def test_prometheus_rule_object() -> None:
    objects = render("rel", "ops", RULES_ON, "metrics.prometheusRule.labels.release=prometheus")
    rule = one(objects, "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert (rule["metadata"]["name"], rule["metadata"]["namespace"]) == ("rel-alerts", "ops")
    assert rule["metadata"]["labels"]["release"] == "prometheus"
    [group] = rule["spec"]["groups"]
    for alert in group["rules"]:
        assert set(alert) == {"alert", "expr", "for", "labels", "annotations"}
        assert set(alert["annotations"]) == {"summary", "description", "runbook_url"}
        assert "kubectl -n" in alert["annotations"]["description"]
    down = next(a for a in group["rules"] if a["alert"] == "BulletinOperatorDown")
    assert '(up{job="rel-metrics", namespace="ops"}) == 0' in down["expr"]


def test_dashboard_config_map_carries_the_dashboard_file() -> None:
    objects = render("rel", "ops", "metrics.dashboard.enabled=true",
                     "metrics.dashboard.namespace=grafana",
                     "metrics.dashboard.annotations.grafana_folder=Reports")
    config_map = one(objects, "ConfigMap")
    meta = config_map["metadata"]
    assert (meta["name"], meta["namespace"]) == ("rel-dashboard", "grafana")
    assert meta["labels"]["grafana_dashboard"] == "1"
    assert meta["annotations"] == {"grafana_folder": "Reports"}
    assert json.loads(config_map["data"]["bulletin.json"]) == json.loads(DASHBOARD.read_text())


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("metrics.enabled=false,metrics.serviceMonitor.enabled=true",
         "metrics.serviceMonitor and metrics.prometheusRule need metrics.enabled"),
        ("metrics.port=8081", "at '/metrics/port'"),
        ("metrics.serviceMonitor.interval=soon", "'soon' does not match pattern"),
        ("metrics.prometheusRule.alertLabels.severity=x", "invalid propertyName 'severity'"),
        ("metrics.prometheusRule.failed.consecutiveFailures=0", "minimum: got 0, want 1"),
        ("metrics.prometheusRule.operatorDown.upSelector=up{job=\"x\"}",
         "does not match pattern"),
        ("metrics.dashboard.labels=x", "got string, want object"),
    ],
)
def test_wrong_monitoring_values_fail_helm_template(value: str, message: str) -> None:
    proc = helm("template", "rel", str(CHART), "--set", value, check=False)
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr
