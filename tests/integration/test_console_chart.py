"""The chart's console on the real node: `helm install` with console.enabled runs the runner
image's bulletin-console as a pod; with auth token (it holds no credential) a user's bearer
token lists what that user may read, and nothing without one; `helm upgrade` to auth header
makes the pod's impersonate-only ServiceAccount act as the user a proxy names."""

from __future__ import annotations

import http.client
import uuid
from collections.abc import Iterator

import images
import pytest
from devstack.install import helm_install
from helmchart import helm
from kubernetes import client
from support import Cluster, report_schedule, wait_for

pytestmark = pytest.mark.own_operator
RBAC = "rbac.authorization.k8s.io"


@pytest.fixture
def release(cluster: Cluster, namespace: str) -> Iterator[str]:
    name = f"c{uuid.uuid4().hex[:6]}"
    built = images.build()
    helm_install(cluster.kubeconfig, name, f"{name}-system", built["operator"].name,
                 built["runner"].name, "--set", "console.enabled=true",
                 "--set", f"console.namespaces={{{namespace}}}")
    yield name
    helm("uninstall", name, "--kubeconfig", str(cluster.kubeconfig), "--namespace",
         f"{name}-system", "--wait", "--timeout", "120s", check=False)
    cluster.kubectl("delete", "namespace", f"{name}-system", "--wait=false", check=False)


def _pod_ip(cluster: Cluster, ops: str, auth: str) -> str:
    """The IP of the console pod that runs with ``auth`` and is Ready."""
    def ready() -> str | None:
        for pod in cluster.core.list_namespaced_pod(
                ops, label_selector="app.kubernetes.io/component=console").items:
            command = pod.spec.containers[0].command
            conditions = {c.type: c.status for c in pod.status.conditions or []}
            if (f"--auth={auth}" in command and conditions.get("Ready") == "True"
                    and pod.metadata.deletion_timestamp is None):
                return str(pod.status.pod_ip)
        return None

    return wait_for(ready, f"a Ready console pod with auth {auth}", timeout=180)


def _get(ip: str, path: str, headers: dict[str, str]) -> tuple[int, str]:
    conn = http.client.HTTPConnection(ip, 8080, timeout=30)
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    body = response.read().decode()
    conn.close()
    return response.status, body


def _bind(cluster: Cluster, namespace: str, subject: client.RbacV1Subject) -> None:
    rbac = client.RbacAuthorizationV1Api(cluster.api)
    rbac.create_namespaced_role(namespace, client.V1Role(
        metadata=client.V1ObjectMeta(name="readers"), rules=[client.V1PolicyRule(
            api_groups=["bulletin.dev"], resources=["reportschedules"], verbs=["get", "list"])]))
    rbac.create_namespaced_role_binding(namespace, client.V1RoleBinding(
        metadata=client.V1ObjectMeta(name="readers"),
        role_ref=client.V1RoleRef(api_group=RBAC, kind="Role", name="readers"),
        subjects=[subject, client.RbacV1Subject(kind="Group", name="readers", api_group=RBAC)]))


def test_the_charted_console_acts_as_each_user(
    cluster: Cluster, namespace: str, release: str
) -> None:
    ops = f"{release}-system"
    pod = cluster.core.list_namespaced_pod(
        ops, label_selector="app.kubernetes.io/component=console").items[0]
    assert pod.spec.service_account_name == f"{release}-console"
    assert pod.spec.automount_service_account_token is False
    cluster.core.create_namespaced_service_account(namespace, client.V1ServiceAccount(
        metadata=client.V1ObjectMeta(name="reader")))
    _bind(cluster, namespace, client.RbacV1Subject(kind="ServiceAccount", name="reader",
                                                   namespace=namespace))
    cluster.create_rs(namespace, report_schedule("charted-report"))
    token = cluster.core.create_namespaced_service_account_token(
        "reader", namespace, client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=600))).status.token

    ip = _pod_ip(cluster, ops, "token")
    assert _get(ip, "/healthz", {}) == (200, "ok")
    status, _ = _get(ip, "/", {})
    assert status == 303  # to the sign-in form
    status, body = _get(ip, f"/?namespace={namespace}", {"Authorization": f"Bearer {token}"})
    assert status == 200, body
    assert f'href="/s/{namespace}/charted-report"' in body
    assert f"system:serviceaccount:{namespace}:reader" in body
    status, body = _get(ip, "/", {"Authorization": "Bearer not-a-token"})
    assert status == 401, body

    built = images.build()
    helm_install(cluster.kubeconfig, release, ops, built["operator"].name, built["runner"].name,
                 "--set", "console.enabled=true", "--set", "console.auth=header",
                 "--set", f"console.namespaces={{{namespace}}}", command="upgrade")
    ip = _pod_ip(cluster, ops, "header")
    status, body = _get(ip, "/", {"X-Forwarded-User": "carol", "X-Forwarded-Groups": "readers"})
    assert status == 200, body
    assert f'href="/s/{namespace}/charted-report"' in body and "carol" in body
    status, body = _get(ip, "/", {"X-Forwarded-User": "mallory"})
    assert status == 200 and "charted-report" not in body  # no Role: sees nothing
    assert f"You may not list schedules in: {namespace}." in body
