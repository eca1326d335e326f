"""The chart's run archive on the real node: `helm install` with archive.enabled mounts the
platform team's Secret into the operator and the console (our images); the charted operator
writes a run to the suite's PostgreSQL, and the charted console (auth header) shows it on the
schedule's history to a user who may get the schedule, and to nobody else. The operator's log
never holds the URL's password."""

from __future__ import annotations

import http.client
import uuid

import images
import pytest
from bulletin.archive.store import Archive
from devstack.install import helm_install
from devstack.mailsink import MailSink
from devstack.postgres import Postgres
from helmchart import helm
from kubernetes import client
from support import Cluster, create_secrets, report_schedule, run_now, wait_for

pytestmark = pytest.mark.own_operator
RBAC = "rbac.authorization.k8s.io"


def _get(ip: str, path: str, headers: dict[str, str]) -> tuple[int, str]:
    conn = http.client.HTTPConnection(ip, 8080, timeout=30)
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    body = response.read().decode()
    conn.close()
    return response.status, body


def _console_ip(cluster: Cluster, ops: str) -> str:
    def ready() -> str | None:
        for pod in cluster.core.list_namespaced_pod(
                ops, label_selector="app.kubernetes.io/component=console").items:
            if {c.type: c.status for c in pod.status.conditions or []}.get("Ready") == "True":
                return str(pod.status.pod_ip)
        return None

    return wait_for(ready, "a Ready console pod", timeout=180)


def _readers(cluster: Cluster, namespace: str) -> None:
    rbac = client.RbacAuthorizationV1Api(cluster.api)
    rbac.create_namespaced_role(namespace, client.V1Role(
        metadata=client.V1ObjectMeta(name="readers"), rules=[client.V1PolicyRule(
            api_groups=["bulletin.dev"], resources=["reportschedules"], verbs=["get", "list"])]))
    rbac.create_namespaced_role_binding(namespace, client.V1RoleBinding(
        metadata=client.V1ObjectMeta(name="readers"),
        role_ref=client.V1RoleRef(api_group=RBAC, kind="Role", name="readers"),
        subjects=[client.RbacV1Subject(kind="Group", name="readers", api_group=RBAC)]))


def test_the_charted_operator_writes_and_the_charted_console_reads(
    cluster: Cluster, namespace: str, postgres: Postgres, smtp: MailSink
) -> None:
    release = f"a{uuid.uuid4().hex[:6]}"
    ops = f"{release}-system"
    cluster.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ops)))
    cluster.core.create_namespaced_secret(ops, client.V1Secret(
        metadata=client.V1ObjectMeta(name="runs-db"), string_data={"url": postgres.url}))
    built = images.build()
    try:
        helm_install(cluster.kubeconfig, release, ops, built["operator"].name,
                     built["runner"].name, "--set", "archive.enabled=true",
                     "--set", "archive.existingSecret=runs-db", "--set", "console.enabled=true",
                     "--set", "console.auth=header",
                     "--set", f"console.namespaces={{{namespace}}}")
        create_secrets(cluster, namespace, postgres.url, smtp.port)
        _readers(cluster, namespace)
        cluster.create_rs(namespace, report_schedule("charted"))
        run_id = run_now(cluster, namespace, "charted", "t1")["lastRun"]["runId"]
        archive = Archive(postgres.url)

        def archived() -> bool:
            found = archive.run(namespace, "charted", run_id)
            return found is not None and found.record.result is not None

        wait_for(archived, "the charted operator to archive the run", timeout=60)
        ip = _console_ip(cluster, ops)
        path = f"/s/{namespace}/charted/history"
        status, body = _get(ip, path, {"X-Forwarded-User": "carol",
                                       "X-Forwarded-Groups": "readers"})
        assert status == 200 and f"/runs/{run_id}" in body, body
        status, body = _get(ip, path, {"X-Forwarded-User": "mallory"})
        assert status == 403 and run_id not in body
        logs = cluster.kubectl("logs", "-n", ops, f"deployment/{release}-operator").stdout
        assert postgres.password not in logs
        archive.engine.dispose()
    finally:
        helm("uninstall", release, "--kubeconfig", str(cluster.kubeconfig), "--namespace", ops,
             "--wait", "--timeout", "120s", check=False)
        cluster.kubectl("delete", "namespace", ops, "--wait=false", check=False)
