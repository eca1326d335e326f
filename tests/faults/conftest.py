"""Fixtures of the fault tests: the control plane to break, a webhook receiver, pod logs."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from devstack.webhooks import WebhookServer
from localkube.controlplane import ControlPlane
from support import Cluster


@pytest.fixture
def plane(cluster: Cluster) -> ControlPlane:
    """The session's control plane (``plane.down("kube-apiserver")``, ``plane.restart``)."""
    cp: ControlPlane = cluster.node.cp
    return cp


@pytest.fixture
def receiver() -> Iterator[WebhookServer]:
    server = WebhookServer().start()
    yield server
    server.stop()


@pytest.fixture
def pod_logs(cluster: Cluster, namespace: str) -> Callable[[], str]:
    """Every container log of the namespace, read on the node (works while the API is down)."""
    def read() -> str:
        logs = sorted(cluster.node.layout.pod_logs_dir.glob(f"{namespace}_*/*/*.log"))
        return "".join(path.read_text(errors="replace") for path in logs)

    return read
