"""1,000 ReportSchedules through the operator against 1,000 CronJobs created directly (issue 3).

On a fresh local control plane (audit log on), the operator runs as a process under the chart's
own ServiceAccount (rendered with helm, token from the TokenRequest API), so the chart's RBAC is
exercised too. Measured, with the same client threads for both sides:

* baseline: time from the first create until every one of N equivalent CronJobs is created
  (for context, also all 4N objects the operator makes: ServiceAccount, Role, RoleBinding,
  CronJob);
* ours: time from the first ReportSchedule create until every one is Ready=True for its
  generation and its CronJob exists (polled with lists every 2 s once all are created);
* restart writes: create/update/patch/delete requests by the operator's ServiceAccount in the
  API server's audit log, from stopping the operator with N unchanged schedules until the new
  one is idle: every schedule has logged "Resuming is processed" and no write came for the
  last 15 s (the operator has no per-object timers to wait for);
* the operator's RSS (VmRSS) 5 s after start with 0 schedules, and 5 s after all N are Ready.

Goal: ratio <= 2, restart writes = 0. The last line is the BENCH line.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import shutil
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # localkube, devstack

from bulletin.api.spec import ReportScheduleSpec
from bulletin_operator import builders
from devstack.operatorproc import OperatorProcess
from helmchart import kubectl_apply, operator_account, render, service_account_kubeconfig
from localkube.controlplane import ControlPlane
from localkube.kube import KubeClient, ns_path

ROOT = Path(__file__).resolve().parents[1]
RELEASE, OPERATOR_NS = "bulletin", "bulletin-system"
NS, BASELINE_NS = "bench", "bench-baseline"
G, V, P = "bulletin.dev", "v1alpha1", "reportschedules"
MANAGED = "app.kubernetes.io/managed-by=bulletin-operator"
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}
SPEC: dict[str, Any] = {
    "schedule": {"cron": "0 9 * * MON", "timeZone": "Europe/Berlin"},
    "source": {"connectionSecretRef": {"name": "db", "key": "url"}},
    "datasets": [{"name": "main", "query": "SELECT 1 AS one"}],
    "delivery": {"email": {"smtpSecretRef": {"name": "smtp"}, "to": ["team@example.com"]}},
}


def say(message: str) -> None:
    """Progress on stdout, flushed (the BENCH line stays last)."""
    print(message, flush=True)


def rss_mb(pid: int) -> float:
    """VmRSS of a process in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def source_digest() -> str:
    """A digest of the operator's and runner's Python sources, to tell if they changed."""
    digest = hashlib.sha256()
    for path in sorted([*(ROOT / "operator").rglob("*.py"), *(ROOT / "runner").rglob("*.py")]):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def names(count: int) -> list[str]:
    """The schedules' names."""
    return [f"report-{i:04d}" for i in range(count)]


def in_parallel(threads: int, fn: Callable[[str], object], items: Iterable[str]) -> None:
    """Call ``fn`` on every item from ``threads`` threads; the first error propagates."""
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for _ in pool.map(fn, items):
            pass


