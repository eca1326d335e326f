"""Two operator replicas elect one on a Lease: SIGKILL the leader, and the standby reconciles a
change within 30 s (the issue's bound), with no duplicate writes."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from bulletin_operator.builders import run_now_job_name
from devstack.mailsink import MailSink
from devstack.operatorproc import OperatorProcess
from devstack.ports import HOST
from devstack.postgres import Postgres
from kubernetes import watch
from support import Cluster, create_secrets, report_schedule, wait_for

pytestmark = pytest.mark.faults
HANDOVER_BOUND = 30.0


@pytest.fixture
def replicas(cluster: Cluster, operator: OperatorProcess, namespace: str, runner_image: str,
             tmp_path: Path) -> Iterator[list[OperatorProcess]]:
    """Two replicas for this namespace, electing on a Lease there; the session's operator
    (which would act on every namespace) is stopped meanwhile."""
    operator.stop()
    env = {"BULLETIN_RUNNER_IMAGE": runner_image, "BULLETIN_RUNNER_PULL_POLICY": "Never",
           "BULLETIN_ALLOW_PRIVATE_NETWORKS": f"{HOST}/32",
           "BULLETIN_LEADER_ELECTION": f"{namespace}/bulletin-operator"}
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
    from kubernetes import client

    lease = client.CoordinationV1Api(cluster.api).read_namespaced_lease(
        "bulletin-operator", namespace)
    pid = int(lease.spec.holder_identity.rsplit("-", 1)[1])
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

    writes: list[str] = []
    stream = watch.Watch()
    threading.Thread(target=lambda: writes.extend(
        e["type"] for e in stream.stream(cluster.batch.list_namespaced_cron_job, namespace,
                                         resource_version=cronjob.metadata.resource_version,
                                         timeout_seconds=120)), daemon=True).start()
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
    stream.stop()
    assert writes == ["MODIFIED"]  # one write of the CronJob for one spec change
