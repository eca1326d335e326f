"""The runner pod policy for real: a tenant who may only write ReportSchedules asks spec.runner
for a tolerate-all toleration, eight GPUs without a memory limit, a service-mesh annotation that
bypasses egress control and an unlabelled image pull Secret. Under the default policy each
schedule is Ready=False/Stalled with reason RunnerPodNotAllowed and gets no CronJob (nor a
run-now Job); with the chart's runnerPodPolicy allowing them, the same schedules are accepted.
Real users by impersonation, real RBAC, the operator as a real process."""

from __future__ import annotations

import base64
import functools
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from bulletin_operator.settings import POD_POLICY
from devstack.operatorproc import OperatorProcess, local_env
from helmchart import CHART, helm
from kubernetes import client
from support import (
    Cluster,
    as_tenant,
    condition,
    event_messages,
    ready_cronjob,
    report_schedule,
    run_now_no_wait,
    wait_for,
)

G, V, P = "bulletin.dev", "v1alpha1", "reportschedules"
TENANT = "mallory@example.com"
REGISTRY = "team-registry"
# Each attack of issue 19: spec.runner, and what the refusal must name.
ATTACKS: dict[str, tuple[dict[str, Any], str]] = {
    "tolerate-all": ({"tolerations": [{"operator": "Exists"}]},
                     "spec.runner.tolerations[0]: tolerating every taint is not allowed by the"
                     " operator's runnerPodPolicy"),
    "gpus": ({"resources": {"limits": {"nvidia.com/gpu": "8"}}},
             "spec.runner.resources.limits[nvidia.com/gpu]: nvidia.com/gpu is not allowed by"
             " the operator's runnerPodPolicy (maxResources: cpu 2, memory 4Gi)"),
    "mesh": ({"podAnnotations": {"traffic.sidecar.istio.io/excludeOutboundIPRanges": "0.0.0.0/0"}},
             "spec.runner.podAnnotations[traffic.sidecar.istio.io/excludeOutboundIPRanges]: key"
             " not allowed by the operator's runnerPodPolicy (podAnnotationKeys: none)"),
    "pull-secret": ({"imagePullSecrets": [{"name": REGISTRY}]},
                    f"Secret '{REGISTRY}' (spec.runner.imagePullSecrets[0]) is not labelled"
                    " bulletin.dev/usable-by-reports=imagepull"),
}
# What an administrator writes to allow them (the pull Secret's owner labels it instead).
ALLOWING = {"maxResources": {"cpu": "2", "memory": "4Gi", "nvidia.com/gpu": "8"},
            "requiredLimits": [], "tolerateEveryTaint": True,
            "podAnnotationKeys": ["traffic.sidecar.istio.io/*"]}


@pytest.fixture
def tenant(cluster: Cluster, namespace: str) -> client.CustomObjectsApi:
    """A user who may write ReportSchedules here, and nothing else."""
    return as_tenant(cluster, namespace, TENANT)


def _registry_secret(cluster: Cluster, namespace: str, labels: dict[str, str]) -> None:
    auth = {"auths": {"registry.example.com": {"auth": base64.b64encode(b"u:p").decode()}}}
    cluster.core.create_namespaced_secret(namespace, client.V1Secret(
        metadata=client.V1ObjectMeta(name=REGISTRY, labels=labels),
        type="kubernetes.io/dockerconfigjson",
        string_data={".dockerconfigjson": json.dumps(auth)}))


def _create_attacks(tenant: client.CustomObjectsApi, namespace: str) -> None:
    for name, (runner, _message) in ATTACKS.items():
        tenant.create_namespaced_custom_object(G, V, namespace, P,
                                               report_schedule(name, runner=runner))


