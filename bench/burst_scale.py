"""burst_scale: a burst of RECIPIENTS (default 10,000) statements to the local SMTP server on
the real node, as one shard and as two shards (parallelism 2) of the run's Indexed Job, for each
format in BURST_SCALE_FORMATS (default csv; csv,pdf for both).

Time: run-now to the run's result in status. Per shard: recipients per second over the shard
pods' own running time. CPU seconds of the operator and the API server during each run (from
/proc), the shards' ledger writes (their log lines) and bytes (their ConfigMaps), and every
recipient's copies counted at the SMTP server. Runs inside the harness's network namespace:
started as `python bench/burst_scale.py`, it re-enters itself there. Hold
/tmp/bulletin-cluster.lock while it runs (it starts a node).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "runner"), str(ROOT / "operator")]

import images  # noqa: E402  (tests/images: the build helper)

RECIPIENTS = int(os.environ.get("BURST_SCALE_RECIPIENTS", "10000"))
FORMATS = os.environ.get("BURST_SCALE_FORMATS", "csv").split(",")
GOAL = 1.7


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds of a process so far (0 when unknown)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _seconds(a: datetime | None, b: datetime | None) -> float:
    return (b - a).total_seconds() if a and b else 0.0


def shard_figures(cluster: Any, namespace: str, run_id: str, shards: int) -> dict[str, float]:
    """Each shard pod's running time (the last pod of each index), and the ledgers' bytes."""
    pods = cluster.core.list_namespaced_pod(
        namespace, label_selector=f"batch.kubernetes.io/job-name={run_id}").items
    running, writes = [], 0
    for pod in pods:
        [state] = pod.status.container_statuses or [None]
        done = state.state.terminated if state is not None else None
        if done is not None and done.exit_code == 0:
            running.append(_seconds(done.started_at, done.finished_at))
            logs = cluster.core.read_namespaced_pod_log(pod.metadata.name, namespace)
            writes += sum(int(n) for n in re.findall(r"shard ledger: \d+ recipients, (\d+)"
                                                     r" writes", logs))
    ledger = 0
    for shard in range(shards):
        data = cluster.core.read_namespaced_config_map(f"{run_id}-shard-{shard}", namespace).data
        ledger += sum(len(k) + len(v) for k, v in data.items())
    return {"pod_s": max(running or [0.0]), "ledger_bytes": ledger, "ledger_writes": writes}


def one_run(cluster: Any, pg: Any, pids: dict[str, int | None], shards: int, fmt: str
            ) -> dict[str, float]:
    """A burst of RECIPIENTS over ``shards`` shards in a fresh namespace; its figures."""
    from devstack.mailsink import MailSink
    from kubernetes import client
    from support import (
        condition,
        create_secrets,
        report_schedule,
        run_now_no_wait,
        wait_for,
        wait_for_run,
    )

    namespace = f"burst-{fmt}-{shards}"
    cluster.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(
        name=namespace)))
    wait_for(lambda: cluster.core.read_namespaced_service_account("default", namespace),
             "default ServiceAccount")
    mail = MailSink().start()
    try:
        create_secrets(cluster, namespace, pg.url, mail.port)
        datasets = [{"name": "customers", "query": "SELECT email, id FROM bench_customers"},
                    {"name": "statement", "query": "SELECT :id AS customer, n, n * 7 AS amount"
                     " FROM generate_series(1, 5) AS n"}]
        delivery = {"email": {"smtpSecretRef": {"name": "smtp"}},
                    "burst": {"dataset": "customers", "maxRecipients": RECIPIENTS,
                              "shards": shards, "parallelism": shards}}
        cluster.create_rs(namespace, report_schedule("statements", datasets=datasets,
                                                     delivery=delivery, formats=[fmt]))
        wait_for(lambda: condition(cluster.get_rs(namespace, "statements"), "Ready")
                 .get("status") == "True", "statements Ready")
        cpu = {k: cpu_seconds(p) for k, p in pids.items()}
        start = time.perf_counter()
        run_id = run_now_no_wait(cluster, namespace, "statements", "bench")
        status = wait_for_run(cluster, namespace, "statements",
                              lambda s: s["lastRun"]["runId"] == run_id, timeout=7200)
        seconds = time.perf_counter() - start
        cpu = {f"{k}_cpu_s": round(cpu_seconds(p) - cpu[k], 1) for k, p in pids.items()}
        wait_for(lambda: cluster.batch.read_namespaced_job(run_id, namespace).status.succeeded
                 == shards, "every shard's pod ended", timeout=120)
        copies = mail.copies()
        assert status["lastRun"]["result"] == "Succeeded", status["lastRun"]
        assert len(copies) == RECIPIENTS and set(copies.values()) == {1}, "not exactly once"
        figures = shard_figures(cluster, namespace, run_id, shards)
        return {"s": round(seconds, 1), **cpu, **figures,
                "per_shard_rps": round(RECIPIENTS / shards / max(figures["pod_s"], 0.1), 1)}
    finally:
        mail.stop()


def measure(work: Path) -> dict[str, dict[str, float]]:
    """Every (format, shards) run on a fresh local cluster with the images imported."""
    from devstack.operatorproc import OperatorProcess, local_env
    from devstack.postgres import Postgres
    from kubernetes import config
    from localkube.node import local_cluster
    from support import Cluster

    runner = images.runner()
    with local_cluster(work / "cluster") as (plane, node):
        node.import_image(runner.archive)
        api = config.new_client_from_config(config_file=str(plane.kubeconfig))
        cluster = Cluster(plane.kubeconfig, plane.bin_dir / "kubectl", api, node, work)
        cluster.kubectl("apply", "--server-side", "-f", str(ROOT / "crds"))
        cluster.kubectl("wait", "--for=condition=Established", "crd/reportschedules.bulletin.dev")
        operator = OperatorProcess(plane.kubeconfig, work / "operator.log",
                                   env=local_env(runner.name)).start()
        pg = Postgres(work / "postgres").start()
        try:
            pg.execute("CREATE TABLE bench_customers AS SELECT 'c' || g || '@example.com' AS"
                       f" email, g AS id FROM generate_series(1, {RECIPIENTS}) AS g")
            pids = {"operator": operator.proc.pid if operator.proc else None,
                    "apiserver": plane.pids().get("kube-apiserver")}
            return {f"{fmt}_{shards}": one_run(cluster, pg, pids, shards, fmt)
                    for fmt in FORMATS for shards in (1, 2)}
        finally:
            operator.stop()
            pg.stop()


def main() -> None:
    """Print the figures and the BENCH line."""
    reason = images.podman_missing()
    if reason:
        print(f"BENCH burst_scale skipped: {reason}")
        return
    images.build()  # needs the network: before the namespace
    if not os.environ.get("LOCALKUBE_NETNS"):
        os.environ["PYTHONPATH"] = os.pathsep.join(
            [*sys.path[:3], *filter(None, [os.environ.get("PYTHONPATH")])])
        os.execvp(sys.executable, [sys.executable, "-m", "localkube.netns", "run", "--",
                                   sys.executable, *sys.argv])
    work = Path(tempfile.mkdtemp(prefix="bench-burst-"))
    work.chmod(0o755)  # PostgreSQL runs as its own user below it
    try:
        found = measure(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for name, figures in found.items():
        print(f"{name}: " + " ".join(f"{k}={v:g}" for k, v in figures.items()))
    fmt = FORMATS[0]
    one, two = found[f"{fmt}_1"], found[f"{fmt}_2"]
    extra = " ".join(f"{name}_{k}={v:g}" for name, figures in found.items()
                     for k, v in figures.items())
    print(f"BENCH burst_scale ratio={one['s'] / two['s']:.2f} goal=>={GOAL} recipients="
          f"{RECIPIENTS} {extra}")


if __name__ == "__main__":
    main()