def wait(check: Callable[[], bool], what: str, timeout: float, interval: float = 1.0) -> None:
    """Poll ``check`` until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def equivalent_objects(name: str) -> list[dict[str, Any]]:
    """What the operator builds for a schedule (ServiceAccount, Role, RoleBinding, CronJob),
    without owner references: the garbage collector deletes objects whose owner is missing."""
    owner = builders.Owner(name=name, namespace=BASELINE_NS, uid="00000000-0000-0000-0000-0")
    spec = ReportScheduleSpec.model_validate(SPEC)
    objects = builders.owned_objects(owner, spec, builders.RunnerSettings(),
                                     SPEC["schedule"]["cron"])
    for obj in objects:
        del obj["metadata"]["ownerReferences"]
    return objects


def _collection(obj: dict[str, Any]) -> str:
    group, _, version = obj["apiVersion"].rpartition("/")
    return ns_path(BASELINE_NS, f"{obj['kind'].lower()}s", group=group, version=version)


def create_namespace(admin: KubeClient, name: str) -> None:
    """Create a namespace and wait for its default ServiceAccount."""
    admin.create("/api/v1/namespaces", {"metadata": {"name": name}})
    wait(lambda: admin.exists(ns_path(name, "serviceaccounts", "default")),
         f"namespace {name}", timeout=60, interval=0.2)


def install(plane: ControlPlane, admin: KubeClient, work: Path) -> Path:
    """The CRD, and the chart's ServiceAccount and RBAC; the operator's kubeconfig."""
    kubectl = plane.bin_dir / "kubectl"
    crd = list(yaml.safe_load_all((ROOT / "crds" / f"{G}_{P}.yaml").read_text()))
    kubectl_apply(kubectl, plane.kubeconfig, crd)
    wait(lambda: _established(admin), "the CRD", timeout=60, interval=0.2)
    create_namespace(admin, OPERATOR_NS)
    objects = render(RELEASE, OPERATOR_NS)
    kubectl_apply(kubectl, plane.kubeconfig, [o for o in objects if o["kind"] != "Deployment"])
    sa_ns, sa_name = operator_account(objects)
    return service_account_kubeconfig(plane.kubeconfig, sa_ns, sa_name,
                                      work / "operator.kubeconfig")


def _established(admin: KubeClient) -> bool:
    crd = admin.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{P}.{G}")
    conds = (crd.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Established" and c["status"] == "True" for c in conds)


def baseline(admin: KubeClient, count: int, threads: int, kinds: set[str]) -> float:
    """Seconds to create, directly, the objects of ``kinds`` that the operator would build for
    ``count`` schedules (one thread per schedule's objects); they are deleted afterwards."""
    if not admin.exists(f"/api/v1/namespaces/{BASELINE_NS}"):
        create_namespace(admin, BASELINE_NS)
    bodies = {name: [o for o in equivalent_objects(name) if o["kind"] in kinds]
              for name in names(count)}

    def create(name: str) -> None:
        for obj in bodies[name]:
            admin.create(_collection(obj), obj)

    start = time.monotonic()
    in_parallel(threads, create, bodies)
    seconds = time.monotonic() - start
    for obj in bodies[names(1)[0]]:
        _delete_all(admin, _collection(obj), count, obj["kind"])
    return seconds


def _delete_all(admin: KubeClient, path: str, count: int, kind: str) -> None:
    """Check that ``count`` objects were made at ``path``, and delete them."""
    found = len(admin.get(path, labelSelector=MANAGED)["items"])
    if found != count:
        raise SystemExit(f"baseline: {found} {kind}s, expected {count}")
    admin.delete(path, labelSelector=MANAGED)
    wait(lambda: not admin.get(path, labelSelector=MANAGED, limit=1)["items"],
         f"baseline {kind}s gone", timeout=300)


def ours(admin: KubeClient, count: int, threads: int, timeout: float) -> float:
    """Seconds from the first ReportSchedule create until all are Ready with their CronJob."""
    create_namespace(admin, NS)
    rs_path = ns_path(NS, P, group=G, version=V)
    cj_path = ns_path(NS, "cronjobs", group="batch")
    wanted = set(names(count))

    def create(name: str) -> None:
        admin.create(rs_path, {"apiVersion": f"{G}/{V}", "kind": "ReportSchedule",
                               "metadata": {"name": name}, "spec": SPEC})

    def done() -> bool:
        ready = {item["metadata"]["name"] for item in admin.get(rs_path)["items"]
                 if _ready(item)}
        if ready != wanted:
            return False
        cronjobs = {item["metadata"]["name"] for item in admin.get(cj_path)["items"]}
        return wanted <= cronjobs

    start = time.monotonic()
    in_parallel(threads, create, wanted)
    # A list of 1,000 schedules costs the API server ~0.3 s of CPU: poll every 2 s, not while
    # creating (none can be done before all exist), so the measurement steals little from it.
    wait(done, f"{count} Ready schedules with CronJobs", timeout=timeout, interval=2.0)
    return time.monotonic() - start


def _ready(obj: dict[str, Any]) -> bool:
    status = obj.get("status") or {}
    if status.get("observedGeneration") != obj["metadata"]["generation"]:
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in status.get("conditions") or [])


