"""Object size on the real API server: a tenant's spec just under what etcd stores still gets
its runs recorded (history gives way), and a spec that leaves no room for a run's status fails
that run's Job once, with an Event that says why (no retries into the same wall)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from bulletin.api.client import Kube
from bulletin.api.gateway import too_large, transient
from bulletin.api.history import ETCD_REQUEST_LIMIT, OBJECT_CEILING, wire_size, with_run
from bulletin.api.status import DeliveryRecord, RunRecord, RunResult, Trigger
from devstack.mailsink import MailSink
from devstack.operatorproc import OperatorProcess
from devstack.postgres import Postgres
from kubernetes.client.exceptions import ApiException
from support import (
    Cluster,
    condition,
    create_secrets,
    event_messages,
    report_schedule,
    run_now,
    run_now_no_wait,
    wait_for,
)

GROUP, VERSION, PLURAL = "bulletin.dev", "v1alpha1", "reportschedules"


def _large(name: str) -> dict[str, Any]:
    """A ReportSchedule as large as its SQL may make it: 20 datasets of 64 KiB and 20
    assertions of 8 KiB (comments pad them), about 1.48 MB."""
    datasets = [{"name": f"d{n:02d}", "query": ("SELECT 1 AS one -- " + "x" * 65_536)[:65_536]}
                for n in range(20)]
    assertions = [{"name": f"a{n:02d}", "query": ("SELECT true -- " + "y" * 8192)[:8192]}
                  for n in range(20)]
    return report_schedule(name, datasets=datasets, gates={"assertions": assertions})


def _padded(name: str, size: int) -> dict[str, Any]:
    """_large, with report.columns (up to 200 per dataset) padding it to about ``size`` bytes."""
    manifest = _large(name)
    by_dataset: dict[str, list[dict[str, str]]] = {}
    manifest["spec"]["report"] = {"columns": by_dataset}
    missing = size - wire_size(manifest)
    while missing > 300:
        key = f"d{sum(len(c) for c in by_dataset.values()) // 200:02d}"
        if key not in by_dataset:
            by_dataset[key] = []
            missing -= len(key) + 6  # "dNN":[],
        columns = by_dataset[key]
        columns.append({"name": f"c{len(columns):05d}", "label": "z" * min(200, missing - 60)})
        missing -= wire_size(columns[-1]) + 1  # and its comma
    return manifest


def _wide_run(i: int) -> dict[str, Any]:
    """A run to 300 listed recipients, as status holds it (about 40 KB)."""
    start = datetime(2026, 11, 2, 9, tzinfo=UTC) + timedelta(days=i)
    people = [f"person-{n:03d}-with-a-long-mailbox-name@reports.example.com" for n in range(300)]
    return RunRecord(run_id=f"old-{i}", trigger=Trigger.SCHEDULED, start_time=start,
                     end_time=start + timedelta(minutes=1), result=RunResult.SUCCEEDED,
                     recipients=people, deliveries=[
                         DeliveryRecord(target="email", state="Sent", recipients=people)]).wire()


def test_a_large_specs_runs_are_recorded(
    cluster: Cluster, operator: OperatorProcess, namespace: str, postgres: Postgres,
    smtp: MailSink,
) -> None:
    create_secrets(cluster, namespace, postgres.url, smtp.port)
    cluster.create_rs(namespace, _large("big"))
    obj = wait_for(lambda: (o := cluster.get_rs(namespace, "big")) and
                   condition(o, "Ready").get("status") == "True" and o, "big Ready")
    size = wire_size(obj)
    print(f"\nspec {wire_size(obj['spec']):,} bytes, object {size:,} bytes"
          f" (etcd's limit {ETCD_REQUEST_LIMIT:,}, the runner's ceiling {OBJECT_CEILING:,})")
    assert 1_450_000 < size < OBJECT_CEILING

    # History that stays under its own 400 KiB (ten runs listing 300 recipients) is what made
    # every status write fail before: the real API server refuses it, and not as a retryable.
    history = [_wide_run(i) for i in range(10)]
    body = {**obj, "status": {**obj["status"], "history": history, "lastRun": history[0]}}
    try:
        cluster.custom.replace_namespaced_custom_object_status(
            GROUP, VERSION, namespace, PLURAL, "big", body)
        raise AssertionError(f"a {wire_size(body):,}-byte object was stored")
    except ApiException as exc:
        print(f"a {wire_size(body):,}-byte status write: {exc.status} {exc.body}")
        assert too_large(exc) and not transient(exc)

    # The same runs through the status writer: each is recorded, history giving way.
    kube = Kube(cluster.api)
    for i in range(3):
        record = RunRecord.model_validate(_wide_run(i))
        kube.update_status(namespace, "big", partial(with_run, record=record, limit=10))
    assert [h["runId"] for h in cluster.get_rs(namespace, "big")["status"]["history"]] == ["old-2"]

    status = run_now(cluster, namespace, "big", "one")
    last = status["lastRun"]
    assert last["result"] == "Succeeded", last
    assert [h["runId"] for h in status["history"]] == [last["runId"]]
    size = wire_size(cluster.get_rs(namespace, "big"))
    print(f"after the run: object {size:,} bytes, history {len(status['history'])} run(s)")
    assert size <= OBJECT_CEILING


def test_a_spec_with_no_room_for_a_run_fails_its_job_once(
    cluster: Cluster, operator: OperatorProcess, namespace: str,
) -> None:
    cluster.create_rs(namespace, _padded("full", ETCD_REQUEST_LIMIT - 10 * 1024))
    obj = wait_for(lambda: (o := cluster.get_rs(namespace, "full")) and
                   condition(o, "Ready").get("status") == "True" and o, "full Ready")
    size = wire_size(obj)
    print(f"\nobject {size:,} bytes with the operator's status (the runner's ceiling"
          f" {OBJECT_CEILING:,}, etcd's limit {ETCD_REQUEST_LIMIT:,})")
    assert OBJECT_CEILING < size < ETCD_REQUEST_LIMIT

    job = run_now_no_wait(cluster, namespace, "full", "one")

    def failed() -> str | None:
        found = cluster.batch.read_namespaced_job(job, namespace).status.conditions or []
        return next((c.reason for c in found if c.type == "Failed" and c.status == "True"), None)

    assert wait_for(failed, f"Job {job} failed", timeout=180,
                    explain=lambda: cluster.diagnose(namespace)) == "PodFailurePolicy"
    [pod] = cluster.core.list_namespaced_pod(namespace, label_selector=f"job-name={job}").items
    [state] = [s.state.terminated for s in pod.status.container_statuses]
    assert state.exit_code == 3 and "cannot be recorded" in state.message
    [message] = event_messages(cluster, namespace, "RunNotRecorded")
    print(f"Event RunNotRecorded: {message}")
    assert f"run {job} cannot be recorded" in message and f"{OBJECT_CEILING:,}" in message
    assert not (cluster.get_rs(namespace, "full").get("status") or {}).get("lastRun")
