"""The runner's ServiceAccount can do exactly what a run needs, with a real token."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from devstack.operatorproc import OperatorProcess
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from support import Cluster, report_schedule, service_account_client, wait_for

G, V, P = "bulletin.dev", "v1alpha1", "reportschedules"


def _status(call: Callable[[], Any]) -> int:
    try:
        call()
    except ApiException as exc:
        return int(exc.status)
    return 200


def test_runner_account_is_least_privilege(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.create_rs(namespace, report_schedule("mine"))
    cluster.create_rs(namespace, report_schedule("other"))
    wait_for(lambda: cluster.core.read_namespaced_service_account("mine-runner", namespace),
             "runner ServiceAccount")
    wait_for(lambda: _rbac_ready(cluster, namespace), "runner RoleBinding")
    sa = service_account_client(cluster, namespace, "mine-runner")
    custom, core, batch = client.CustomObjectsApi(sa), client.CoreV1Api(sa), client.BatchV1Api(sa)
    event = client.CoreV1Event(
        metadata=client.V1ObjectMeta(generate_name="mine."),
        involved_object=client.V1ObjectReference(kind="ReportSchedule", name="mine",
                                                 namespace=namespace),
        reason="Test", message="hello", type="Normal")

    allowed = {
        "get own ReportSchedule": lambda: custom.get_namespaced_custom_object(
            G, V, namespace, P, "mine"),
        "patch own status": lambda: custom.patch_namespaced_custom_object_status(
            G, V, namespace, P, "mine", {"status": {"consecutiveFailures": 0}}),
        "create Event": lambda: core.create_namespaced_event(namespace, event),
    }
    denied = {
        "get another ReportSchedule": lambda: custom.get_namespaced_custom_object(
            G, V, namespace, P, "other"),
        "list ReportSchedules": lambda: custom.list_namespaced_custom_object(G, V, namespace, P),
        "patch own spec": lambda: custom.patch_namespaced_custom_object(
            G, V, namespace, P, "mine", {"spec": {"suspend": True}}),
        "patch another status": lambda: custom.patch_namespaced_custom_object_status(
            G, V, namespace, P, "other", {"status": {"consecutiveFailures": 0}}),
        "read Secrets": lambda: core.list_namespaced_secret(namespace),
        "create Jobs": lambda: batch.create_namespaced_job(namespace, {
            "metadata": {"name": "x"}, "spec": {"template": {"spec": {
                "restartPolicy": "Never", "containers": [{"name": "x", "image": "x"}]}}}}),
        "read pods": lambda: core.list_namespaced_pod(namespace),
    }
    results = {what: _status(call) for what, call in {**allowed, **denied}.items()}
    assert {w: results[w] for w in allowed} == {w: 200 for w in allowed}
    assert {w: results[w] for w in denied} == {w: 403 for w in denied}


def _rbac_ready(cluster: Cluster, namespace: str) -> bool:
    rbac = client.RbacAuthorizationV1Api(cluster.api)
    return bool(rbac.read_namespaced_role_binding("mine-runner", namespace))


