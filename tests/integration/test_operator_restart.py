"""A restarted operator checks every schedule against one snapshot of what the schedules own:
an unchanged schedule is not resumed one by one (and nothing of it is written), a schedule
Stalled for its generation is neither retried nor announced again, and what changed while the
operator was down is repaired by kopf's resume as before."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from devstack.operatorproc import OperatorProcess, local_env
from localkube.kube import KubeClient, ns_path
from support import Cluster, condition, create_secrets, report_schedule, wait_for

# Stalled schedules: the API server refuses the CronJob (requests above limits), and a Secret
# its owner has not opened to reports.
TOO_BIG = {"requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}}
STALLED: dict[str, tuple[dict[str, Any], str]] = {
    "refused": ({"runner": {"resources": TOO_BIG}}, "Rejected"),
    "unopened": ({"source": {"connectionSecretRef": {"name": "closed", "key": "url"}}},
                 "ReferenceNotUsable")}

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


def _stalled(kube: KubeClient, namespace: str, name: str, reason: str
             ) -> Callable[[], dict[str, Any] | None]:
    def stalled() -> dict[str, Any] | None:
        obj = kube.get(ns_path(namespace, P, name, group=G, version=V))
        cond = condition(obj, "Stalled")
        return obj if cond.get("status") == "True" and cond.get("reason") == reason else None
    return stalled


def _warnings(cluster: Cluster, namespace: str, names: Iterable[str]) -> dict[str, int] | None:
    """Warning Events per ReportSchedule, counting repeats (Event.count), once each of
    ``names`` has one (else None)."""
    found: dict[str, int] = {}
    for event in cluster.core.list_namespaced_event(namespace).items:
        if event.type == "Warning" and event.involved_object.kind == "ReportSchedule":
            name = event.involved_object.name
            found[name] = found.get(name, 0) + (event.count or 1)
    return found if set(names) <= set(found) else None


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

    cluster.kubectl("create", "secret", "generic", "closed", "-n", namespace,
                    "--from-literal=url=postgresql://db.invalid/x")
    proc = start("first.log")
    try:
        for name in names:
            cluster.create_rs(namespace, report_schedule(name, schedule=YEARLY))
        for name, (spec, _reason) in STALLED.items():
            cluster.create_rs(namespace, report_schedule(name, schedule=YEARLY, **spec))
        ready = {name: wait_for(_readiness(kube, namespace, name), f"{name} Ready")
                 for name in names}
        stalled = {name: wait_for(_stalled(kube, namespace, name, reason), f"{name} Stalled")
                   for name, (_spec, reason) in STALLED.items()}
        warnings = wait_for(lambda: _warnings(cluster, namespace, STALLED),
                            "the Stalled schedules' Warning Events")
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
        assert "startup: 3 of 5 schedules up to date; 2 resume one by one" in log, log[-3000:]
        kept_after = _owned(kube, namespace, uids["kept"])
        kept = kube.get(ns_path(namespace, P, "kept", group=G, version=V))
        still = {name: kube.get(ns_path(namespace, P, name, group=G, version=V))
                 for name in STALLED}
        warnings_after = _warnings(cluster, namespace, STALLED)
    finally:
        proc.stop()
    for name, obj in still.items():
        assert obj["metadata"]["resourceVersion"] == \
            stalled[name]["metadata"]["resourceVersion"], f"{name}: status written again"
    assert warnings_after == warnings, "a Stalled schedule was announced again"
    assert "was refused by the API server" not in log, "the refused CronJob was tried again"
    assert {k: o["metadata"]["resourceVersion"] for k, o in kept_after.items()} == \
        {k: o["metadata"]["resourceVersion"] for k, o in kept_before.items()}
    assert kept["metadata"]["resourceVersion"] == ready["kept"]["metadata"]["resourceVersion"], \
        "no status write for a schedule that was up to date"
