"""kstatus, as Flux and kpt run it, and Argo CD's health check
(docs/argocd/bulletin.dev/ReportSchedule/health.lua, run by gopher-lua) read real ReportSchedules
from the cluster in each state of docs/gitops.md's table:

| state                               | kstatus    | Argo CD     |
|-------------------------------------|------------|-------------|
| ready                               | Current    | Healthy     |
| a newer generation not yet applied  | InProgress | Progressing |
| spec.suspend with a valid spec      | Current    | Suspended   |
| invalid spec (suspended or not)     | Failed     | Degraded    |
| last run Failed / PartiallyDelivered| Current    | Degraded    |
| last run Skipped (or Succeeded)     | Current    | Healthy     |
| paused after repeated failures      | Failed     | Degraded    |

Each object is also the state of one case of the shipped health_test.yaml: the test checks that
the case expects what the real object gives. With BULLETIN_HEALTH_TESTDATA=DIR the objects are
written there as testdata/<state>.yaml (how the shipped testdata was captured).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from devstack.mailsink import MailSink
from devstack.operatorproc import OperatorProcess
from devstack.postgres import Postgres
from kstatus_checker import argocd_health, as_testdata, health_cases, kstatus
from support import Cluster, condition, create_secrets, report_schedule, run_now, wait_for

EXPECTED = {path: status for path, status, _ in health_cases()}


def _condition_is(cluster: Cluster, namespace: str, name: str, type_: str
                  ) -> dict[str, Any] | None:
    """The object once its ``type_`` condition is True for its current generation."""
    obj = cluster.get_rs(namespace, name)
    cond = condition(obj, type_)
    current = cond.get("observedGeneration") == obj["metadata"]["generation"]
    return obj if cond.get("status") == "True" and current else None


def _state(state: str, obj: dict[str, Any]) -> tuple[str, str]:
    """Argo CD's health of the real object ``obj``, which stands for testdata/<state>.yaml:
    health_test.yaml expects the same status for it. Writes the object out when asked."""
    health = argocd_health(obj)
    assert EXPECTED[f"testdata/{state}.yaml"] == health[0], (state, health)
    capture = os.environ.get("BULLETIN_HEALTH_TESTDATA")
    if capture:
        Path(capture, f"{state}.yaml").write_text(as_testdata(obj))
    return health


def test_ready_suspended_and_a_newer_generation(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.create_rs(namespace, report_schedule("steady"))
    obj = wait_for(lambda: _condition_is(cluster, namespace, "steady", "Ready"), "Ready=True",
                   explain=lambda: cluster.diagnose(namespace))
    assert kstatus(obj) == ("Current", "Resource is Ready")
    assert _state("healthy", obj) == ("Healthy", condition(obj, "Ready")["message"])

    # A spec change the operator has not applied yet is too short-lived to catch reliably:
    # the same real object with its generation one ahead stands for it.
    ahead = {**obj, "metadata": {**obj["metadata"],
                                 "generation": obj["metadata"]["generation"] + 1}}
    status, message = kstatus(ahead)
    assert status == "InProgress"
    assert f"generation is {ahead['metadata']['generation']}" in message
    assert _state("progressing", ahead) == (
        "Progressing", f"Waiting for the operator to apply generation "
        f"{ahead['metadata']['generation']}")

    cluster.patch_rs(namespace, "steady", {"spec": {"suspend": True}})
    obj = wait_for(lambda: _condition_is(cluster, namespace, "steady", "Ready"),
                   "Ready=True for the suspended generation",
                   explain=lambda: cluster.diagnose(namespace))
    assert obj["spec"]["suspend"] is True
    assert kstatus(obj)[0] == "Current"
    assert _state("suspended", obj) == ("Suspended", "spec.suspend is true")


def test_invalid_spec_is_failed_suspended_or_not(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.create_rs(namespace, report_schedule("zoned"))
    wait_for(lambda: _condition_is(cluster, namespace, "zoned", "Ready"), "Ready=True")
    cluster.patch_rs(namespace, "zoned", {"spec": {"schedule": {"timeZone": "Mars/Olympus"}}})
    obj = wait_for(lambda: _condition_is(cluster, namespace, "zoned", "Stalled"), "Stalled=True",
                   explain=lambda: cluster.diagnose(namespace))
    status, message = kstatus(obj)
    assert status == "Failed"
    assert "Mars/Olympus" in message
    health, why = _state("degraded-invalid-spec", obj)
    assert health == "Degraded" and why.startswith("InvalidSpec: ") and "Mars/Olympus" in why

    # Suspending does not hide it: the spec is still invalid, and kstatus still says Failed.
    cluster.patch_rs(namespace, "zoned", {"spec": {"suspend": True}})
    obj = wait_for(lambda: _condition_is(cluster, namespace, "zoned", "Stalled"),
                   "Stalled=True for the suspended generation",
                   explain=lambda: cluster.diagnose(namespace))
    assert obj["spec"]["suspend"] is True
    assert kstatus(obj)[0] == "Failed"
    health, why = _state("degraded-invalid-spec-suspended", obj)
    assert health == "Degraded" and "Mars/Olympus" in why


def test_a_failed_run_is_degraded_and_paused_failed(
    cluster: Cluster, operator: OperatorProcess, namespace: str, postgres: Postgres,
    smtp: MailSink,
) -> None:
    create_secrets(cluster, namespace, postgres.url, smtp.port)
    cluster.create_rs(namespace, report_schedule(
        "broken", notifications={"pauseAfterFailures": 2},
        datasets=[{"name": "main", "query": "SELECT * FROM no_such_table"}]))
    wait_for(lambda: _condition_is(cluster, namespace, "broken", "Ready"), "Ready=True")

    last = run_now(cluster, namespace, "broken", "f1")["lastRun"]
    assert last["result"] == "Failed"
    obj = wait_for(lambda: _condition_is(cluster, namespace, "broken", "Ready"), "Ready=True")
    assert obj["status"]["lastRun"]["runId"] == last["runId"]
    # A failed run is not a failed reconcile: kstatus (Flux, kpt) reads the object as Current.
    assert kstatus(obj)[0] == "Current"
    health, why = _state("degraded-last-run-failed", obj)
    assert health == "Degraded"
    assert why == f"Last run {last['runId']} Failed: {last['message'].splitlines()[0]}"
    assert "no_such_table" in why

    assert run_now(cluster, namespace, "broken", "f2")["lastRun"]["result"] == "Failed"
    obj = wait_for(lambda: _condition_is(cluster, namespace, "broken", "Paused"), "Paused=True",
                   explain=lambda: cluster.diagnose(namespace))
    assert kstatus(obj)[0] == "Failed"
    health, why = _state("degraded-paused", obj)
    assert health == "Degraded" and why.startswith("Paused: 2 runs failed in a row")


def test_a_partially_delivered_run_is_degraded(
    cluster: Cluster, operator: OperatorProcess, namespace: str, postgres: Postgres,
    smtp: MailSink,
) -> None:
    create_secrets(cluster, namespace, postgres.url, smtp.port)
    smtp.reject["nobody@example.com"] = "550 no such user"
    delivery = {"email": {"smtpSecretRef": {"name": "smtp"},
                          "to": ["team@example.com", "nobody@example.com"]}}
    cluster.create_rs(namespace, report_schedule("halfway", delivery=delivery))
    last = run_now(cluster, namespace, "halfway", "p1")["lastRun"]
    assert last["result"] == "PartiallyDelivered", last
    obj = wait_for(lambda: _condition_is(cluster, namespace, "halfway", "Ready"), "Ready=True")
    assert kstatus(obj)[0] == "Current"
    health, why = _state("degraded-partially-delivered", obj)
    assert health == "Degraded"
    assert why.startswith(f"Last run {last['runId']} PartiallyDelivered")


def test_a_skipped_run_is_healthy(
    cluster: Cluster, operator: OperatorProcess, namespace: str, postgres: Postgres,
    smtp: MailSink,
) -> None:
    create_secrets(cluster, namespace, postgres.url, smtp.port)
    cluster.create_rs(namespace, report_schedule(
        "quiet", datasets=[{"name": "main", "query": "SELECT 1 AS one WHERE false"}],
        gates={"skipIfEmpty": True}))
    assert run_now(cluster, namespace, "quiet", "s1")["lastRun"]["result"] == "Skipped"
    obj = wait_for(lambda: _condition_is(cluster, namespace, "quiet", "Ready"), "Ready=True")
    # The data gates skipped delivery as the spec asks: nothing failed.
    assert kstatus(obj)[0] == "Current"
    assert _state("healthy-last-run-skipped", obj) == (
        "Healthy", condition(obj, "Ready")["message"])
