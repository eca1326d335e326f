"""`helm upgrade` from the previous release (tests/upgrade/FROM: its chart and images, built by
tests/upgrade/build.sh) to this checkout, with 200 schedules: no firing missed or doubled, a run
in flight finishes and records once, owned objects are rewritten only where their content (the
hash annotation) changed. Prints the writes the upgrade caused."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import images
import pytest
from bulletin_operator.builders import HASH_ANNOTATION
from devstack.install import helm_install
from devstack.mailsink import MailSink
from devstack.operatorproc import OperatorProcess
from devstack.postgres import Postgres
from devstack.webhooks import WebhookServer
from helmchart import helm
from kubernetes import client
from support import (
    Cluster,
    condition,
    create_secrets,
    report_schedule,
    run_now_no_wait,
    wait_for,
    wait_for_run,
)

pytestmark = pytest.mark.faults
SCHEDULES = 200
MINUTELY = ("every-minute-0", "every-minute-1")
FROM = Path(os.environ.get("BULLETIN_CACHE", Path.home() / ".cache" / "bulletin")) / \
    "upgrade" / "from.json"
RELEASE = "up"


@pytest.fixture
def previous(cluster: Cluster) -> dict[str, Any]:
    """The previous release: its chart and images (imported into the node)."""
    if not FROM.exists():
        pytest.fail(f"{FROM} is missing: run `make images` (tests/upgrade/build.sh) first")
    found: dict[str, Any] = json.loads(FROM.read_text())
    for image in found["built"]["images"].values():
        cluster.node.import_image(Path(image["archive"]))
    return found


@pytest.fixture
def ops(cluster: Cluster, namespace: str, operator: OperatorProcess) -> Iterator[str]:
    """The release's namespace; the session's operator is stopped meanwhile."""
    name = f"{namespace}-ops"
    operator.stop()
    try:
        yield name
    finally:
        helm("uninstall", RELEASE, "--kubeconfig", str(cluster.kubeconfig), "--namespace",
             name, "--wait", "--timeout", "120s", check=False)
        cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)
        operator.start()


def _owned(cluster: Cluster, namespace: str) -> dict[tuple[str, str], tuple[str, str]]:
    """(kind, name) -> (resourceVersion, content hash) of every object the schedules own."""
    found: dict[tuple[str, str], tuple[str, str]] = {}
    rbac = client.RbacAuthorizationV1Api(cluster.api)
    for kind, listing in (
            ("CronJob", cluster.batch.list_namespaced_cron_job),
            ("ServiceAccount", cluster.core.list_namespaced_service_account),
            ("Role", rbac.list_namespaced_role),
            ("RoleBinding", rbac.list_namespaced_role_binding)):
        for obj in listing(namespace).items:
            annotations = obj.metadata.annotations or {}
            if HASH_ANNOTATION in annotations:
                found[(kind, obj.metadata.name)] = (obj.metadata.resource_version,
                                                    annotations[HASH_ANNOTATION])
    return found


def _schedules(cluster: Cluster, namespace: str) -> list[dict[str, Any]]:
    return list(cluster.custom.list_namespaced_custom_object(
        "bulletin.dev", "v1alpha1", namespace, "reportschedules")["items"])


def _minutes(cluster: Cluster, namespace: str, schedule: str) -> list[int]:
    """The minutes (since the epoch) the CronJob's Jobs were scheduled for, in order."""
    return sorted(int(j.metadata.name.rsplit("-", 1)[1])
                  for j in cluster.batch.list_namespaced_job(namespace).items
                  if j.metadata.name.startswith(f"{schedule}-")
                  and j.metadata.name.rsplit("-", 1)[1].isdigit())


