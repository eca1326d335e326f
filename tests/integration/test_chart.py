"""The Helm chart for real: helm lint and template, its objects accepted by the API server, and
the operator running as the chart's ServiceAccount (a real token) doing all of its work.

The operator here is our own process under that identity, not the session's admin `operator`
fixture. Both would act on every namespace, so this module must run before any test that starts
the fixture (it does: test_chart sorts before the test_delivery_*, test_operator, ... modules).
The CronJob's runner image tells whose CronJob it is.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import chartdocs
import pytest
import yaml
from bulletin_operator.settings import POD_DEFAULTS, OperatorConfig
from devstack.operatorproc import OperatorProcess
from helmchart import (
    CHART,
    helm,
    kubectl_apply,
    operator_account,
    render,
    service_account_kubeconfig,
)
from kubernetes import client
from localkube.kube import ApiError, Credentials, KubeClient, ns_path
from support import Cluster, condition, report_schedule, wait_for

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.own_operator
IMAGE = "bulletin-runner:chart"  # ours; the session's admin operator puts bulletin-runner:test


def test_chart_carries_the_crds_byte_identical() -> None:
    ours = {p.name: p.read_bytes() for p in (ROOT / "crds").glob("*.yaml")}
    charted = {p.name: p.read_bytes() for p in (CHART / "crds").glob("*.yaml")}
    assert ours, "no CRDs in crds/"
    assert sorted(charted) == sorted(ours)
    for name, content in ours.items():
        assert charted[name] == content, f"charts/bulletin/crds/{name} differs from crds/{name}"


def test_helm_lint_is_clean() -> None:
    out = helm("lint", "--strict", str(CHART)).stdout
    assert "1 chart(s) linted, 0 chart(s) failed" in out
    assert "[WARNING]" not in out and "[ERROR]" not in out, out


def test_template_renders_consistent_objects() -> None:
    objects = render("rel", "ops")
    kinds = sorted(o["kind"] for o in objects)
    assert kinds == ["ClusterRole"] * 3 + ["ClusterRoleBinding", "Deployment", "Service",
                                            "ServiceAccount", "ValidatingAdmissionPolicy",
                                            "ValidatingAdmissionPolicyBinding"]
    for obj in objects:
        assert obj["apiVersion"] and obj["metadata"]["name"].startswith("rel-")
        assert obj["metadata"]["labels"]["app.kubernetes.io/instance"] == "rel"
        if obj["kind"] in ("Deployment", "Service", "ServiceAccount"):
            assert obj["metadata"]["namespace"] == "ops"
    by_kind = {o["kind"]: o for o in objects if o["metadata"]["name"] == "rel-operator"}
    assert {o["metadata"]["name"] for o in objects if o["kind"] == "ClusterRole"} == {
        "rel-operator", "rel-view", "rel-edit"}
    assert operator_account(objects) == ("ops", "rel-operator")
    binding = by_kind["ClusterRoleBinding"]
    assert binding["roleRef"]["name"] == by_kind["ClusterRole"]["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "rel-operator", "namespace": "ops"}]
    pod = by_kind["Deployment"]["spec"]["template"]
    selector = by_kind["Deployment"]["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod["metadata"]["labels"].items()
    container = pod["spec"]["containers"][0]
    app_version = _chart()["appVersion"]
    assert container["image"] == f"ghcr.io/bulletin-dev/bulletin-operator:{app_version}"
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env == {"BULLETIN_RUNNER_IMAGE": f"ghcr.io/bulletin-dev/bulletin-runner:{app_version}",
                   "BULLETIN_RUNNER_PULL_POLICY": "IfNotPresent", "BULLETIN_WORKERS": "20",
                   "BULLETIN_ALLOWED_DOMAINS": "", "BULLETIN_ALLOW_PRIVATE_NETWORKS": "",
                   "BULLETIN_ALLOWED_URL_HOSTS": "", "BULLETIN_RUNNER_POD_DEFAULTS": "{}",
                   "BULLETIN_METRICS_PORT": "8080",
                   "BULLETIN_BURST_POLICY": '{"maxParallelism":4,"maxShards":10}'}
    assert container["command"] == ["kopf", "run", "--all-namespaces", "--standalone",
                                    "--liveness=http://0.0.0.0:8081/healthz",
                                    "-m", "bulletin_operator.handlers"]
    assert "imagePullSecrets" not in pod["spec"]

    custom = render("rel", "ops", "image.tag=9.9.9", "runnerImage.repository=reg.local/runner",
                    "runnerImage.tag=1.0", "workers=4", "nodeSelector.disk=ssd",
                    "allowedEmailDomains=example.com")
    spec = next(o for o in custom if o["kind"] == "Deployment")["spec"]["template"]["spec"]
    env = {e["name"]: e["value"] for e in spec["containers"][0]["env"]}
    assert spec["containers"][0]["image"].endswith(":9.9.9")
    assert env["BULLETIN_RUNNER_IMAGE"] == "reg.local/runner:1.0"
    assert env["BULLETIN_WORKERS"] == "4"
    assert env["BULLETIN_ALLOWED_DOMAINS"] == "example.com"
    assert spec["nodeSelector"] == {"disk": "ssd"}


def test_runner_pod_values_reach_the_operator_as_one_json_variable() -> None:
    objects = render("rel", "ops", "runnerPod.priorityClassName=reports",
                     "runnerPod.podAnnotations.linkerd\\.io/inject=disabled",
                     "runnerPod.resources.limits.memory=2Gi",
                     "runnerPod.imagePullSecrets[0].name=registry",
                     "imagePullSecrets[0].name=operator-registry")
    pod = next(o for o in objects if o["kind"] == "Deployment")["spec"]["template"]["spec"]
    assert pod["imagePullSecrets"] == [{"name": "operator-registry"}]
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    pod_defaults = OperatorConfig.from_env({POD_DEFAULTS: env[POD_DEFAULTS]}).runner.pod
    assert pod_defaults.wire() == {  # empty values are left out: they take the defaults
        "priorityClassName": "reports", "podAnnotations": {"linkerd.io/inject": "disabled"},
        "resources": {"limits": {"memory": "2Gi"}}, "imagePullSecrets": [{"name": "registry"}]}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("workers=many", "at '/workers': got string, want integer"),
        ("image.pullPolicy=Sometimes", "value must be one of 'Always', 'IfNotPresent', 'Never'"),
        ("runnerImage.registry=x", "additional properties 'registry' not allowed"),
        ("runnerPod.podLabels.bulletin\\.dev/schedule=x",
         "invalid propertyName 'bulletin.dev/schedule'"),
        ("runnerPod.resources.limits.memory=lots", "'lots' does not match pattern"),
        ("runnerPod.tolerations[0].effect=Sometimes", "value must be one of 'NoSchedule'"),
        ("watchNamespaces={Team_A}", "'Team_A' does not match pattern"),
        ("runnerNetworkPolicy.database.cidrs={10.0.0.0}", "'10.0.0.0' does not match pattern"),
        ("runnerNetworkPolicy.enabled=true",
         "runnerNetworkPolicy.enabled needs runnerNetworkPolicy.namespaces or watchNamespaces"),
    ],
)
def test_a_wrong_value_fails_helm_template_with_a_clear_message(value: str,
                                                                message: str) -> None:
    proc = helm("template", "rel", str(CHART), "--set", value, check=False)
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr


def test_values_are_documented_and_generated_parts_are_current() -> None:
    assert chartdocs.undocumented(chartdocs.VALUES.read_text()) == []
    assert chartdocs.SCHEMA.read_text() == chartdocs.schema_text(), \
        "values.schema.json is stale: run python tests/chartdocs.py"
    assert chartdocs.README.read_text() == chartdocs.readme_text(), \
        "the values table in charts/bulletin/README.md is stale: run python tests/chartdocs.py"
    rows = {r.path for r in chartdocs.documented(chartdocs.VALUES.read_text())}
    assert {"runnerPod.podAnnotations", "watchNamespaces",
            "runnerNetworkPolicy.webhooks.ports"} <= rows


def test_monitoring_objects_are_valid_for_the_api_server(cluster: Cluster) -> None:
    # The Prometheus Operator's CRDs are not installed here: the ServiceMonitor and
    # PrometheusRule are checked by tests/unit/test_chart_monitoring.py and promtool.
    objects = render("mon", "default", "metrics.dashboard.enabled=true")
    core = [o for o in objects if o["kind"] in ("Service", "ConfigMap")]
    assert sorted(o["kind"] for o in core) == ["ConfigMap", "Service"]
    out = kubectl_apply(cluster.kubectl_bin, cluster.kubeconfig, core, "--dry-run=server")
    assert "service/mon-metrics serverside-applied (server dry run)" in out, out
    assert "configmap/mon-dashboard serverside-applied (server dry run)" in out, out


def test_platform_values_are_valid_for_the_api_server(cluster: Cluster) -> None:
    """What platforms set (tests/unit/test_chart_platform.py renders each) is accepted by the
    API server as rendered: a digest reference, ServiceAccount and pod annotations, pod labels,
    a PriorityClass, topology spread and the PodDisruptionBudget."""
    digest = "sha256:" + "0123456789abcdef" * 4
    objects = render(
        "plat", "default", "replicas=2", f"image.digest={digest}", f"runnerImage.digest={digest}",
        "serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn=arn:aws:iam::1:role/b",
        "podLabels.team=platform", "podAnnotations.example\\.com/owner=data",
        "priorityClassName=platform-critical",
        "topologySpreadConstraints[0].maxSkew=1",
        "topologySpreadConstraints[0].topologyKey=kubernetes.io/hostname",
        "topologySpreadConstraints[0].whenUnsatisfiable=ScheduleAnyway",
        "podDisruptionBudget.minAvailable=1")
    platform = [o for o in objects
                if o["kind"] in ("Deployment", "ServiceAccount", "PodDisruptionBudget")]
    assert len(platform) == 3
    out = kubectl_apply(cluster.kubectl_bin, cluster.kubeconfig, platform, "--dry-run=server")
    for applied in ("deployment.apps/plat-operator", "serviceaccount/plat-operator",
                    "poddisruptionbudget.policy/plat-operator"):
        assert f"{applied} serverside-applied (server dry run)" in out, out


def test_console_objects_are_valid_for_the_api_server(cluster: Cluster) -> None:
    """console.enabled with header auth and an Ingress (tests/integration/test_console_chart.py
    runs the console itself)."""
    objects = render("con", "default", "console.enabled=true", "console.auth=header",
                     "console.ingress.enabled=true", "console.ingress.host=reports.example.com",
                     "console.ingress.tls[0].hosts[0]=reports.example.com",
                     "console.ingress.tls[0].secretName=console-tls")
    console = [o for o in objects if "console" in o["metadata"]["name"]]
    assert sorted(o["kind"] for o in console) == [
        "ClusterRole", "ClusterRoleBinding", "Deployment", "Ingress", "Service", "ServiceAccount"]
    out = kubectl_apply(cluster.kubectl_bin, cluster.kubeconfig, console, "--dry-run=server")
    for applied in ("deployment.apps/con-console", "ingress.networking.k8s.io/con-console",
                    "clusterrole.rbac.authorization.k8s.io/con-console-impersonate"):
        assert f"{applied} serverside-applied (server dry run)" in out, out


@pytest.fixture
def release(cluster: Cluster) -> Iterator[tuple[str, str, list[dict[str, Any]]]]:
    """The chart rendered as a fresh release into its own namespace; its cluster-scoped
    objects and namespace are removed afterwards."""
    name = f"bt-{uuid.uuid4().hex[:8]}"
    ops = f"{name}-system"
    cluster.kubectl("create", "namespace", ops)
    objects = render(name, ops)
    yield name, ops, objects
    cluster.kubectl("delete", "--ignore-not-found", "--wait=false",
                    f"clusterrolebinding/{name}-operator", f"clusterrole/{name}-operator",
                    f"namespace/{ops}")


def test_operator_runs_as_the_charts_service_account(
    cluster: Cluster, namespace: str, release: tuple[str, str, list[dict[str, Any]]],
    tmp_path: Path,
) -> None:
    _name, ops, objects = release
    # Everything the chart renders is valid for the API server, the Deployment included
    # (server-side dry run: there is no image to run here).
    kubectl_apply(cluster.kubectl_bin, cluster.kubeconfig, objects, "--dry-run=server")
    kubectl_apply(cluster.kubectl_bin, cluster.kubeconfig,
                  [o for o in objects if o["kind"] != "Deployment"])
    sa_ns, sa_name = operator_account(objects)
    assert sa_ns == ops
    kubeconfig = service_account_kubeconfig(cluster.kubeconfig, sa_ns, sa_name,
                                            tmp_path / "operator.kubeconfig")
    as_operator = KubeClient(Credentials.from_kubeconfig(kubeconfig))
    with pytest.raises(ApiError) as denied:
        as_operator.get(ns_path(namespace, "secrets"))
    assert denied.value.status == 403, "the operator must not list Secrets (it reads labels only)"

    proc = OperatorProcess(kubeconfig, tmp_path / "operator.log",
                           env={"BULLETIN_RUNNER_IMAGE": IMAGE,
                                # no pulls: the node's namespace has no route to a registry
                                "BULLETIN_RUNNER_PULL_POLICY": "Never"}).start()
    try:
        _exercise(cluster, namespace)
    finally:
        proc.stop()
    # Lines of a namespace that another test is deleting are no sign of missing RBAC: the
    # API server refuses anything new there with a 403 (NamespaceTerminating).
    log = "\n".join(line for line in proc.log.read_text().splitlines()
                    if "NamespaceTerminating" not in line)
    # A 403 as a status code, not the milliseconds of a timestamp ("19:52:25,403").
    for sign in (r"Forbidden", r"(?<![,\d])403\b", r"Traceback"):
        assert not re.search(sign, log), f"operator log shows {sign!r}:\n{log[-4000:]}"


def _exercise(cluster: Cluster, namespace: str) -> None:
    """Create, update, run now and invalidate one schedule; each step needs its own rights."""
    def explain() -> str:
        return cluster.diagnose(namespace)

    cluster.create_rs(namespace, report_schedule("charted"))
    cronjob = wait_for(lambda: cluster.cronjob(namespace, "charted"), "the CronJob",
                       explain=explain)
    image = cronjob.spec.job_template.spec.template.spec.containers[0].image
    assert image == IMAGE, f"the CronJob is another operator's ({image}): see the docstring"
    wait_for(lambda: _ready(cluster, namespace, "charted", 1), "Ready=True", explain=explain)
    rbac = client.RbacAuthorizationV1Api(cluster.api)
    for read in (cluster.core.read_namespaced_service_account,
                 rbac.read_namespaced_role, rbac.read_namespaced_role_binding):
        assert read("charted-runner", namespace)

    # A spec change replaces the CronJob.
    cluster.patch_rs(namespace, "charted", {"spec": {"suspend": True}})
    wait_for(lambda: cluster.cronjob(namespace, "charted").spec.suspend is True,
             "the CronJob suspended", explain=explain)
    wait_for(lambda: _ready(cluster, namespace, "charted", 2), "generation 2 Ready",
             explain=explain)

    # Run now: a Job and a Normal Event.
    cluster.patch_rs(namespace, "charted",
                     {"metadata": {"annotations": {"bulletin.dev/run-requested-at": "chart-1"}}})
    wait_for(lambda: (cluster.get_rs(namespace, "charted").get("status") or {})
             .get("lastRunRequest") == "chart-1", "the run request echoed", explain=explain)
    jobs = cluster.batch.list_namespaced_job(namespace).items
    assert [j.metadata.annotations["bulletin.dev/run-requested-at"] for j in jobs] == ["chart-1"]
    wait_for(lambda: _events(cluster, namespace, "RunRequested"), "the RunRequested Event")

    # An invalid spec: Stalled, a Warning Event, and the CronJob deleted.
    cluster.patch_rs(namespace, "charted", {"spec": {"schedule": {"timeZone": "Mars/Olympus"}}})
    wait_for(lambda: condition(cluster.get_rs(namespace, "charted"), "Stalled")
             .get("status") == "True", "Stalled=True", explain=explain)
    wait_for(lambda: cluster.cronjob(namespace, "charted") is None, "the CronJob deleted")
    wait_for(lambda: _events(cluster, namespace, "InvalidSpec"), "the InvalidSpec Event")


def _chart() -> dict[str, Any]:
    chart: dict[str, Any] = yaml.safe_load((CHART / "Chart.yaml").read_text())
    return chart


def _ready(cluster: Cluster, namespace: str, name: str, generation: int) -> bool:
    obj = cluster.get_rs(namespace, name)
    return (condition(obj, "Ready").get("status") == "True"
            and (obj.get("status") or {}).get("observedGeneration") == generation)


def _events(cluster: Cluster, namespace: str, reason: str) -> list[Any]:
    return list(cluster.core.list_namespaced_event(
        namespace, field_selector=f"reason={reason}").items)
