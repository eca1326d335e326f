"""Session fixtures: a real control plane with a real node (kubelet, containerd, runc) running our
own images, the CRD, the operator, PostgreSQL and an SMTP server. Each test gets a fresh
namespace. Integration tests run inside the harness's network namespace (`make test` enters it),
where the API server, the node, the pods and the test servers meet."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from devstack.mailsink import MailSink
from devstack.mariadb import MariaDB
from devstack.operatorproc import OperatorProcess, local_env
from devstack.postgres import Postgres
from devstack.prometheus import Prometheus, queue_depths
from devstack.s3 import EncryptingS3Server, S3Server
from kubernetes import client, config
from support import Cluster, wait_for

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def runner_image() -> str:
    """The runner image built from this checkout (content-tagged: a change gets a new name)."""
    import images

    return images.runner().name


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory, runner_image: str) -> Iterator[Cluster]:
    """The local control plane and its node, with our images imported and the CRD installed."""
    import images
    from localkube import netns
    from localkube.node import local_cluster

    try:
        netns.current()
    except netns.NetNSError:
        pytest.fail("integration tests run inside the harness's network namespace: use"
                    " `make test`, or `python -m localkube.netns run -- python -m pytest`")
    work = tmp_path_factory.mktemp("localkube")
    with local_cluster(work) as (plane, node):
        for image in images.build().values():
            node.import_image(image.archive)
        api = config.new_client_from_config(config_file=str(plane.kubeconfig))
        found = Cluster(plane.kubeconfig, plane.bin_dir / "kubectl", api, node, work)
        found.kubectl("apply", "--server-side", "-f", str(ROOT / "crds"))
        found.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                      "crd/reportschedules.bulletin.dev", "crd/reportcalendars.bulletin.dev")
        yield found


@pytest.fixture(scope="session")
def operator(cluster: Cluster, runner_image: str) -> Iterator[OperatorProcess]:
    """The operator, running as its own process against the control plane."""
    proc = OperatorProcess(cluster.kubeconfig, cluster.workdir / "operator.log",
                           env=local_env(runner_image))
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
    # after a control-plane fault test etcd may still be settling: a 5xx here is retried
    wait_for(lambda: _delete(core, name), f"deleting namespace {name}", timeout=120)


def _delete(core: client.CoreV1Api, name: str) -> bool:
    try:
        core.delete_namespace(name)
    except client.ApiException as exc:
        if exc.status not in (404, 409):  # gone, or already terminating: a lost answer's retry
            raise
    return True


def _default_sa(core: client.CoreV1Api, namespace: str) -> bool:
    return any(sa.metadata.name == "default"
               for sa in core.list_namespaced_service_account(namespace).items)


def _reachable_dir(prefix: str) -> Path:
    """A new directory outside pytest's private tmp that a database's own user can reach."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o755)
    return root


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A real PostgreSQL server for the session (outside pytest's private tmp: when root,
    the server runs as the `postgres` user, which must be able to reach its directory)."""
    root = _reachable_dir("bulletin-pg-")
    server = Postgres(root / "cluster").start()
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def mariadb() -> Iterator[MariaDB]:
    """A real MariaDB server for the session (its directory reachable by the `mysql` user)."""
    root = _reachable_dir("bulletin-maria-")
    server = MariaDB(root / "server").start()
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    """A real Prometheus server for the session, serving the recorded queue_depths()."""
    server = Prometheus(tmp_path_factory.mktemp("prometheus")).start(queue_depths())
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One real S3-compatible server (Versity Gateway) for the session; tests make buckets."""
    server = S3Server(tmp_path_factory.mktemp("s3")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_sse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EncryptingS3Server]:
    """A real S3-compatible server that encrypts objects (MinIO with a static KMS key)."""
    server = EncryptingS3Server(tmp_path_factory.mktemp("s3sse")).start()
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
    """Unit tests first: they fail fast, before the control plane starts. Then the tests that
    run an operator of their own (the chart's), before the session's operator starts: two
    operators would both act on every namespace."""
    def order(item: pytest.Item) -> int:
        if "integration" not in str(item.fspath) and "faults" not in str(item.fspath):
            return 0
        return 1 if item.get_closest_marker("own_operator") else 2

    items.sort(key=order)
