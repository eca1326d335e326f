"""Fault: the operator is SIGKILLed at random points while 1,000 schedules are applied (issue 11).

The operator is our own process (as the session's `operator` fixture runs it); a seeded chaos
thread kills it and starts a new one, again and again, while other threads create 1,000
ReportSchedules, request run-now on some and delete others. After the last restart, every
schedule is Ready with exactly one ServiceAccount, Role, RoleBinding and CronJob controlled by
it, nothing the operator made is left without a live owner, and each run-now token has exactly
one Job and no refusal. The schedules' CronJobs are suspended and their pods select no node:
nothing runs. Reproduce a run with BULLETIN_FAULTS_SEED=<the printed seed>.
"""

from __future__ import annotations

import collections
import json
import os
import random
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from bulletin.api.runrequest import RUN_REQUEST_ANNOTATION
from bulletin_operator.builders import Owner, cronjob_name, runner_account_name
from devstack.operatorproc import OperatorProcess, local_env
from localkube.kube import KubeClient, ns_path
from support import Cluster, condition, report_schedule, wait_for

pytestmark = [pytest.mark.faults, pytest.mark.own_operator]

COUNT, RUN_NOW, DELETED, KILLS = 1000, 40, 25, 6
G, V, P = "bulletin.dev", "v1alpha1", "reportschedules"
MANAGED = "app.kubernetes.io/managed-by=bulletin-operator"
OWNED = {"ServiceAccount": ("", "serviceaccounts"), "Role": ("rbac.authorization.k8s.io", "roles"),
         "RoleBinding": ("rbac.authorization.k8s.io", "rolebindings"),
         "CronJob": ("batch", "cronjobs")}
NOWHERE = {"bulletin.dev/faults-test": "no-such-node"}  # run-now pods stay Pending


@pytest.fixture
def seed() -> int:
    """The chaos seed: BULLETIN_FAULTS_SEED, or a fresh one (printed, to reproduce a run)."""
    value = int(os.environ.get("BULLETIN_FAULTS_SEED") or random.SystemRandom().getrandbits(32))
    print(f"BULLETIN_FAULTS_SEED={value}")
    return value


class Chaos:
    """Kills the operator (SIGKILL) after random delays and starts a new one each time."""

    def __init__(self, cluster: Cluster, rng: random.Random, env: dict[str, str]) -> None:
        self.cluster, self.rng, self.env = cluster, rng, env
        self.stopped = threading.Event()
        self.kills = 0
        self.proc = self._start()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.error: BaseException | None = None

    def _start(self) -> OperatorProcess:
        log = self.cluster.workdir / f"operator-faults-{self.kills}.log"
        return OperatorProcess(self.cluster.kubeconfig, log, env=self.env).start(timeout=120)

    def _run(self) -> None:
        try:
            while self.kills < KILLS and not self.stopped.wait(self.rng.uniform(1.0, 8.0)):
                assert self.proc.proc is not None
                self.proc.proc.kill()  # SIGKILL: no cleanup, no last patch
                self.proc.proc.wait()
                self.kills += 1
                time.sleep(self.rng.uniform(0.0, 2.0))
                self.proc = self._start()
        except BaseException as exc:  # reported by the test, not lost in the thread
            self.error = exc

    def __enter__(self) -> Chaos:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopped.set()
        self.thread.join()
        self.proc.stop()


def _body(name: str) -> dict[str, Any]:
    return report_schedule(name, suspend=True, runner={"nodeSelector": NOWHERE})


def _items(kube: KubeClient, namespace: str, group: str, plural: str,
           version: str = "v1") -> list[dict[str, Any]]:
    path = ns_path(namespace, plural, group=group, version=version)
    return list(kube.get(path)["items"])


def _controller(obj: dict[str, Any]) -> str | None:
    return next((r["uid"] for r in obj["metadata"].get("ownerReferences") or []
                 if r.get("controller")), None)


@pytest.fixture
def kube(cluster: Cluster) -> Iterator[KubeClient]:
    """A thread-safe client for the many requests of this test."""
    yield KubeClient.from_kubeconfig(cluster.kubeconfig, timeout=120)


