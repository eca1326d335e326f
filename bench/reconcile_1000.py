"""1,000 ReportSchedules through the operator against creating their objects directly (issue 11).

On a fresh local control plane (audit log on), the operator runs as a process under the chart's
own ServiceAccount (rendered with helm, token from the TokenRequest API), with as many worker
threads as the benchmark has client threads (--threads). Measured:

* baseline: with those threads, under the operator's own ServiceAccount, the time to create
  directly the ServiceAccount, Role, RoleBinding and CronJob the builders make for each of N
  schedules (the same bodies, one thread per schedule's four objects, as an operator worker);
* honest baseline (issue 23): exactly the writes ours makes, from a raw client and no operator:
  per schedule the ReportSchedule's create (as ours, by the admin), then under the operator's
  ServiceAccount its four objects, owned by it, and one status patch (the operator starts
  after both baselines, so that it reconciles none of theirs);
* ours: time from the first ReportSchedule create (same threads) until a watch shows every one
  Ready=True for its generation (the operator writes Ready after the CronJob; one list checks
  that all CronJobs exist);
* CPU: seconds of CPU the API server used in each phase, and the operator in ours (on a
  2-core machine they share the cores, so the API server's extra work for ours, its creates
  of the schedules, status writes and watches, sets a floor under the ratio);
* writes per schedule: create/update/patch/delete requests by the operator's ServiceAccount in
  the API server's audit log while the N schedules are reconciled, divided by N;
* restart writes: the operator's writes from stopping it with N unchanged schedules until the
  new one is idle (every schedule resumed, see reconcile_10k, then no write for 15 s);
* the operator's RSS 5 s after start with 0 schedules, and 5 s after all N are Ready.

Goals: ratio <= 1.3 (the old line) and honest_ratio <= 1.3, writes per schedule <= 5, restart
writes 0. The last line is the BENCH line.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from _reconcile import (
    MANAGED,
    OWNED_KINDS,
    SPEC,
    USER,
    G,
    P,
    ReadyWatch,
    V,
    collection,
    cpu_seconds,
    create_namespace,
    create_secrets,
    equivalent_objects,
    in_parallel,
    install,
    names,
    operator_writes,
    owned_by,
    resumed,
    rss_mb,
    say,
    schedule,
    wait,
    wait_idle,
)
from bulletin.api.status import ReportScheduleStatus
from bulletin_operator.status import reconciled
from devstack.operatorproc import OperatorProcess
from localkube.controlplane import ControlPlane
from localkube.kube import KubeClient, ns_path

NS, BASELINE_NS, HONEST_NS = "bench", "bench-baseline", "bench-honest"


def honest_baseline(client: KubeClient, admin: KubeClient, count: int, threads: int
                    ) -> float:
    """Seconds for exactly the writes ours makes, from a raw client with no operator: per
    schedule, the admin's create of the ReportSchedule, then under the operator's
    ServiceAccount its four objects (owned by it) and one status patch, one thread per
    schedule; all deleted afterwards."""
    create_namespace(admin, HONEST_NS)
    rs_path = ns_path(HONEST_NS, P, group=G, version=V)
    now = datetime.now(UTC)
    cron = SPEC["schedule"]["cron"]

    def one(name: str) -> None:
        uid = admin.create(rs_path, schedule(name))["metadata"]["uid"]
        for obj in owned_by(name, HONEST_NS, uid):
            client.create(collection(obj), obj)
        status = reconciled(ReportScheduleStatus(), generation=1, error=None, cron=cron,
                            cronjob=name, next_run=now, now=now, time_zone="UTC")
        client.patch(ns_path(HONEST_NS, P, name, group=G, version=V, sub="status"),
                     {"status": status}, patch_type="merge")

    start = time.monotonic()
    in_parallel(threads, one, names(count))
    seconds = time.monotonic() - start
    admin.delete(f"/api/v1/namespaces/{HONEST_NS}")
    wait(lambda: not admin.exists(f"/api/v1/namespaces/{HONEST_NS}"), "honest namespace gone",
         timeout=300)
    return seconds


def baseline(client: KubeClient, admin: KubeClient, count: int, threads: int, api_pid: int
             ) -> tuple[float, float]:
    """Seconds to create, directly, the four objects the operator builds for each of ``count``
    schedules, and the API server's CPU seconds meanwhile; they are deleted afterwards."""
    create_namespace(admin, BASELINE_NS)
    bodies = {name: equivalent_objects(name, BASELINE_NS) for name in names(count)}

    def create(name: str) -> None:
        for obj in bodies[name]:
            client.create(collection(obj), obj)

    start, cpu = time.monotonic(), cpu_seconds(api_pid)
    in_parallel(threads, create, bodies)
    seconds, cpu = time.monotonic() - start, cpu_seconds(api_pid) - cpu
    for obj in bodies[names(1)[0]]:
        path = collection(obj)
        found = len(admin.get(path, labelSelector=MANAGED)["items"])
        if found != count:
            raise SystemExit(f"baseline: {found} {obj['kind']}s, expected {count}")
    admin.delete(f"/api/v1/namespaces/{BASELINE_NS}")
    wait(lambda: not admin.exists(f"/api/v1/namespaces/{BASELINE_NS}"), "baseline namespace gone",
         timeout=300)
    return seconds, cpu


