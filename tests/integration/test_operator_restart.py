"""A restarted operator checks every schedule against one snapshot of what the schedules own:
an unchanged schedule is not resumed one by one (and nothing of it is written), and what
changed while the operator was down is repaired by kopf's resume as before."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from devstack.operatorproc import OperatorProcess, local_env
from localkube.kube import KubeClient, ns_path
from support import Cluster, condition, create_secrets, report_schedule, wait_for

pytestmark = pytest.mark.own_operator

# Once a year, in the month six months from now: nextRunTime (and with it status) does not
# move during the test, whatever today's date.
MONTH = (datetime.now(UTC).month + 5) % 12 + 1
YEARLY = {"cron": f"0 9 1 {MONTH} *", "timeZone": "UTC"}
EDITED = f"0 10 1 {MONTH} *"
OWNED = {"serviceaccounts": "", "roles": "rbac.authorization.k8s.io",
         "rolebindings": "rbac.authorization.k8s.io", "cronjobs": "batch"}
G, V, P = "bulletin.dev", "v1alpha1", "reportschedules"


def _owned(kube: KubeClient, namespace: str, uid: str) -> dict[str, dict[str, Any]]:
    """What the schedule ``uid`` controls, by "<plural>/<name>"."""
    found = {}
    for plural, group in OWNED.items():
        for obj in kube.get(ns_path(namespace, plural, group=group))["items"]:
            if any(r.get("controller") and r.get("uid") == uid
                   for r in obj["metadata"].get("ownerReferences") or []):
                found[f"{plural}/{obj['metadata']['name']}"] = obj
    return found


def _ready(kube: KubeClient, namespace: str, name: str) -> dict[str, Any] | None:
    obj = kube.get(ns_path(namespace, P, name, group=G, version=V))
    ready = condition(obj, "Ready").get("status") == "True"
    current = obj.get("status", {}).get("observedGeneration") == obj["metadata"]["generation"]
    return obj if ready and current else None


def _readiness(kube: KubeClient, namespace: str, name: str
               ) -> Callable[[], dict[str, Any] | None]:
    return lambda: _ready(kube, namespace, name)


def test_a_restart_repairs_what_changed_while_down_and_writes_nothing_else(
    cluster: Cluster, namespace: str, runner_image: str, tmp_path: Path,
) -> None:
    create_secrets(cluster, namespace, "postgresql://db.invalid/reports", 25)
    kube = KubeClient.from_kubeconfig(cluster.kubeconfig, timeout=60)
    names = ("kept", "lost", "edited")

    def start(log: str) -> OperatorProcess:
        return OperatorProcess(cluster.kubeconfig, tmp_path / log,
                               scope=[f"--namespace={namespace}"],
                               env=local_env(runner_image)).start()

    proc = start("first.log")
    try:
        for name in names:
            cluster.create_rs(namespace, report_schedule(name, schedule=YEARLY))
        ready = {name: wait_for(_readiness(kube, namespace, name), f"{name} Ready")
                 for name in names}
    finally:
        proc.stop()
    uids = {name: obj["metadata"]["uid"] for name, obj in ready.items()}
    kept_before = _owned(kube, namespace, uids["kept"])
    assert len(kept_before) == 4, sorted(kept_before)
    [lost_cronjob] = [key for key in _owned(kube, namespace, uids["lost"])
                      if key.startswith("cronjobs/")]
    kube.delete(ns_path(namespace, "cronjobs", lost_cronjob.partition("/")[2], group="batch"))
    kube.patch(ns_path(namespace, P, "edited", group=G, version=V),
               {"spec": {"schedule": {"cron": EDITED}}}, patch_type="merge")

    proc = start("second.log")
    try:
        wait_for(lambda: lost_cronjob in _owned(kube, namespace, uids["lost"]),
                 "the deleted CronJob made again")
        edited = wait_for(lambda: _ready(kube, namespace, "edited"), "edited Ready again")
        assert edited["status"]["schedule"] == EDITED
        log = proc.log.read_text()
        assert "startup: 1 of 3 schedules up to date; 2 resume one by one" in log, log[-3000:]
        kept_after = _owned(kube, namespace, uids["kept"])
        kept = kube.get(ns_path(namespace, P, "kept", group=G, version=V))
    finally:
        proc.stop()
    assert {k: o["metadata"]["resourceVersion"] for k, o in kept_after.items()} == \
        {k: o["metadata"]["resourceVersion"] for k, o in kept_before.items()}
    assert kept["metadata"]["resourceVersion"] == ready["kept"]["metadata"]["resourceVersion"], \
        "no status write for a schedule that was up to date"
