"""The chart installed for listed namespaces only: the operator (our process, as the chart's
ServiceAccount with a real token, running the chart's own kopf arguments) reconciles a schedule
in a listed namespace, with the chart's runner pod defaults merged with the schedule's
spec.runner, and has no rights in any other namespace. The runner egress NetworkPolicy is
applied to the listed namespaces (accepted by the API server; nothing here enforces it: the
harness runs no network policy engine).

Like test_chart.py, this module runs before the session's admin operator starts."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from devstack.operatorproc import OperatorProcess
from helmchart import kubectl_apply, operator_account, render, service_account_kubeconfig
from localkube.kube import ApiError, Credentials, KubeClient, ns_path
from support import Cluster, condition, report_schedule, wait_for

pytestmark = pytest.mark.own_operator
IMAGE = "bulletin-runner:chart"


@pytest.fixture
def listed(cluster: Cluster) -> Iterator[tuple[str, str, str]]:
    """A release name and two fresh namespaces it is installed for; all removed afterwards."""
    release = f"bn-{uuid.uuid4().hex[:8]}"
    names = (f"{release}-a", f"{release}-b")
    for name in names:
        cluster.kubectl("create", "namespace", name)
    yield release, *names
    cluster.kubectl("delete", "--ignore-not-found", "--wait=false",
                    f"clusterrolebinding/{release}-operator", f"clusterrole/{release}-operator",
                    *(f"namespace/{n}" for n in names), f"namespace/{release}-system")


def _pod_template(cluster: Cluster, namespace: str, name: str) -> dict[str, Any] | None:
    cronjob = cluster.cronjob(namespace, name)
    if cronjob is None:
        return None
    raw: dict[str, Any] = cluster.api.sanitize_for_serialization(
        cronjob.spec.job_template.spec.template)
    return raw


def test_namespaced_install_reconciles_listed_namespaces_only(
    cluster: Cluster, namespace: str, listed: tuple[str, str, str], tmp_path: Path,
) -> None:
    release, first, second = listed
    ops = f"{release}-system"
    cluster.kubectl("create", "namespace", ops)
    objects = render(
        release, ops, f"watchNamespaces={{{first},{second}}}",
        "runnerPod.podLabels.team=platform", "runnerPod.nodeSelector.pool=reports",
        "runnerPod.podAnnotations.linkerd\\.io/inject=disabled",
        "runnerPod.resources.requests.cpu=50m",
        "runnerPodPolicy.podLabelKeys={team}", "runnerPodPolicy.nodeSelectorKeys={disk}",
        "runnerNetworkPolicy.enabled=true", "runnerNetworkPolicy.apiServer.cidrs={10.0.0.1/32}",
        "runnerNetworkPolicy.database.cidrs={10.1.0.0/16}",
        "runnerNetworkPolicy.webhooks.cidrs={0.0.0.0/0}")
    kinds = sorted((o["kind"], o["metadata"].get("namespace", "")) for o in objects
                   if o["kind"] in ("Role", "RoleBinding", "NetworkPolicy", "ClusterRole"))
    assert [k for k in kinds if k[0] != "ClusterRole"] == [
        ("NetworkPolicy", first), ("NetworkPolicy", second), ("Role", first), ("Role", second),
        ("RoleBinding", first), ("RoleBinding", second)]
    kubectl_apply(cluster.kubectl_bin, cluster.kubeconfig, objects, "--dry-run=server")
    kubectl_apply(cluster.kubectl_bin, cluster.kubeconfig,
                  [o for o in objects if o["kind"] != "Deployment"])
    policy = cluster.kubectl("get", "networkpolicy", "-n", first, f"{release}-runner-egress",
                             "-o", "json").stdout
    assert len(json.loads(policy)["spec"]["egress"]) == 4  # DNS, API server, database, webhooks

    kubeconfig = service_account_kubeconfig(cluster.kubeconfig, *operator_account(objects),
                                            tmp_path / "operator.kubeconfig")
    as_operator = KubeClient(Credentials.from_kubeconfig(kubeconfig))
    for path in (ns_path(namespace, "reportschedules", group="bulletin.dev", version="v1alpha1"),
                 ns_path(namespace, "cronjobs", group="batch"),
                 "/apis/batch/v1/cronjobs", "/apis/bulletin.dev/v1alpha1/reportschedules"):
        with pytest.raises(ApiError) as denied:
            as_operator.get(path)
        assert denied.value.status == 403, path
    assert as_operator.get(ns_path(second, "cronjobs", group="batch"))["items"] == []

    deployment = next(o for o in objects if o["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    scope = [a for a in container["command"] if a.startswith("--namespace")]
    assert scope == [f"--namespace={first}", f"--namespace={second}"]
    env = {e["name"]: e["value"] for e in container["env"]}
    proc = OperatorProcess(kubeconfig, tmp_path / "operator.log", scope=scope, env={
        **env, "BULLETIN_RUNNER_IMAGE": IMAGE, "BULLETIN_RUNNER_PULL_POLICY": "Never"}).start()
    try:
        cluster.create_rs(namespace, report_schedule("elsewhere"))
        cluster.create_rs(second, report_schedule("placed", runner={
            "podLabels": {"team": "analytics"}, "nodeSelector": {"disk": "ssd"},
            "resources": {"requests": {"cpu": "1", "memory": "1Gi"},
                          "limits": {"memory": "1Gi"}}}))
        template = wait_for(lambda: _pod_template(cluster, second, "placed"), "the CronJob",
                            explain=lambda: cluster.diagnose(second))
        wait_for(lambda: condition(cluster.get_rs(second, "placed"), "Ready")
                 .get("status") == "True", "Ready=True", explain=lambda: proc.log.read_text())
    finally:
        proc.stop()
    labels = template["metadata"]["labels"]
    assert labels["team"] == "analytics" and labels["app.kubernetes.io/component"] == "runner"
    assert template["metadata"]["annotations"] == {"linkerd.io/inject": "disabled"}
    assert template["spec"]["nodeSelector"] == {"pool": "reports", "disk": "ssd"}
    assert template["spec"]["containers"][0]["resources"] == {
        "requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "1Gi"}}
    assert template["spec"]["securityContext"]["runAsNonRoot"] is True
    # The schedule outside the listed namespaces was never touched.
    assert "status" not in cluster.get_rs(namespace, "elsewhere")
    assert cluster.cronjob(namespace, "elsewhere") is None
    log = proc.log.read_text()
    assert namespace not in log, log[-3000:]
    for sign in ("Forbidden", "Not enough permissions", "Traceback"):
        assert sign not in log, f"operator log shows {sign!r}:\n{log[-4000:]}"


def test_spec_runner_is_validated_at_admission_and_explained(
        cluster: Cluster, namespace: str) -> None:
    bad = report_schedule("bad", runner={"podLabels": {"app.kubernetes.io/component": "x"},
                                         "priorityClassName": "system-node-critical"})
    proc = cluster.kubectl("create", "-n", namespace, "-f", "-", input_=json.dumps(bad),
                           check=False)
    assert proc.returncode != 0
    assert "neither Bulletin's nor the Job controller's" in proc.stderr, proc.stderr
    assert "system-* priority classes are for cluster components" in proc.stderr, proc.stderr
    explain = cluster.kubectl("explain", "reportschedule.spec.runner.podAnnotations").stdout
    assert "sidecar.istio.io/inject" in explain, explain
