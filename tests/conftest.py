"""Session fixtures: a real control plane with the pod executor, the CRD, the operator, PostgreSQL
and an SMTP server. Each test gets a fresh namespace."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from devstack.mailsink import MailSink
from devstack.operatorproc import OperatorProcess
from devstack.postgres import Postgres
from devstack.s3 import S3Server
from kubernetes import client, config
from support import Cluster, wait_for

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """The local control plane and pod executor, with the CRD installed."""
    from localkube.controlplane import ControlPlane
    from localkube.executor import PodExecutor

    work = tmp_path_factory.mktemp("localkube")
    plane = ControlPlane(work)
    plane.start()
    executor = PodExecutor(plane.kubeconfig, work / "executor")
    executor.start()
    try:
        api = config.new_client_from_config(config_file=str(plane.kubeconfig))
        found = Cluster(plane.kubeconfig, plane.bin_dir / "kubectl", api, executor, work)
        found.kubectl("apply", "--server-side", "-f", str(ROOT / "crds"))
        found.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                      "crd/reportschedules.bulletin.dev")
        yield found
    finally:
        executor.stop()
        plane.stop()


@pytest.fixture(scope="session")
def operator(cluster: Cluster) -> Iterator[OperatorProcess]:
    """The operator, running as its own process against the control plane."""
    proc = OperatorProcess(cluster.kubeconfig, cluster.workdir / "operator.log",
                           env={"BULLETIN_RUNNER_IMAGE": "bulletin-runner:test",
                                # the test servers listen on loopback and the node address
                                "BULLETIN_ALLOW_PRIVATE_NETWORKS": "127.0.0.0/8,10.0.0.0/8"})
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    """A fresh namespace, deleted after the test."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    core = client.CoreV1Api(cluster.api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    wait_for(lambda: _default_sa(core, name), "default ServiceAccount", timeout=30)
    yield name
    core.delete_namespace(name)


def _default_sa(core: client.CoreV1Api, namespace: str) -> bool:
    return any(sa.metadata.name == "default"
               for sa in core.list_namespaced_service_account(namespace).items)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A real PostgreSQL server for the session (outside pytest's private tmp: when root,
    the server runs as the `postgres` user, which must be able to reach its directory)."""
    root = Path(tempfile.mkdtemp(prefix="bulletin-pg-"))
    root.chmod(0o755)
    server = Postgres(root / "cluster").start()
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One real S3-compatible server (Versity Gateway) for the session; tests make buckets."""
    server = S3Server(tmp_path_factory.mktemp("s3")).start()
    yield server
    server.stop()


@pytest.fixture
def smtp() -> Iterator[MailSink]:
    """A real SMTP server (aiosmtpd) that keeps what it receives."""
    sink = MailSink().start()
    yield sink
    sink.stop()


@pytest.fixture(autouse=True)
def _no_host_kubeconfig(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests talk to the local control plane only, never to a kubeconfig of the host."""
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    if "KUBECONFIG" in os.environ:
        monkeypatch.delenv("KUBECONFIG")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Unit tests first: they fail fast, before the control plane starts."""
    items.sort(key=lambda item: "integration" in str(item.fspath))
