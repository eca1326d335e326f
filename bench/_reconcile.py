"""Shared by the reconcile benchmarks: a control plane with the chart's RBAC, the operator as a
process under the chart's ServiceAccount, schedules, Ready checks and audit-log write counts."""

from __future__ import annotations

import collections
import json
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # localkube, devstack

from bulletin.api.references import USABLE_LABEL
from bulletin.api.spec import ReportScheduleSpec
from bulletin_operator import builders, owned
from helmchart import (
    kubectl_apply,
    operator_account,
    render,
    service_account_kubeconfig,
)
from localkube.controlplane import ControlPlane
from localkube.kube import ApiError, KubeClient, ns_path

ROOT = Path(__file__).resolve().parents[1]
RELEASE, OPERATOR_NS = "bulletin", "bulletin-system"
USER = f"system:serviceaccount:{OPERATOR_NS}:{RELEASE}-operator"
G, V, P = "bulletin.dev", "v1alpha1", "reportschedules"
MANAGED = "app.kubernetes.io/managed-by=bulletin-operator"
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}
OWNED_KINDS = ("ServiceAccount", "Role", "RoleBinding", "CronJob")
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


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def names(count: int) -> list[str]:
    """The schedules' names."""
    return [f"report-{i:05d}" for i in range(count)]


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


STARTUP_LINE = re.compile(r"startup: (\d+) of \d+ schedules up to date")


def resumed(log: Path, count: int) -> bool:
    """Whether a restarted operator has resumed ``count`` schedules: those its startup check
    found up to date, plus those kopf resumed one by one ("Resuming is processed")."""
    text = log.read_text()
    found = STARTUP_LINE.search(text)
    return found is not None and int(found[1]) + text.count("Resuming is processed") >= count


def wait_idle(pid: int, timeout: float, window: float = 0.5, share: float = 0.1) -> float:
    """Wait until a process uses less than ``share`` of a core over ``window`` seconds (kopf
    still working through its first listing is busy); when that quiet window began."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        began, cpu = time.monotonic(), cpu_seconds(pid)
        time.sleep(window)
        if cpu_seconds(pid) - cpu < share * (time.monotonic() - began):
            return began
    raise SystemExit(f"operator {pid} not idle within {timeout:.0f}s")


def schedule(name: str) -> dict[str, Any]:
    """A ReportSchedule manifest."""
    return {"apiVersion": f"{G}/{V}", "kind": "ReportSchedule", "metadata": {"name": name},
            "spec": SPEC}


def equivalent_objects(name: str, namespace: str) -> list[dict[str, Any]]:
    """What the operator builds for a schedule (ServiceAccount, Role, RoleBinding, CronJob),
    without owner references: the garbage collector deletes objects whose owner is missing."""
    owner = builders.Owner(name=name, namespace=namespace, uid="00000000-0000-0000-0000-0")
    spec = ReportScheduleSpec.model_validate(SPEC)
    objects = owned.owned_objects(owner, spec, builders.RunnerSettings(),
                                  SPEC["schedule"]["cron"])
    for obj in objects:
        del obj["metadata"]["ownerReferences"]
    return objects


def owned_by(name: str, namespace: str, uid: str) -> list[dict[str, Any]]:
    """What the operator builds for the schedule ``name`` whose uid is ``uid``, as it builds
    it (owner references included)."""
    owner = builders.Owner(name=name, namespace=namespace, uid=uid)
    return owned.owned_objects(owner, ReportScheduleSpec.model_validate(SPEC),
                               builders.RunnerSettings(), SPEC["schedule"]["cron"])


def collection(obj: dict[str, Any]) -> str:
    """The collection path of a namespaced object."""
    group, _, version = obj["apiVersion"].rpartition("/")
    return ns_path(obj["metadata"]["namespace"], f"{obj['kind'].lower()}s", group=group,
                   version=version)


def create_namespace(admin: KubeClient, name: str) -> None:
    """Create a namespace and wait for its default ServiceAccount."""
    admin.create("/api/v1/namespaces", {"metadata": {"name": name}})
    wait(lambda: admin.exists(ns_path(name, "serviceaccounts", "default")),
         f"namespace {name}", timeout=60, interval=0.2)


def create_secrets(admin: KubeClient, namespace: str) -> None:
    """The Secrets SPEC names, opted in to reports as their owners would label them."""
    for name, data in (("db", {"url": "postgresql://reports@db/reports"}),
                       ("smtp", {"host": "mail.example.com", "port": "25"})):
        admin.create(ns_path(namespace, "secrets"), {
            "metadata": {"name": name, "labels": {USABLE_LABEL: "true"}}, "stringData": data})


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


def ready(obj: dict[str, Any]) -> bool:
    """Ready=True for the object's current generation."""
    status = obj.get("status") or {}
    if status.get("observedGeneration") != obj["metadata"]["generation"]:
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in status.get("conditions") or [])


def list_all(client: KubeClient, path: str, page: int = 2000) -> list[dict[str, Any]]:
    """Every item of a collection, in pages (as kopf and kubectl list)."""
    items: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        found = client.get(path, limit=page, **({"continue": token} if token else {}))
        items.extend(found.get("items") or [])
        token = (found.get("metadata") or {}).get("continue")
        if not token:
            return items


def operator_writes(audit_log: Path, start: int, end: int) -> collections.Counter[str]:
    """Write requests by the operator in the audit log between two byte offsets."""
    counts: collections.Counter[str] = collections.Counter()
    with audit_log.open("rb") as log:
        log.seek(start)
        for line in log.read(end - start).splitlines():
            event = json.loads(line)
            if event["user"]["username"] == USER and event["verb"] in WRITE_VERBS:
                ref = event.get("objectRef") or {}
                what = ref.get("resource", "?") + (f"/{ref['subresource']}"
                                                   if ref.get("subresource") else "")
                counts[f"{event['verb']} {what} {event['responseStatus'].get('code')}"] += 1
    return counts


class ReadyWatch:
    """Watches the schedules of a namespace and notes when each is first seen Ready."""

    def __init__(self, client: KubeClient, path: str) -> None:
        self.client, self.path = client, path
        self.ready_at: dict[str, float] = {}
        self._stop = threading.Event()
        self._rv = str(client.get(path, limit=1)["metadata"]["resourceVersion"])
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                for kind, obj in self.client.watch(self.path, self._rv, timeout_seconds=120):
                    self._rv = obj["metadata"].get("resourceVersion", self._rv)
                    name = obj["metadata"].get("name")
                    if kind != "BOOKMARK" and name not in self.ready_at and ready(obj):
                        self.ready_at[name] = time.monotonic()
                    if self._stop.is_set():
                        return
            except ApiError as exc:
                if exc.status != 410:
                    raise
                raise SystemExit("watch expired; rerun the benchmark") from exc

    def stop(self) -> None:
        self._stop.set()