def operator_writes(audit_log: Path, start: int, end: int, user: str) -> collections.Counter[str]:
    """Write requests by ``user`` in the audit log between two byte offsets, by verb+resource."""
    counts: collections.Counter[str] = collections.Counter()
    with audit_log.open("rb") as log:
        log.seek(start)
        for line in log.read(end - start).splitlines():
            event = json.loads(line)
            if event["user"]["username"] == user and event["verb"] in WRITE_VERBS:
                ref = event.get("objectRef") or {}
                what = ref.get("resource", "?") + (f"/{ref['subresource']}"
                                                   if ref.get("subresource") else "")
                counts[f"{event['verb']} {what} {event['responseStatus'].get('code')}"] += 1
    return counts


def restart_writes(proc: OperatorProcess, audit_log: Path, user: str, count: int,
                   timeout: float) -> tuple[OperatorProcess, collections.Counter[str]]:
    """Restart the operator with ``count`` unchanged schedules; its writes (stop included)
    until idle: all resumed, and no write for 15 s."""
    start = audit_log.stat().st_size
    proc.stop()
    restarted = OperatorProcess(proc.kubeconfig, proc.log.with_name("operator-restart.log"),
                                env=proc.env).start()
    live = time.monotonic()

    def resumed() -> bool:
        return restarted.log.read_text().count("Resuming is processed") >= count

    wait(resumed, f"{count} resumed schedules", timeout=timeout)
    all_resumed = time.monotonic()
    say(f"restart: {count} schedules resumed {all_resumed - live:.1f}s after liveness")
    last_size, quiet_since = audit_log.stat().st_size, time.monotonic()
    while time.monotonic() < quiet_since + 15:
        time.sleep(1)
        size = audit_log.stat().st_size
        if operator_writes(audit_log, last_size, size, user):
            quiet_since = time.monotonic()
        last_size = size
    _healthy(restarted)
    return restarted, operator_writes(audit_log, start, audit_log.stat().st_size, user)


def _healthy(proc: OperatorProcess) -> None:
    with urllib.request.urlopen(f"http://127.0.0.1:{proc.port}/healthz", timeout=5):
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=8, help="client threads, both sides")
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
        user = f"system:serviceaccount:{OPERATOR_NS}:{RELEASE}-operator"
        source = source_digest()
        proc = OperatorProcess(kubeconfig, work / "operator.log").start()
        assert proc.proc is not None
        time.sleep(5)
        rss0 = rss_mb(proc.proc.pid)
        say(f"control plane up in {plane.start_seconds:.1f}s; operator as {user}, "
            f"RSS {rss0:.0f} MB with 0 schedules")

        baseline_s = baseline(admin, count, threads, {"CronJob"})
        say(f"baseline: {count} CronJobs created directly in {baseline_s:.1f}s")
        owned_s = baseline(admin, count, threads,
                           {"ServiceAccount", "Role", "RoleBinding", "CronJob"})
        say(f"context: all {4 * count} objects the operator makes for {count} schedules "
            f"(ServiceAccount, Role, RoleBinding, CronJob), created directly in {owned_s:.1f}s")

        before = plane.audit_log.stat().st_size
        ours_s = ours(admin, count, threads, timeout=max(600.0, count * 0.6))
        time.sleep(5)
        rss1 = rss_mb(proc.proc.pid)
        first = operator_writes(plane.audit_log, before, plane.audit_log.stat().st_size, user)
        say(f"ours: {count} schedules Ready with CronJobs in {ours_s:.1f}s "
            f"({sum(first.values())} operator writes: {dict(sorted(first.items()))}); "
            f"RSS {rss1:.0f} MB")

        if source_digest() != source:
            say("WARNING: operator/ or runner/ sources changed since the operator started: the "
                "restarted operator may rightly rewrite what it owns")
        proc, writes = restart_writes(proc, plane.audit_log, user, count,
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
    print(f"BENCH reconcile_1000 ratio={ours_s / baseline_s:.2f} goal=2 ours_s={ours_s:.1f} "
          f"baseline_s={baseline_s:.1f} restart_writes={sum(writes.values())} "
          f"rss0_mb={rss0:.0f} rss1000_mb={rss1:.0f}")


if __name__ == "__main__":
    main()
