"""The operator on a real control plane: CronJob lifecycle, Ready/Stalled, owner GC."""

from __future__ import annotations

from typing import Any

from devstack.operatorproc import OperatorProcess
from support import Cluster, condition, event_messages, report_schedule, wait_for


def _ready(cluster: Cluster, namespace: str, name: str, generation: int | None = None) -> bool:
    obj = cluster.get_rs(namespace, name)
    cond = condition(obj, "Ready")
    status = obj.get("status") or {}
    want = generation or obj["metadata"]["generation"]
    return bool(cond and cond["status"] == "True" and status.get("observedGeneration") == want)


def test_cronjob_follows_the_schedule(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.create_rs(namespace, report_schedule("weekly"))
    cj = wait_for(lambda: cluster.cronjob(namespace, "weekly"), "CronJob")
    assert cj.spec.schedule == "0 9 * * MON"
    assert cj.spec.time_zone == "Europe/Berlin"
    assert cj.spec.suspend is False
    assert cj.spec.concurrency_policy == "Forbid"
    owner = cj.metadata.owner_references[0]
    assert (owner.kind, owner.name, owner.controller) == ("ReportSchedule", "weekly", True)
    wait_for(lambda: _ready(cluster, namespace, "weekly"), "Ready=True")
    status = cluster.get_rs(namespace, "weekly")["status"]
    assert status["nextRunTime"].endswith("Z")
    assert status["schedule"] == "0 9 * * MON"
    assert condition(cluster.get_rs(namespace, "weekly"), "Stalled")["status"] == "False"

    # A spec change updates the CronJob and observedGeneration.
    cluster.patch_rs(namespace, "weekly", {"spec": {"schedule": {"cron": "30 7 * * *"}}})
    wait_for(lambda: cluster.cronjob(namespace, "weekly").spec.schedule == "30 7 * * *",
             "CronJob schedule update")
    wait_for(lambda: _ready(cluster, namespace, "weekly", generation=2), "generation 2 observed")

    # suspend: true suspends the CronJob.
    cluster.patch_rs(namespace, "weekly", {"spec": {"suspend": True}})
    wait_for(lambda: cluster.cronjob(namespace, "weekly").spec.suspend is True, "suspended")

    # kubectl wait works on the Ready condition.
    cluster.kubectl("wait", "-n", namespace, "--for=condition=Ready", "--timeout=30s",
                    "reportschedule/weekly")

    # Deleting the ReportSchedule garbage-collects the CronJob and the runner's account.
    cluster.custom.delete_namespaced_custom_object("bulletin.dev", "v1alpha1", namespace,
                                                   "reportschedules", "weekly")
    wait_for(lambda: cluster.cronjob(namespace, "weekly") is None, "CronJob GC", timeout=90)
    wait_for(lambda: not cluster.core.list_namespaced_service_account(
        namespace, label_selector="bulletin.dev/schedule=weekly").items, "ServiceAccount GC")


def test_operator_never_writes_spec(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.create_rs(namespace, report_schedule("gitops"))
    wait_for(lambda: _ready(cluster, namespace, "gitops"), "Ready=True")
    obj = cluster.get_rs(namespace, "gitops")
    managers = {m["manager"]: m for m in obj["metadata"]["managedFields"]}
    for name, entry in managers.items():
        if name.startswith("kopf") or "bulletin" in name:
            assert "f:spec" not in entry.get("fieldsV1", {}), f"{name} wrote spec"
    assert obj["metadata"]["generation"] == 1


def test_invalid_zone_is_stalled_and_leaves_no_cronjob(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.create_rs(namespace, report_schedule("zoned"))
    wait_for(lambda: cluster.cronjob(namespace, "zoned"), "CronJob")
    cluster.patch_rs(namespace, "zoned", {"spec": {"schedule": {"timeZone": "Mars/Olympus"}}})

    def stalled() -> dict[str, Any] | None:
        cond = condition(cluster.get_rs(namespace, "zoned"), "Stalled")
        return cond if cond and cond["status"] == "True" else None

    cond = wait_for(stalled, "Stalled=True")
    assert "spec.schedule.timeZone" in cond["message"]
    assert "Mars/Olympus" in cond["message"]
    assert cond["observedGeneration"] == 2
    assert condition(cluster.get_rs(namespace, "zoned"), "Ready")["status"] == "False"
    wait_for(lambda: cluster.cronjob(namespace, "zoned") is None, "CronJob removed")
    assert event_messages(cluster, namespace, "InvalidSpec",
                          lambda e: "Mars/Olympus" in (e.message or ""))
