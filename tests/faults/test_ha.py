"""Two operator replicas elect one on a Lease: SIGKILL the leader, and the standby reconciles a
change within 30 s, with no duplicate writes. From the chart: both replicas are Ready and serve
/metrics to a real Prometheus (the standby with bulletin_operator_leader 0); the failover time
(SIGKILL of the leading pod to a newly applied schedule Ready) is printed; a rolling update
hands the Lease over."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import images
import pytest
from bulletin_operator.builders import run_now_job_name
from devstack.install import helm_install
from devstack.mailsink import MailSink
from devstack.operatorproc import OperatorProcess, local_env
from devstack.postgres import Postgres
from devstack.prometheus import Prometheus
from helmchart import helm
from kubernetes import client, watch
from support import Cluster, condition, create_secrets, report_schedule, wait_for

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
def two_replicas(cluster: Cluster, namespace: str, operator: OperatorProcess) -> Iterator[str]:
    """The chart with replicas=2 from our operator image, watching only ``namespace`` (the
    session's operator, which would act there too, is stopped meanwhile)."""
    release = "ha"
    ops = f"{namespace}-ops"
    built = images.build()
    operator.stop()
    try:
        helm_install(cluster.kubeconfig, release, ops, built["operator"].name,
                     built["runner"].name, "--set", "replicas=2",
                     "--set", f"watchNamespaces={{{namespace}}}")
        yield ops
    finally:
        helm("uninstall", release, "--kubeconfig", str(cluster.kubeconfig), "--namespace", ops,
             "--wait", "--timeout", "120s", check=False)
        cluster.kubectl("delete", "namespace", ops, "--wait=false", check=False)
        operator.start()


def _holder(cluster: Cluster, namespace: str) -> tuple[str, datetime | None]:
    """The pod holding the Lease ha-operator, and when it took it."""
    spec = client.CoordinationV1Api(cluster.api).read_namespaced_lease(
        "ha-operator", namespace).spec
    return str(spec.holder_identity).split("_")[0], spec.acquire_time  # <pod>_<pid>_<random>


def _leading_pod(cluster: Cluster, namespace: str, pods: set[str]) -> str | None:
    holder = _holder(cluster, namespace)[0]
    return holder if holder in pods else None


def _ready_pods(cluster: Cluster, namespace: str) -> dict[str, str] | None:
    """Pod name -> IP of the operator pods, once there are two and both are Ready."""
    pods = cluster.core.list_namespaced_pod(namespace).items
    ready = {p.metadata.name: p.status.pod_ip for p in pods if p.metadata.deletion_timestamp
             is None and any(c.type == "Ready" and c.status == "True"
                             for c in p.status.conditions or [])}
    return ready if len(ready) == 2 and len(pods) == 2 else None


def _scalar(prometheus: Prometheus, expr: str) -> float | None:
    found = prometheus.query(expr)
    return float(found[0]["value"][1]) if found else None  # type: ignore[index]


def test_the_chart_runs_two_replicas_that_elect_one(
    cluster: Cluster, two_replicas: str, namespace: str, postgres: Postgres, smtp: MailSink,
    tmp_path: Path,
) -> None:
    pods = wait_for(lambda: _ready_pods(cluster, two_replicas), "two Ready operator pods")
    targets = ", ".join(f"'{ip}:8080'" for ip in pods.values())
    prometheus = Prometheus(tmp_path / "prometheus").start(None, (
        "global: {scrape_interval: 1s, scrape_timeout: 1s}\nscrape_configs:\n"
        f"  - job_name: ha-metrics\n    static_configs: [{{targets: [{targets}]}}]\n"))
    try:
        # Both replicas answer (no `up` of 0 for the standby); exactly one leads.
        wait_for(lambda: _scalar(prometheus, 'sum(up{job="ha-metrics"})') == 2
                 and _scalar(prometheus, "sum(bulletin_operator_leader)") == 1
                 and _scalar(prometheus, "count(bulletin_operator_leader)") == 2,
                 "Prometheus scraping both replicas, one leading")
        leader = wait_for(lambda: _leading_pod(cluster, two_replicas, set(pods)),
                          "a pod holding the Lease")
        create_secrets(cluster, namespace, postgres.url, smtp.port)
        killed_at, killed = datetime.now(UTC), time.monotonic()
        cluster.kill(two_replicas, leader)  # SIGKILL its container
        cluster.create_rs(namespace, report_schedule("after"))
        wait_for(lambda: condition(cluster.get_rs(namespace, "after"), "Ready").get("status")
                 == "True", "the new schedule Ready", timeout=HANDOVER_BOUND)
        ready_after = time.monotonic() - killed
        holder, acquired = _holder(cluster, two_replicas)
        assert holder == (set(pods) - {leader}).pop() and acquired is not None
        print(f"FAILOVER SIGKILL of the leader -> a new schedule Ready in {ready_after:.1f}s"
              f" (Lease taken {(acquired - killed_at).total_seconds():.1f}s after the kill)")
        # The killed container comes back as the standby: both scraped again, one leading.
        wait_for(lambda: _scalar(prometheus, 'sum(up{job="ha-metrics"})') == 2
                 and _scalar(prometheus, "sum(bulletin_operator_leader)") == 1,
                 "the restarted replica serving /metrics as the standby", timeout=60)
    finally:
        prometheus.stop()


def test_a_rolling_update_hands_the_lease_over(
    cluster: Cluster, two_replicas: str, namespace: str, postgres: Postgres, smtp: MailSink,
) -> None:
    old = wait_for(lambda: _ready_pods(cluster, two_replicas), "two Ready operator pods")
    deployment = cluster.kubectl("get", "deployment", "ha-operator", "-n", two_replicas,
                                 "-o", "jsonpath={.spec.strategy.type}").stdout
    assert deployment == "RollingUpdate"
    built = images.build()
    began = time.monotonic()
    helm_install(cluster.kubeconfig, "ha", two_replicas, built["operator"].name,
                 built["runner"].name, "--reuse-values", "--set-string", "podAnnotations.rollout=2",
                 command="upgrade")
    def replaced() -> dict[str, str] | None:
        found = _ready_pods(cluster, two_replicas)
        return found if found and not set(found) & set(old) else None

    new = wait_for(replaced, "two new Ready operator pods")
    holder = wait_for(lambda: _leading_pod(cluster, two_replicas, set(new)),
                      "a new pod holding the Lease")
    create_secrets(cluster, namespace, postgres.url, smtp.port)
    cluster.create_rs(namespace, report_schedule("after-upgrade"))
    wait_for(lambda: condition(cluster.get_rs(namespace, "after-upgrade"), "Ready").get(
        "status") == "True", "a schedule applied after the rollout Ready", timeout=30)
    print(f"ROLLOUT {time.monotonic() - began:.1f}s; the Lease went to {holder}")