def _refused(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    obj = cluster.get_rs(namespace, name)
    stalled = condition(obj, "Stalled")
    return {"stalled": stalled, "ready": condition(obj, "Ready")} \
        if stalled.get("status") == "True" else {}


def test_a_tenant_cannot_ask_for_more_than_the_default_policy_allows(
    cluster: Cluster, operator: OperatorProcess, namespace: str,
    tenant: client.CustomObjectsApi,
) -> None:
    _registry_secret(cluster, namespace, labels={})
    _create_attacks(tenant, namespace)
    for name, (_runner, message) in ATTACKS.items():
        found = wait_for(functools.partial(_refused, cluster, namespace, name),
                         f"{name} Stalled", explain=lambda: cluster.diagnose(namespace))
        print(f"{name}: {found['stalled']['message']}")
        assert found["stalled"]["reason"] == found["ready"]["reason"] == "RunnerPodNotAllowed"
        assert found["ready"]["status"] == "False"
        assert message in found["stalled"]["message"]
    assert cluster.batch.list_namespaced_cron_job(namespace).items == []

    # Run-now is refused the same way: no Job is created.
    run_now_no_wait(cluster, namespace, "tolerate-all", "now")
    wait_for(lambda: cluster.get_rs(namespace, "tolerate-all")["status"].get("lastRunRequest")
             == "now", "run-now request answered")
    assert cluster.batch.list_namespaced_job(namespace).items == []
    assert event_messages(cluster, namespace, "RunNowRefused",
                          lambda e: "spec.runner.tolerations[0]" in (e.message or ""))


def _chart_policy_env(tmp_path: Path) -> str:
    """BULLETIN_RUNNER_POD_POLICY as the chart renders it from a values file."""
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"runnerPodPolicy": ALLOWING}))
    out = helm("template", "rel", str(CHART), "--namespace", "ops", "-f", str(values)).stdout
    [deployment] = [d for d in yaml.safe_load_all(out) if d and d["kind"] == "Deployment"]
    env = {e["name"]: e.get("value") for e in
           deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    return str(env[POD_POLICY])


@pytest.mark.own_operator  # before the session's operator: ours has the allowing policy
def test_the_same_asks_are_accepted_when_the_administrator_allows_them(
    cluster: Cluster, namespace: str, tenant: client.CustomObjectsApi, runner_image: str,
    tmp_path: Path,
) -> None:
    policy = _chart_policy_env(tmp_path)
    assert json.loads(policy) == ALLOWING
    _registry_secret(cluster, namespace, labels={"bulletin.dev/usable-by-reports": "imagepull"})
    operator = OperatorProcess(cluster.kubeconfig, tmp_path / "operator.log",
                               env={**local_env(runner_image), POD_POLICY: policy},
                               scope=[f"--namespace={namespace}"]).start()
    try:
        _create_attacks(tenant, namespace)
        pods = {name: ready_cronjob(cluster, namespace, name).spec.job_template.spec.template
                for name in ATTACKS}
    finally:
        operator.stop()
    assert [t.operator for t in pods["tolerate-all"].spec.tolerations] == ["Exists"]
    limits = pods["gpus"].spec.containers[0].resources.limits
    assert limits == {"nvidia.com/gpu": "8"}
    assert pods["mesh"].metadata.annotations[
        "traffic.sidecar.istio.io/excludeOutboundIPRanges"] == "0.0.0.0/0"
    assert [s.name for s in pods["pull-secret"].spec.image_pull_secrets] == [REGISTRY]
    print("accepted:", ", ".join(sorted(pods)))


@pytest.mark.own_operator
def test_an_invalid_policy_keeps_the_operator_from_starting(
        cluster: Cluster, namespace: str, runner_image: str, tmp_path: Path) -> None:
    operator = OperatorProcess(cluster.kubeconfig, tmp_path / "operator.log",
                               env={**local_env(runner_image),
                                    POD_POLICY: '{"tolerateEveryTaint": "sometimes"}'},
                               scope=[f"--namespace={namespace}"])
    try:
        # kopf stops when a startup handler failed permanently
        with pytest.raises(RuntimeError, match=r"operator exited"):
            operator.start(timeout=20)
    finally:
        operator.stop()
    log = operator.log.read_text()
    assert "Activity 'startup' failed permanently: BULLETIN_RUNNER_POD_POLICY (chart value" \
        " runnerPodPolicy) is not a valid runner pod policy" in log
    assert "tolerateEveryTaint" in log