def test_schedules_converge_after_operator_kills(cluster: Cluster, namespace: str,
                                                 kube: KubeClient, runner_image: str,
                                                 seed: int) -> None:
    rng, chaos_rng = random.Random(seed), random.Random(seed + 1)
    rs_path = ns_path(namespace, P, group=G, version=V)
    names = [f"r-{i:04d}" for i in range(COUNT)]
    tokens = {name: f"faults-{seed}-{name}" for name in rng.sample(names, RUN_NOW)}
    early = set(rng.sample(sorted(tokens), RUN_NOW // 2))  # requested with the create
    deleted = set(rng.sample(sorted(set(names) - set(tokens)), DELETED))
    # the administrator lets schedules pin their pods to the node label that keeps them Pending
    env = {**local_env(runner_image),
           "BULLETIN_RUNNER_POD_POLICY": json.dumps({"nodeSelectorKeys": [*NOWHERE]})}

    def apply(name: str) -> None:
        kube.create(rs_path, _body(name))
        if name in early:
            request(name)

    def request(name: str) -> None:
        kube.patch(f"{rs_path}/{name}",
                   {"metadata": {"annotations": {RUN_REQUEST_ANNOTATION: tokens[name]}}},
                   patch_type="merge")

    started = time.monotonic()
    with Chaos(cluster, chaos_rng, env) as chaos, ThreadPoolExecutor(max_workers=10) as pool:
        list(pool.map(apply, names))
        list(pool.map(request, sorted(set(tokens) - early)))
        for name in deleted:
            kube.delete(f"{rs_path}/{name}")
        chaos.thread.join()
        assert chaos.error is None, f"restarting the operator failed: {chaos.error!r}"
        print(f"{chaos.kills} kills in {time.monotonic() - started:.0f}s")
        live = set(names) - deleted

        def all_ready() -> bool:
            found = {o["metadata"]["name"] for o in kube.get(rs_path)["items"]
                     if condition(o, "Ready").get("status") == "True"
                     and o["status"].get("observedGeneration") == o["metadata"]["generation"]}
            return found == live

        wait_for(all_ready, f"{len(live)} Ready schedules after {chaos.kills} kills",
                 timeout=900, interval=3,
                 explain=lambda: chaos.proc.log.read_text()[-3000:])
        schedules = {o["metadata"]["name"]: o for o in kube.get(rs_path)["items"]}
        wait_for(lambda: _run_now_handled(kube, rs_path, tokens),
                 "every run-now token echoed in status", timeout=300, interval=3)
        uids = {o["metadata"]["uid"]: name for name, o in schedules.items()}
        wait_for(lambda: _no_orphans(kube, namespace, set(uids)),
                 "the deleted schedules' objects collected", timeout=300, interval=3)
        _assert_owned_once(kube, namespace, uids)
        _assert_one_job_per_token(kube, namespace, uids, tokens)
    print(f"converged in {time.monotonic() - started:.0f}s (seed {seed})")


def _run_now_handled(kube: KubeClient, rs_path: str, tokens: dict[str, str]) -> bool:
    echoed = {o["metadata"]["name"]: (o.get("status") or {}).get("lastRunRequest")
              for o in kube.get(rs_path)["items"]}
    return all(echoed.get(name) == token for name, token in tokens.items())


def _owned(kube: KubeClient, namespace: str) -> dict[str, list[dict[str, Any]]]:
    return {kind: _items(kube, namespace, group, plural)
            for kind, (group, plural) in OWNED.items()}


def _no_orphans(kube: KubeClient, namespace: str, uids: set[str]) -> bool:
    """Nothing the operator made (by label, or controlled by any schedule) outlives its owner."""
    for objects in _owned(kube, namespace).values():
        for obj in objects:
            managed = (obj["metadata"].get("labels") or {}).get(
                "app.kubernetes.io/managed-by") == "bulletin-operator"
            controller = _controller(obj)
            if (managed or controller is not None) and controller not in uids:
                return False
    return True


def _assert_owned_once(kube: KubeClient, namespace: str, uids: dict[str, str]) -> None:
    for kind, objects in _owned(kube, namespace).items():
        by_owner: dict[str, list[str]] = collections.defaultdict(list)
        for obj in objects:
            if (controller := _controller(obj)) is not None:
                by_owner[controller].append(obj["metadata"]["name"])
        for uid, name in uids.items():
            owner = Owner(name=name, namespace=namespace, uid=uid)
            expected = cronjob_name(owner) if kind == "CronJob" else runner_account_name(owner)
            assert by_owner.get(uid) == [expected], f"{kind}s of {name}: {by_owner.get(uid)}"
        assert set(by_owner) == set(uids), f"{kind}s controlled by no live schedule"


def _assert_one_job_per_token(kube: KubeClient, namespace: str, uids: dict[str, str],
                              tokens: dict[str, str]) -> None:
    jobs = _items(kube, namespace, "batch", "jobs")
    per_token = collections.Counter(
        (_controller(j), (j["metadata"].get("annotations") or {}).get(RUN_REQUEST_ANNOTATION))
        for j in jobs)
    expected = {(uid, tokens[name]): 1 for uid, name in uids.items() if name in tokens}
    assert dict(per_token) == expected, f"Jobs per (owner, token): {dict(per_token)}"
    # One token per schedule: a request is never refused, not even for its own Job made
    # before a kill kept the token from status.
    refused = [e["message"] for e in _items(kube, namespace, "", "events")
               if e.get("reason") == "RunNowRefused"]
    assert refused == [], refused
