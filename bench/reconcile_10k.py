"""10,000 ReportSchedules: operator memory, restart, and apply-to-Ready latency (issue 11).

On a fresh local control plane, the operator runs as a process under the chart's ServiceAccount
(as in reconcile_1000). Measured:

* kopf startup: from starting the operator process to its liveness endpoint answering, with no
  schedules (imports, login, kopf's own start-up);
* apply-to-Ready latency: 10,000 schedules are created at 50 per second (paced, 20 client
  threads); each one's latency runs from sending its create until a watch shows it Ready=True
  for its generation; p50, p99 and max;
* RSS: the operator's VmRSS 5 s after all 10,000 are Ready;
* plain LIST: one LIST of the 10,000 ReportSchedules as the operator's ServiceAccount (one
  request, no pages, as kopf lists before it watches);
* restart to idle: from starting a new operator process (the old one stopped) until every
  schedule is resumed (found up to date by the startup check, or "Resuming is processed" by
  kopf) and then the operator uses under 10% of a core for 0.5 s (kopf has worked through its
  first listing); no write follows, see reconcile_1000's restart check.

* kopf's floor: a bare kopf (bench/_kopf_floor.py: one no-op event handler) started on the
  same schedules, until it has seen all of them and is idle by the same rule.

Goals: RSS <= 300 MB; restart to idle <= 1.5 x kopf's floor (the line keeps the old ratio to
plain LIST + kopf startup as list_ratio). Takes several
minutes; `make bench` runs it, `make test` does not. The last line is the BENCH line.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _reconcile import (
    USER,
    G,
    P,
    ReadyWatch,
    V,
    create_namespace,
    create_secrets,
    install,
    names,
    resumed,
    rss_mb,
    say,
    schedule,
    wait,
    wait_idle,
)
from devstack.operatorproc import OperatorProcess
from localkube.controlplane import ControlPlane
from localkube.kube import KubeClient, ns_path

NS = "bench10k"


def apply_paced(client: KubeClient, count: int, rate: float, threads: int
                ) -> dict[str, float]:
    """Create ``count`` schedules at ``rate`` per second; when each create was sent."""
    path = ns_path(NS, P, group=G, version=V)
    sent: dict[str, float] = {}

    def create(name: str) -> None:
        sent[name] = time.monotonic()
        client.create(path, schedule(name))

    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures = []
        for i, name in enumerate(names(count)):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(create, name))
        for future in futures:
            future.result()
    say(f"applied {count} schedules in {time.monotonic() - start:.1f}s "
        f"(goal pace {count / rate:.0f}s)")
    return sent


def kopf_floor(kubeconfig: Path, work: Path, count: int) -> float:
    """Seconds from starting a bare kopf (bench/_kopf_floor.py) on the same schedules until it
    has seen every one and is idle, as ours is measured: kopf's own listing and dispatch."""
    floor = str(Path(__file__).with_name("_kopf_floor.py"))
    log = work / "kopf-floor.log"
    begin = time.monotonic()
    bare = OperatorProcess(kubeconfig, log, target=[floor]).start(timeout=120)
    try:
        assert bare.proc is not None
        wait(lambda: f"floor: {count // 1000 * 1000} objects seen" in log.read_text(),
             f"the bare kopf to see {count} schedules", timeout=600, interval=0.2)
        return wait_idle(bare.proc.pid, timeout=300) - begin
    finally:
        bare.stop()


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of ``values``, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--rate", type=float, default=50.0, help="applies per second")
    parser.add_argument("--threads", type=int, default=20)
    args = parser.parse_args()
    count = args.count
    work = Path(tempfile.mkdtemp(prefix="bench-reconcile10k-"))
    plane = ControlPlane(work / "localkube")
    proc: OperatorProcess | None = None
    try:
        plane.start()
        admin = plane.client(timeout=300)
        kubeconfig = install(plane, admin, work)
        as_operator = KubeClient.from_kubeconfig(kubeconfig, timeout=300)
        env = {"BULLETIN_WORKERS": str(args.threads)}
        begin = time.monotonic()
        proc = OperatorProcess(kubeconfig, work / "operator.log", env=env).start(timeout=120)
        startup_s = time.monotonic() - begin
        say(f"operator as {USER}: kopf startup {startup_s:.1f}s with 0 schedules")

        create_namespace(admin, NS)
        create_secrets(admin, NS)
        path = ns_path(NS, P, group=G, version=V)
        watch = ReadyWatch(admin, path)
        sent = apply_paced(admin, count, args.rate, args.threads)
        wait(lambda: len(watch.ready_at) >= count, f"{count} Ready schedules",
             timeout=max(900.0, count * 0.3), interval=2.0)
        watch.stop()
        latencies = [watch.ready_at[name] - sent[name] for name in sent]
        p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
        say(f"apply-to-Ready at {args.rate:.0f}/s: p50 {p50:.2f}s p99 {p99:.2f}s "
            f"max {max(latencies):.2f}s")
        time.sleep(5)
        assert proc.proc is not None
        rss = rss_mb(proc.proc.pid)
        say(f"operator RSS with {count} Ready schedules: {rss:.0f} MB")

        begin = time.monotonic()
        listed = as_operator.get(path)["items"]
        list_s = time.monotonic() - begin
        if len(listed) != count:
            raise SystemExit(f"listed {len(listed)} schedules, expected {count}")
        say(f"plain LIST of {count} schedules: {list_s:.2f}s")

        proc.stop()
        begin = time.monotonic()
        proc = OperatorProcess(kubeconfig, work / "operator-restart.log", env=env).start(
            timeout=120)
        log = proc.log
        wait(lambda: resumed(log, count), f"{count} resumed schedules",
             timeout=max(900.0, count * 0.3), interval=0.2)
        assert proc.proc is not None
        restart_s = wait_idle(proc.proc.pid, timeout=300) - begin
        say(next(line for line in log.read_text().splitlines() if "startup:" in line))
        rss_restart = rss_mb(proc.proc.pid)
        say(f"restart to idle: {restart_s:.1f}s; RSS {rss_restart:.0f} MB")
        proc.stop()
        floor_s = kopf_floor(kubeconfig, work, count)
        say(f"kopf's floor (a bare kopf, a no-op event handler) to idle: {floor_s:.1f}s")
    finally:
        if proc is not None:
            proc.stop()
        plane.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"BENCH reconcile_10k ratio={restart_s / floor_s:.2f} goal=<=1.5 (restart to idle /"
          f" kopf's floor) restart_s={restart_s:.1f} kopf_floor_s={floor_s:.1f} rss_mb={rss:.0f}"
          f" goal_rss=<=300 list_s={list_s:.2f} kopf_startup_s={startup_s:.1f}"
          f" list_ratio={restart_s / (list_s + startup_s):.2f} (the old baseline: list+startup)"
          f" p50_s={p50:.2f} p99_s={p99:.2f} rate={args.rate:.0f}/s count={count}"
          f" rss_restart_mb={rss_restart:.0f}", flush=True)


if __name__ == "__main__":
    main()
