"""Two operator replicas elect one on a Lease: SIGKILL the leader, and the standby reconciles a
change within 30 s (the issue's bound), with no duplicate writes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import images
import pytest
from bulletin_operator.builders import run_now_job_name
from devstack.install import helm_install
from devstack.mailsink import MailSink
from devstack.operatorproc import OperatorProcess, local_env
from devstack.postgres import Postgres
from helmchart import helm
from kubernetes import client, watch
from support import Cluster, create_secrets, report_schedule, wait_for

pytestmark = pytest.mark.faults
HANDOVER_BOUND = 30.0


@pytest.fixture
def replicas(cluster: Cluster, operator: OperatorProcess, namespace: str, runner_image: str,
             tmp_path: Path) -> Iterator[list[OperatorProcess]]:
    """Two replicas for this namespace, electing on a Lease there; the session's operator
    (which would act on every namespace) is stopped meanwhile."""
    operator.stop()
    env = {**local_env(runner_image), "BULLETIN_LEADER_ELECTION": f"{namespace}/bulletin-operator"}
    procs = [OperatorProcess(cluster.kubeconfig, tmp_path / f"operator-{i}.log", env=env,
                             scope=[f"--namespace={namespace}"]) for i in range(2)]
    try:
        for proc in procs:
            proc.start()
        yield procs
    finally:
        for proc in procs:
            proc.stop()
        operator.start()


def _leader(cluster: Cluster, namespace: str, procs: list[OperatorProcess]) -> OperatorProcess:
    lease = client.CoordinationV1Api(cluster.api).read_namespaced_lease(
        "bulletin-operator", namespace)
    pid = int(lease.spec.holder_identity.split("_")[1])  # <host>_<pid>_<random>
    return next(p for p in procs if p.proc is not None and p.proc.pid == pid)


def test_the_standby_takes_over_within_30s(
    cluster: Cluster, replicas: list[OperatorProcess], namespace: str, postgres: Postgres,
    smtp: MailSink,
) -> None:
    create_secrets(cluster, namespace, postgres.url, smtp.port)
    cluster.create_rs(namespace, report_schedule("r"))
    cronjob = wait_for(lambda: cluster.cronjob(namespace, "r"), "the CronJob")
    leader = wait_for(lambda: _leader(cluster, namespace, replicas), "a leader")
    [standby] = [p for p in replicas if p is not leader]
    assert "Handler" not in standby.log.read_text()  # a standby does nothing

    assert leader.proc is not None
    leader.proc.kill()
    killed = time.monotonic()
    cluster.patch_rs(namespace, "r", {"spec": {"schedule": {"cron": "30 7 * * *"}},
                                      "metadata": {"annotations": {
                                          "bulletin.dev/run-requested-at": "after"}}})
    wait_for(lambda: cluster.cronjob(namespace, "r").spec.schedule == "30 7 * * *",
             "the standby to reconcile the change", timeout=HANDOVER_BOUND - (
                 time.monotonic() - killed), explain=lambda: standby.log.read_text()[-3000:])
    run_id = run_now_job_name("r", "after")
    wait_for(lambda: [j.metadata.name for j in cluster.batch.list_namespaced_job(
        namespace).items] == [run_id], "one Job for the run-now token")
    # One write of the CronJob for one spec change: replay its changes since before the kill.
    changes = watch.Watch().stream(cluster.batch.list_namespaced_cron_job, namespace,
                                   resource_version=cronjob.metadata.resource_version,
                                   timeout_seconds=1)
    assert [e["type"] for e in changes] == ["MODIFIED"]


@pytest.fixture
def two_replicas(cluster: Cluster, namespace: str) -> Iterator[str]:
    """The chart with replicas=2 from our operator image, watching only ``namespace``."""
    release = "ha"
    ops = f"{namespace}-ops"
    built = images.build()
    helm_install(cluster.kubeconfig, release, ops, built["operator"].name, built["runner"].name,
                 "--set", "replicas=2", "--set", f"watchNamespaces={{{namespace}}}")
    yield ops
    helm("uninstall", release, "--kubeconfig", str(cluster.kubeconfig), "--namespace", ops,
         "--wait", "--timeout", "120s", check=False)
    cluster.kubectl("delete", "namespace", ops, "--wait=false", check=False)


def test_the_chart_runs_two_replicas_that_elect_one(cluster: Cluster, two_replicas: str) -> None:
    pods = {p.metadata.name for p in cluster.core.list_namespaced_pod(two_replicas).items}
    assert len(pods) == 2

    def holder() -> str:
        lease = client.CoordinationV1Api(cluster.api).read_namespaced_lease(
            "ha-operator", two_replicas)
        return str(lease.spec.holder_identity).split("_")[0]  # <pod>_<pid>_<random>

    leader = wait_for(lambda: holder() if holder() in pods else None, "a pod holding the Lease")
    cluster.kill(two_replicas, leader)  # SIGKILL its container
    wait_for(lambda: holder() == (pods - {leader}).pop(), "the other pod to take over",
             timeout=HANDOVER_BOUND)
