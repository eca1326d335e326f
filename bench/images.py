"""Container images on the real node: what the images add to their base, and what a run costs.

Sizes: budgets runner <= 300 MB and operator <= 120 MB above the base (tests/images builds all
three). Time: a run-now of a small report (query, CSV, email, status), from the request to its Job
complete, against the raw baseline of a bare `python -c pass` pod from the same runner image on
the same node (Job created to Job complete), median of RUNS each, in one cluster. The time until
the run is in status is reported too. Runs inside the harness's network
namespace: started as `python bench/images.py`, it builds the images and re-enters itself there.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "runner"), str(ROOT / "operator")]

import images  # noqa: E402  (tests/images: the build helper)

RUNNER_BUDGET_MB = 300
OPERATOR_BUDGET_MB = 120
RUNS = 3


def size_figures() -> dict[str, float]:
    """Sizes in MB (podman's figures), building the images if needed."""
    built = images.build()
    runner, operator = built["runner"], built["operator"]
    return {"runner_mb": runner.above_base_mb, "operator_mb": operator.above_base_mb,
            "base_mb": runner.base_mb}


def _bare_pod_seconds(cluster: Any, namespace: str, image: str, n: int) -> float:
    """Create a Job that runs `python -c pass` in the runner image; seconds until Complete."""
    from kubernetes import client
    from support import wait_for

    name = f"bare-{n}"
    container = client.V1Container(
        name="bare", image=image, image_pull_policy="Never", command=["python", "-c", "pass"],
        security_context=client.V1SecurityContext(read_only_root_filesystem=True,
                                                  run_as_user=10001, run_as_non_root=True))
    job = client.V1Job(metadata=client.V1ObjectMeta(name=name), spec=client.V1JobSpec(
        backoff_limit=0, template=client.V1PodTemplateSpec(spec=client.V1PodSpec(
            restart_policy="Never", containers=[container]))))
    start = time.perf_counter()
    cluster.batch.create_namespaced_job(namespace, job)
    wait_for(lambda: any(c.type == "Complete" and c.status == "True" for c in
                         cluster.batch.read_namespaced_job(name, namespace).status.conditions
                         or []), f"{name} complete", timeout=120, interval=0.1)
    return time.perf_counter() - start


def _run_seconds(cluster: Any, namespace: str, n: int) -> tuple[float, float]:
    """A run-now of the schedule; seconds until its result is in status, and until its Job is
    complete (the same end point as the baseline's)."""
    from support import run_now_no_wait, wait_for, wait_for_run

    start = time.perf_counter()
    run_id = run_now_no_wait(cluster, namespace, "bench", f"bench-{n}")
    wait_for_run(cluster, namespace, "bench",
                 lambda s: (s.get("lastRun") or {}).get("runId") == run_id)
    recorded = time.perf_counter() - start
    wait_for(lambda: any(c.type == "Complete" and c.status == "True" for c in
                         cluster.batch.read_namespaced_job(run_id, namespace).status.conditions
                         or []), f"{run_id} complete", timeout=120, interval=0.1)
    return recorded, time.perf_counter() - start


def node_figures(work: Path) -> dict[str, float]:
    """Run timings on a fresh local cluster with the images imported."""
    from devstack.mailsink import MailSink
    from devstack.operatorproc import OperatorProcess
    from devstack.ports import HOST
    from devstack.postgres import Postgres
    from kubernetes import client, config
    from localkube.node import local_cluster
    from support import Cluster, condition, create_secrets, report_schedule, wait_for

    runner = images.runner()
    with local_cluster(work / "cluster") as (plane, node):
        node.import_image(runner.archive)
        api = config.new_client_from_config(config_file=str(plane.kubeconfig))
        cluster = Cluster(plane.kubeconfig, plane.bin_dir / "kubectl", api, node, work)
        cluster.kubectl("apply", "--server-side", "-f", str(ROOT / "crds"))
        cluster.kubectl("wait", "--for=condition=Established", "crd/reportschedules.bulletin.dev")
        operator = OperatorProcess(plane.kubeconfig, work / "operator.log", env={
            "BULLETIN_RUNNER_IMAGE": runner.name, "BULLETIN_RUNNER_PULL_POLICY": "Never",
            "BULLETIN_ALLOW_PRIVATE_NETWORKS": f"{HOST}/32"}).start()
        mail, pg = MailSink().start(), Postgres(work / "postgres").start()
        try:
            namespace = "bench"
            cluster.core.create_namespace(client.V1Namespace(
                metadata=client.V1ObjectMeta(name=namespace)))
            wait_for(lambda: cluster.core.read_namespaced_service_account("default", namespace),
                     "default ServiceAccount")
            create_secrets(cluster, namespace, pg.url, mail.port)
            cluster.create_rs(namespace, report_schedule("bench"))
            wait_for(lambda: condition(cluster.get_rs(namespace, "bench"), "Ready")
                     .get("status") == "True", "bench Ready")
            bare = [_bare_pod_seconds(cluster, namespace, runner.name, n) for n in range(RUNS)]
            ours = [_run_seconds(cluster, namespace, n) for n in range(RUNS)]
        finally:
            operator.stop()
            mail.stop()
            pg.stop()
    return {"run_s": round(statistics.median(done for _, done in ours), 2),
            "run_status_s": round(statistics.median(rec for rec, _ in ours), 2),
            "bare_pod_s": round(statistics.median(bare), 2),
            "node_start_s": round(node.start_seconds or 0, 2)}


def main() -> None:
    """Print the figures and the BENCH line."""
    reason = images.podman_missing()
    if reason:
        print(f"BENCH images skipped: {reason}")
        return
    sizes = size_figures()  # builds the images (needs the network: before the namespace)
    if not os.environ.get("LOCALKUBE_NETNS"):
        os.environ["PYTHONPATH"] = os.pathsep.join(
            [*sys.path[:3], *filter(None, [os.environ.get("PYTHONPATH")])])
        os.execvp(sys.executable, [sys.executable, "-m", "localkube.netns", "run", "--",
                                   sys.executable, *sys.argv])
    work = Path(tempfile.mkdtemp(prefix="bench-images-"))
    work.chmod(0o755)  # PostgreSQL runs as its own user below it
    try:
        found = {**sizes, **node_figures(work)}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"base {found['base_mb']:.0f} MB; above it: runner {found['runner_mb']:.0f} MB "
          f"(budget {RUNNER_BUDGET_MB}), operator {found['operator_mb']:.0f} MB "
          f"(budget {OPERATOR_BUDGET_MB})")
    print(f"node Ready in {found['node_start_s']}s; a run-now from request to Job complete "
          f"{found['run_s']}s (in status after {found['run_status_s']}s) against a bare python"
          f" pod {found['bare_pod_s']}s (medians of {RUNS})")
    extra = " ".join(f"{k}={v:g}" for k, v in found.items())
    print(f"BENCH images ratio={found['run_s'] / found['bare_pod_s']:.2f} goal=<=3.0 {extra}")


if __name__ == "__main__":
    main()
