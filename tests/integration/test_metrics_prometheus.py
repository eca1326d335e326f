"""bulletin_runs_total through a real Prometheus scraping a real operator (issue 22): the first
run that fails after the operator restarted shows in the dashboard's "Failed runs" query,
because the restarted operator exports the namespace's series at 0 before the run ends."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from devstack.mailsink import MailSink
from devstack.operatorproc import OperatorProcess, local_env
from devstack.ports import free_port
from devstack.postgres import Postgres
from devstack.prometheus import Prometheus
from support import (
    Cluster,
    create_secrets,
    report_schedule,
    run_now_no_wait,
    wait_for,
    wait_for_run,
)

pytestmark = pytest.mark.own_operator

DASHBOARD = Path(__file__).resolve().parents[2] / "charts" / "bulletin" / "dashboards" / \
    "bulletin.json"
WEEKLY = {"cron": "0 9 * * MON", "timeZone": "UTC"}


def failed_runs_query(namespace: str, range_: str) -> str:
    """The dashboard's "Failed runs" stat, as Grafana sends it for ``namespace``."""
    panels = json.loads(DASHBOARD.read_text())["panels"]
    [panel] = [p for p in panels if p["title"] == "Failed runs" and p["type"] == "stat"]
    expr = str(panel["targets"][0]["expr"])
    return expr.replace("$namespace", namespace).replace("$__range", range_)


@pytest.fixture
def scraper(tmp_path: Path) -> Iterator[tuple[Prometheus, int]]:
    """A Prometheus scraping 127.0.0.1:<port> every second, and that port."""
    port = free_port()
    config = ("global: {scrape_interval: 1s, scrape_timeout: 1s}\n"
              "scrape_configs:\n  - job_name: bulletin-metrics\n"
              f"    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n")
    server = Prometheus(tmp_path / "prometheus").start(None, config)
    yield server, port
    server.stop()


def _value(prometheus: Prometheus, expr: str) -> float | None:
    result = prometheus.query(expr)
    return float(result[0]["value"][1]) if result else None  # type: ignore[index]


def test_a_first_failure_after_a_restart_shows_in_failed_runs(
    cluster: Cluster, namespace: str, runner_image: str, postgres: Postgres, smtp: MailSink,
    scraper: tuple[Prometheus, int], tmp_path: Path,
) -> None:
    prometheus, port = scraper
    env = {**local_env(runner_image), "BULLETIN_METRICS_PORT": str(port)}

    def start(log: str) -> OperatorProcess:
        return OperatorProcess(cluster.kubeconfig, tmp_path / log, env=env,
                               scope=[f"--namespace={namespace}"]).start()

    create_secrets(cluster, namespace, postgres.url, smtp.port)
    failed = f'bulletin_runs_total{{namespace="{namespace}", result="Failed", trigger="Manual"}}'
    proc = start("first.log")
    try:
        cluster.create_rs(namespace, report_schedule(
            "bad", schedule=WEEKLY,
            datasets=[{"name": "main", "query": "SELECT * FROM no_such_table"}]))
        wait_for(lambda: _value(prometheus, failed) == 0, "the first operator's 0 scraped")
    finally:
        proc.stop()
    restarted = time.time()
    proc = start("second.log")
    try:
        # The restarted operator's own 0 is in Prometheus before the run fails.
        wait_for(lambda: _value(prometheus, f"timestamp({failed}) > {restarted}") is not None
                 and _value(prometheus, failed) == 0, "the restarted operator's 0 scraped")
        query = failed_runs_query(namespace, "10m")
        before = _value(prometheus, query)
        assert before == 0, before
        run_id = run_now_no_wait(cluster, namespace, "bad", "m1")
        status = wait_for_run(cluster, namespace, "bad",
                              lambda s: (s.get("lastRun") or {}).get("runId") == run_id)
        assert status["lastRun"]["result"] == "Failed"
        shown = wait_for(lambda: _value(prometheus, query) or None,
                         'the failure in the dashboard\'s "Failed runs"', timeout=60)
    finally:
        proc.stop()
    print(f"METRICS failed_runs_after_restart before={before} after={shown}")
    assert round(shown) == 1, shown
