"""NEXT RUN right after a run (issue 22): the status write that records a run's end also moves
status.nextRunTime past the firing that started it, on the real node. The test's own operator
has just started, so its once-a-minute refresher has not run yet and cannot be what moved it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from devstack.mailsink import MailSink
from devstack.operatorproc import OperatorProcess, local_env
from devstack.postgres import Postgres
from kubernetes import watch
from support import (
    Cluster,
    create_secrets,
    fire_cronjob,
    ready_cronjob,
    report_schedule,
    wait_for_run,
)

pytestmark = pytest.mark.own_operator
G, V, P = "bulletin.dev", "v1alpha1", "reportschedules"


def _versions(cluster: Cluster, namespace: str, name: str, since: str) -> list[dict[str, Any]]:
    """Every version of the schedule written after resourceVersion ``since``, oldest first."""
    stream = watch.Watch().stream(
        cluster.custom.list_namespaced_custom_object, G, V, namespace, P,
        field_selector=f"metadata.name={name}", resource_version=since, timeout_seconds=3)
    return [event["object"] for event in stream if event["type"] == "MODIFIED"]


def test_the_write_recording_a_run_sets_the_next_run(
    cluster: Cluster, namespace: str, runner_image: str, postgres: Postgres, smtp: MailSink,
    tmp_path: Path,
) -> None:
    create_secrets(cluster, namespace, postgres.url, smtp.port)
    proc = OperatorProcess(cluster.kubeconfig, tmp_path / "operator.log",
                           scope=[f"--namespace={namespace}"],
                           env=local_env(runner_image)).start()
    try:
        # Daily at the current minute: the firing the test starts is one of its run times.
        fired = datetime.now(UTC).replace(second=0, microsecond=0)
        cluster.create_rs(namespace, report_schedule(
            "daily", schedule={"cron": f"{fired.minute} {fired.hour} * * *", "timeZone": "UTC"},
            datasets=[{"name": "main", "query": "SELECT n FROM generate_series(1, 3) AS n"}]))
        cronjob = ready_cronjob(cluster, namespace, "daily")
        # As status stands once the CronJob has fired: nextRunTime is the firing's minute.
        stale = fired.strftime("%Y-%m-%dT%H:%M:%SZ")
        since = cluster.custom.patch_namespaced_custom_object_status(
            G, V, namespace, P, "daily", {"status": {"nextRunTime": stale}}
        )["metadata"]["resourceVersion"]
        run_id = fire_cronjob(cluster, namespace, cronjob, fired)
        status = wait_for_run(cluster, namespace, "daily",
                              lambda s: (s.get("lastRun") or {}).get("runId") == run_id)
        read_at = datetime.now(UTC)
    finally:
        proc.stop()
    assert status["lastRun"]["result"] == "Succeeded", status["lastRun"]
    following = (fired + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert status["nextRunTime"] == following
    assert datetime.fromisoformat(status["nextRunTime"]) > read_at

    versions = _versions(cluster, namespace, "daily", since)
    ended = [n for n, v in enumerate(versions)
             if (v.get("status") or {}).get("lastRun", {}).get("runId") == run_id
             and v["status"]["lastRun"].get("endTime")]
    assert ended, [v.get("status", {}).get("lastRun") for v in versions]
    first = ended[0]
    before = versions[first - 1]["status"] if first else {"nextRunTime": stale}
    print(f"NEXTRUN run ended {versions[first]['status']['lastRun']['endTime']}, that write's"
          f" nextRunTime {versions[first]['status']['nextRunTime']} (before it: "
          f"{before.get('nextRunTime')}), read {read_at:%H:%M:%S.%f}")
    assert before.get("nextRunTime") == stale  # nothing else moved it first
    assert versions[first]["status"]["nextRunTime"] == following