def ours(admin: KubeClient, count: int, threads: int, timeout: float) -> float:
    """Seconds from the first ReportSchedule create until all are Ready with their CronJob."""
    create_namespace(admin, NS)
    create_secrets(admin, NS)
    rs_path = ns_path(NS, P, group=G, version=V)
    wanted = set(names(count))
    watch = ReadyWatch(admin, rs_path)  # a watch, not lists: the measurement costs little
    start = time.monotonic()
    in_parallel(threads, lambda name: admin.create(rs_path, schedule(name)), wanted)
    wait(lambda: wanted <= watch.ready_at.keys(), f"{count} Ready schedules",
         timeout=timeout, interval=0.2)
    watch.stop()
    seconds = max(watch.ready_at[name] for name in wanted) - start
    cronjobs = {item["metadata"]["name"]
                for item in admin.get(ns_path(NS, "cronjobs", group="batch"))["items"]}
    if not wanted <= cronjobs:
        raise SystemExit(f"Ready without a CronJob: {sorted(wanted - cronjobs)[:5]}")
    return seconds


def restart_writes(proc: OperatorProcess, audit_log: Path, count: int, timeout: float
                   ) -> tuple[OperatorProcess, collections.Counter[str]]:
    """Restart the operator with ``count`` unchanged schedules; its writes (stop included)
    until idle: all resumed, and no write for 15 s."""
    start = audit_log.stat().st_size
    proc.stop()
    restarted = OperatorProcess(proc.kubeconfig, proc.log.with_name("operator-restart.log"),
                                env=proc.env).start()
    live = time.monotonic()
    wait(lambda: resumed(restarted.log, count), f"{count} resumed schedules", timeout=timeout,
         interval=0.2)
    assert restarted.proc is not None
    idle = wait_idle(restarted.proc.pid, timeout=timeout)
    say(f"restart: {count} schedules resumed, operator idle {idle - live:.1f}s after liveness")
    last_size, quiet_since = audit_log.stat().st_size, time.monotonic()
    while time.monotonic() < quiet_since + 15:
        time.sleep(1)
        size = audit_log.stat().st_size
        if operator_writes(audit_log, last_size, size):
            quiet_since = time.monotonic()
        last_size = size
    with urllib.request.urlopen(f"http://127.0.0.1:{restarted.port}/healthz", timeout=5):
        pass
    return restarted, operator_writes(audit_log, start, audit_log.stat().st_size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=20,
                        help="client threads for both sides, and the operator's workers")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs, audit)")
    args = parser.parse_args()
    count, threads = args.count, args.threads
    work = Path(tempfile.mkdtemp(prefix="bench-reconcile-"))
    plane = ControlPlane(work / "localkube", audit=True)
    proc: OperatorProcess | None = None
    try:
        plane.start()
        assert plane.audit_log is not None
        admin = plane.client(timeout=120)
        kubeconfig = install(plane, admin, work)
        as_operator = KubeClient.from_kubeconfig(kubeconfig, timeout=120)
        api_pid = plane.pids()["kube-apiserver"]
        # The honest baseline's ReportSchedules must not be reconciled: the operator starts
        # after it. The old baseline keeps its conditions (the operator running, idle).
        honest_s = honest_baseline(as_operator, admin, count, threads)
        say(f"honest baseline: {count} schedules, their {len(OWNED_KINDS) * count} objects and"
            f" {count} status patches written directly by {threads} threads in {honest_s:.1f}s")
        proc = OperatorProcess(kubeconfig, work / "operator.log",
                               env={"BULLETIN_WORKERS": str(threads)}).start()
        assert proc.proc is not None
        time.sleep(5)
        rss0 = rss_mb(proc.proc.pid)
        say(f"control plane up in {plane.start_seconds:.1f}s; operator as {USER} with "
            f"{threads} workers, RSS {rss0:.0f} MB with 0 schedules")
        baseline_s, api_base = baseline(as_operator, admin, count, threads, api_pid)
        say(f"baseline: {len(OWNED_KINDS) * count} objects ({', '.join(OWNED_KINDS)}) for "
            f"{count} schedules created directly by {threads} threads in {baseline_s:.1f}s")

        before = plane.audit_log.stat().st_size
        api_cpu, op_cpu = cpu_seconds(api_pid), cpu_seconds(proc.proc.pid)
        ours_s = ours(admin, count, threads, timeout=max(600.0, count * 0.6))
        api_ours = cpu_seconds(api_pid) - api_cpu
        op_ours = cpu_seconds(proc.proc.pid) - op_cpu
        say(f"CPU: API server {api_base:.1f}s in the baseline, {api_ours:.1f}s in ours; "
            f"operator {op_ours:.1f}s in ours")
        time.sleep(5)
        rss1 = rss_mb(proc.proc.pid)
        first = operator_writes(plane.audit_log, before, plane.audit_log.stat().st_size)
        per_schedule = sum(first.values()) / count
        say(f"ours: {count} schedules Ready with CronJobs in {ours_s:.1f}s; operator writes "
            f"{per_schedule:.2f} per schedule {dict(sorted(first.items()))}; RSS {rss1:.0f} MB")

        proc, writes = restart_writes(proc, plane.audit_log, count,
                                      timeout=max(300.0, count * 0.3))
        assert proc.proc is not None
        say(f"restart: {sum(writes.values())} operator writes {dict(sorted(writes.items()))}; "
            f"RSS {rss_mb(proc.proc.pid):.0f} MB at the end of the window")
    finally:
        if proc is not None:
            proc.stop()
        plane.stop()
        if args.keep:
            say(f"work dir kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"BENCH reconcile_1000 ratio={ours_s / baseline_s:.2f} goal=<=1.3 ours_s={ours_s:.1f} "
          f"baseline_s={baseline_s:.1f} honest_ratio={ours_s / honest_s:.2f} "
          f"honest_baseline_s={honest_s:.1f} writes_per_schedule={per_schedule:.2f} "
          f"restart_writes={sum(writes.values())} threads={threads} rss0_mb={rss0:.0f} "
          f"rss{count}_mb={rss1:.0f} api_cpu_base_s={api_base:.1f} api_cpu_ours_s={api_ours:.1f} "
          f"op_cpu_s={op_ours:.1f}", flush=True)


if __name__ == "__main__":
    main()