def test_an_upgrade_from_the_previous_release_misses_and_repeats_nothing(
    cluster: Cluster, namespace: str, ops: str, previous: dict[str, Any], postgres: Postgres,
    smtp: MailSink, receiver: WebhookServer,
) -> None:
    old = previous["built"]["images"]
    helm_install(cluster.kubeconfig, RELEASE, ops, old["operator"]["image"],
                 old["runner"]["image"], "--set", f"watchNamespaces={{{namespace}}}",
                 chart=Path(previous["chart"]))
    create_secrets(cluster, namespace, postgres.url, smtp.port)
    for i in range(SCHEDULES - len(MINUTELY) - 1):
        cluster.create_rs(namespace, report_schedule(f"weekly-{i}"))
    for name in MINUTELY:
        cluster.create_rs(namespace, report_schedule(name, schedule={"cron": "* * * * *"}))
    # A run that spans the upgrade: its webhook answers 503 three times, 8-16 s apart.
    hook = {"email": {"smtpSecretRef": {"name": "smtp"}, "to": ["team@example.com"]},
            "webhooks": [{"name": "a", "url": receiver.url("/a")}],
            "retry": {"attempts": 6, "initialBackoffSeconds": 16, "maxBackoffSeconds": 32}}
    cluster.create_rs(namespace, report_schedule("mid-run", delivery=hook))
    wait_for(lambda: sum(condition(o, "Ready").get("status") == "True"
                         for o in _schedules(cluster, namespace)) == SCHEDULES,
             f"{SCHEDULES} schedules Ready under {previous['ref'][:12]}", timeout=300)
    wait_for(lambda: _minutes(cluster, namespace, MINUTELY[0]), "a minutely firing",
             timeout=90)
    receiver.fail("/a", [503, 503, 503])
    run_id = run_now_no_wait(cluster, namespace, "mid-run", "across")
    wait_for(lambda: receiver.received, "the mid-run webhook's first attempt", timeout=180)
    before = _owned(cluster, namespace)
    statuses = {o["metadata"]["name"]: o["metadata"]["resourceVersion"]
                for o in _schedules(cluster, namespace)}

    built = images.build()
    began = time.monotonic()
    helm_install(cluster.kubeconfig, RELEASE, ops, built["operator"].name, built["runner"].name,
                 "--reuse-values", command="upgrade")
    upgraded_at = time.time()
    assert len(receiver.delivered()) == 0, "the run ended before the upgrade: not mid-run"
    status = wait_for_run(cluster, namespace, "mid-run",
                          lambda s: s["lastRun"]["runId"] == run_id, timeout=240)
    assert status["lastRun"]["result"] == "Succeeded", status["lastRun"]
    assert [r.path for r in receiver.delivered()] == ["/a"]
    assert [h["runId"] for h in status["history"]].count(run_id) == 1

    def fired_after_upgrade() -> list[int] | None:
        minutes = _minutes(cluster, namespace, MINUTELY[0])
        return minutes if minutes and minutes[-1] * 60 > upgraded_at + 60 else None

    wait_for(fired_after_upgrade, "a minutely firing after the upgrade", timeout=180)
    for name in MINUTELY:
        minutes = _minutes(cluster, namespace, name)
        assert minutes == list(range(minutes[0], minutes[-1] + 1)), (name, minutes)

    after = _owned(cluster, namespace)
    assert set(after) == set(before)
    rewritten = {k for k in before if after[k][0] != before[k][0]}
    content_changed = {k for k in before if after[k][1] != before[k][1]}
    assert rewritten == content_changed
    now_statuses = {o["metadata"]["name"]: o["metadata"]["resourceVersion"]
                    for o in _schedules(cluster, namespace)}
    moved = sum(now_statuses[n] != v for n, v in statuses.items())
    kinds = {kind: sum(k[0] == kind for k in rewritten) for kind, _ in before}
    print(f"UPGRADE {previous['ref'][:12]} -> this checkout with {SCHEDULES} schedules in"
          f" {time.monotonic() - began:.1f}s: rewritten {kinds} (each one whose content hash"
          f" changed, no other); {moved} schedules written (status; the minutely and mid-run"
          f" ones run); minutely firings {[len(_minutes(cluster, namespace, n)) for n in MINUTELY]}"
          f" without a gap or a repeat")
