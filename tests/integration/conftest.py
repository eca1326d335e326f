"""Fixtures the console's cluster tests share: a second team's namespace, and the hosted
console's ServiceAccount, which may impersonate and nothing else (the chart's ClusterRole)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client
from support import Cluster, service_account_client

RBAC = "rbac.authorization.k8s.io"


@pytest.fixture
def second_namespace(cluster: Cluster) -> Iterator[str]:
    """Another team's namespace, removed after the test."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    cluster.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    cluster.core.delete_namespace(name)


@pytest.fixture
def impersonator(cluster: Cluster, namespace: str) -> Iterator[client.ApiClient]:
    """The console's ServiceAccount with the chart's ClusterRole: impersonate, nothing else."""
    rbac = client.RbacAuthorizationV1Api(cluster.api)
    name = f"bulletin-console-{namespace}"
    cluster.core.create_namespaced_service_account(namespace, client.V1ServiceAccount(
        metadata=client.V1ObjectMeta(name="console")))
    rbac.create_cluster_role(client.V1ClusterRole(
        metadata=client.V1ObjectMeta(name=name), rules=[client.V1PolicyRule(
            api_groups=[""], resources=["users", "groups"], verbs=["impersonate"])]))
    rbac.create_cluster_role_binding(client.V1ClusterRoleBinding(
        metadata=client.V1ObjectMeta(name=name),
        role_ref=client.V1RoleRef(api_group=RBAC, kind="ClusterRole", name=name),
        subjects=[client.RbacV1Subject(kind="ServiceAccount", name="console",
                                       namespace=namespace)]))
    yield service_account_client(cluster, namespace, "console")
    rbac.delete_cluster_role_binding(name)
    rbac.delete_cluster_role(name)
