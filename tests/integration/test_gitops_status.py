"""kstatus, as Flux and kpt run it, and Argo CD's health check (docs/argocd/health.lua, run by
gopher-lua) read real ReportSchedules from the cluster in each state, and agree: ready (Current,
Healthy), a spec not yet applied (InProgress, Progressing), an invalid spec or paused (Failed,
Degraded)."""

from __future__ import annotations

from typing import Any

from devstack.mailsink import MailSink
from devstack.operatorproc import OperatorProcess
from devstack.postgres import Postgres
from kstatus_checker import argocd_health, kstatus
from support import Cluster, condition, create_secrets, report_schedule, run_now, wait_for


def _condition_is(cluster: Cluster, namespace: str, name: str, type_: str
                  ) -> dict[str, Any] | None:
    """The object once its ``type_`` condition is True for its current generation."""
    obj = cluster.get_rs(namespace, name)
    cond = condition(obj, type_)
    current = cond.get("observedGeneration") == obj["metadata"]["generation"]
    return obj if cond.get("status") == "True" and current else None


def test_ready_is_current_and_a_newer_generation_in_progress(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.create_rs(namespace, report_schedule("steady"))
    obj = wait_for(lambda: _condition_is(cluster, namespace, "steady", "Ready"), "Ready=True",
                   explain=lambda: cluster.diagnose(namespace))
    assert kstatus(obj) == ("Current", "Resource is Ready")
    assert argocd_health(obj) == ("Healthy", condition(obj, "Ready")["message"])

    # A spec change the operator has not applied yet is too short-lived to catch reliably:
    # the same real object with its generation one ahead stands for it.
    obj["metadata"]["generation"] += 1
    status, message = kstatus(obj)
    assert status == "InProgress"
    assert f"generation is {obj['metadata']['generation']}" in message
    assert argocd_health(obj)[0] == "Progressing"
    obj["metadata"]["generation"] -= 1
    obj["spec"]["suspend"] = True
    assert argocd_health(obj) == ("Suspended", "spec.suspend is true")


def test_invalid_spec_is_failed(
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
    health, why = argocd_health(obj)
    assert health == "Degraded" and "Mars/Olympus" in why


def test_paused_after_failures_is_failed(
    cluster: Cluster, operator: OperatorProcess, namespace: str, postgres: Postgres,
    smtp: MailSink,
) -> None:
    create_secrets(cluster, namespace, postgres.url, smtp.port)
    cluster.create_rs(namespace, report_schedule(
        "broken", notifications={"pauseAfterFailures": 2},
        datasets=[{"name": "main", "query": "SELECT * FROM no_such_table"}]))
    wait_for(lambda: _condition_is(cluster, namespace, "broken", "Ready"), "Ready=True")
    for token in ("f1", "f2"):
        assert run_now(cluster, namespace, "broken", token)["lastRun"]["result"] == "Failed"
    obj = wait_for(lambda: _condition_is(cluster, namespace, "broken", "Paused"), "Paused=True",
                   explain=lambda: cluster.diagnose(namespace))
    assert kstatus(obj)[0] == "Failed"
    health, why = argocd_health(obj)
    assert health == "Degraded" and why.startswith("Paused: 2 runs failed in a row")
