"""The runner pod policy: what a schedule's spec.runner may ask of its pod. Each attack of issue 19
is refused under the default policy with a message naming the field, and allowed once the
administrator allows it; the operator's own defaults are never checked."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import chartdocs
import kopf
import pytest
import yaml
from bulletin.api.crd import openapi_schema
from bulletin.api.podpolicy import RunnerPodPolicy, quantity, refusal, violations
from bulletin.api.runnerpod import RunnerPod, ScheduleRunnerPod
from bulletin.api.spec import ReportScheduleSpec
from bulletin_operator import builders, settings

DEFAULT = RunnerPodPolicy()
TOLERATE_ALL = {"tolerations": [{"operator": "Exists"}]}
CONTROL_PLANE = {"tolerations": [{"key": "node-role.kubernetes.io/control-plane",
                                  "operator": "Exists", "effect": "NoSchedule"}],
                 "nodeSelector": {"node-role.kubernetes.io/control-plane": ""}}
GPU = {"resources": {"limits": {"nvidia.com/gpu": "8"}}}
MESH = {"podAnnotations": {"traffic.sidecar.istio.io/excludeOutboundIPRanges": "0.0.0.0/0",
                           "sidecar.istio.io/inject": "false"}}


def _runner(value: dict[str, Any]) -> ScheduleRunnerPod:
    return ScheduleRunnerPod.model_validate(value)


def _policy(value: dict[str, Any]) -> RunnerPodPolicy:
    return RunnerPodPolicy.model_validate(value)


def _no_secrets(name: str) -> dict[str, str] | None:
    raise AssertionError(f"no Secret should be looked up ({name})")


def test_tolerating_every_taint_is_refused_unless_the_policy_says_so() -> None:
    assert violations(DEFAULT, _runner(TOLERATE_ALL)) == [
        "spec.runner.tolerations[0]: tolerating every taint is not allowed by the operator's"
        " runnerPodPolicy (tolerateEveryTaint: false; allowed tolerations: none)"]
    # An allowed key does not open every key.
    keyed = _policy({"tolerations": [{"key": "*"}]})
    assert "tolerating every taint" in violations(keyed, _runner(TOLERATE_ALL))[0]
    assert violations(_policy({"tolerateEveryTaint": True}), _runner(TOLERATE_ALL)) == []


def test_control_plane_placement_is_refused_and_allowed_by_key_and_effect() -> None:
    found = violations(DEFAULT, _runner(CONTROL_PLANE))
    assert found == [
        "spec.runner.nodeSelector[node-role.kubernetes.io/control-plane]: key not allowed by the"
        " operator's runnerPodPolicy (nodeSelectorKeys: none)",
        "spec.runner.tolerations[0]: tolerating 'node-role.kubernetes.io/control-plane'"
        " (NoSchedule) is not allowed by the operator's runnerPodPolicy (allowed tolerations:"
        " none)"]
    allowed = _policy({"nodeSelectorKeys": ["node-role.kubernetes.io/*"], "tolerations": [
        {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]})
    assert violations(allowed, _runner(CONTROL_PLANE)) == []
    # The rule names one effect: a toleration of every effect of the key asks for more.
    every_effect = _runner({"tolerations": [{"key": "node-role.kubernetes.io/control-plane",
                                             "operator": "Exists"}]})
    assert violations(allowed, every_effect) == [
        "spec.runner.tolerations[0]: tolerating 'node-role.kubernetes.io/control-plane' (every"
        " effect) is not allowed by the operator's runnerPodPolicy (allowed tolerations:"
        " node-role.kubernetes.io/control-plane:NoSchedule)"]
    assert violations(_policy({"tolerations": [{"key": "node-role.kubernetes.io/control-plane"}]}),
                      every_effect) == []


def test_a_gpu_without_memory_limit_is_refused_and_allowed_when_bounded() -> None:
    assert violations(DEFAULT, _runner(GPU)) == [
        "spec.runner.resources.limits[nvidia.com/gpu]: nvidia.com/gpu is not allowed by the"
        " operator's runnerPodPolicy (maxResources: cpu 2, memory 4Gi)",
        "spec.runner.resources.limits[memory]: required by the operator's runnerPodPolicy"
        " (requiredLimits: memory)"]
    gpus = _policy({"maxResources": {"cpu": "2", "memory": "8Gi", "nvidia.com/gpu": "1"}})
    assert violations(gpus, _runner({"resources": {"limits": {"nvidia.com/gpu": "1",
                                                               "memory": "8Gi"}}})) == []
    assert violations(gpus, _runner({"resources": {"limits": {"nvidia.com/gpu": "8",
                                                               "memory": "8Gi"}}})) == [
        "spec.runner.resources.limits[nvidia.com/gpu]: 8 is more than the operator's"
        " runnerPodPolicy allows (maxResources: cpu 2, memory 8Gi, nvidia.com/gpu 1)"]
    assert violations(_policy({"maxResources": {"nvidia.com/gpu": "8"}, "requiredLimits": []}),
                      _runner(GPU)) == []


@pytest.mark.parametrize("resources", [{}, {"requests": {"memory": "1Gi"}},
                                       {"limits": {"cpu": "1"}}])
def test_resources_without_a_memory_limit_are_refused(resources: dict[str, Any]) -> None:
    # resources replace the operator's default as a whole: {} would leave memory unbounded
    found = violations(DEFAULT, _runner({"resources": resources}))
    assert found == ["spec.runner.resources.limits[memory]: required by the operator's"
                     " runnerPodPolicy (requiredLimits: memory)"]


def test_requests_are_bounded_like_limits() -> None:
    huge = _runner({"resources": {"requests": {"memory": "64Gi"}, "limits": {"memory": "4Gi"}}})
    assert violations(DEFAULT, huge) == [
        "spec.runner.resources.requests[memory]: 64Gi is more than the operator's"
        " runnerPodPolicy allows (maxResources: cpu 2, memory 4Gi)"]


@pytest.mark.parametrize(("asked", "bound", "allowed"), [
    ("500m", "1", True), ("1", "1", True), ("1001m", "1", False), ("1.5", "2", True),
    ("1024Mi", "1Gi", True), ("1025Mi", "1Gi", False), ("1G", "1Gi", True),
    ("1Gi", "1G", False), ("1000k", "1M", True), ("2Ki", "2k", False),
])
def test_quantities_compare_by_value(asked: str, bound: str, allowed: bool) -> None:
    policy = _policy({"maxResources": {"memory": bound}})
    runner = _runner({"resources": {"limits": {"memory": asked}}})
    assert (violations(policy, runner) == []) is allowed


def test_quantities_parse_as_kubernetes_writes_them() -> None:
    assert quantity("500m") == Decimal("0.5")
    assert quantity("1Gi") == quantity("1024Mi") == 2**30
    assert quantity("1k") == 1000 and quantity("1.5Ki") == 1536
    with pytest.raises(ValueError, match="not a Kubernetes quantity"):
        quantity("1K")


def test_mesh_annotations_are_refused_and_allowed_by_key_or_prefix() -> None:
    assert violations(DEFAULT, _runner(MESH)) == [
        "spec.runner.podAnnotations[traffic.sidecar.istio.io/excludeOutboundIPRanges]: key not"
        " allowed by the operator's runnerPodPolicy (podAnnotationKeys: none)",
        "spec.runner.podAnnotations[sidecar.istio.io/inject]: key not allowed by the operator's"
        " runnerPodPolicy (podAnnotationKeys: none)"]
    inject = _policy({"podAnnotationKeys": ["sidecar.istio.io/inject"]})
    assert violations(inject, _runner(MESH)) == [
        "spec.runner.podAnnotations[traffic.sidecar.istio.io/excludeOutboundIPRanges]: key not"
        " allowed by the operator's runnerPodPolicy (podAnnotationKeys:"
        " sidecar.istio.io/inject)"]
    # A prefix is a prefix of the key, not of a longer domain.
    assert len(violations(_policy({"podAnnotationKeys": ["sidecar.istio.io/*"]}),
                          _runner(MESH))) == 1
    assert violations(_policy({"podAnnotationKeys": ["*sidecar.istio.io/*"]}),
                      _runner(MESH)) != []


def test_labels_affinity_and_priority_are_refused_by_default() -> None:
    runner = _runner({"podLabels": {"team": "a"}, "priorityClassName": "high",
                      "affinity": {"nodeAffinity": {"x": 1}}})
    assert violations(DEFAULT, runner) == [
        "spec.runner.affinity: not allowed by the operator's runnerPodPolicy (allowAffinity:"
        " false)",
        "spec.runner.priorityClassName: 'high' is not allowed by the operator's runnerPodPolicy"
        " (priorityClassNames: none)",
        "spec.runner.podLabels[team]: key not allowed by the operator's runnerPodPolicy"
        " (podLabelKeys: none)"]
    open_ = _policy({"podLabelKeys": ["team"], "priorityClassNames": ["high"],
                     "allowAffinity": True})
    assert violations(open_, runner) == []
    empty = _runner({"affinity": {}, "tolerations": [], "podLabels": {}, "nodeSelector": {}})
    assert violations(DEFAULT, empty) == []


@pytest.mark.parametrize(("labels", "refused"), [
    (None, False),  # missing: nothing to use (as for every reference)
    ({}, True), ({"bulletin.dev/usable-by-reports": "imagepull"}, False),
    ({"bulletin.dev/usable-by-reports": "true"}, False),
    ({"bulletin.dev/usable-by-reports": "database"}, True),
])
def test_pull_secrets_must_be_opened_to_reports(labels: dict[str, str] | None,
                                                refused: bool) -> None:
    runner = _runner({"imagePullSecrets": [{"name": "registry"}]})
    looked_up: list[str] = []

    def secret_labels(name: str) -> dict[str, str] | None:
        looked_up.append(name)
        return labels

    why = refusal(DEFAULT, runner, secret_labels)
    assert looked_up == ["registry"]
    assert (why is not None) is refused
    if why is not None:
        assert why.startswith("Secret 'registry' (spec.runner.imagePullSecrets[0])")


def test_a_refusal_names_the_first_violations_and_counts_the_rest() -> None:
    runner = _runner({"podLabels": {f"k{i}": "v" for i in range(8)}})
    why = refusal(DEFAULT, runner, _no_secrets)
    assert why is not None and why.count("spec.runner.podLabels[") == 5
    assert why.endswith(" (and 3 more)")
    assert refusal(DEFAULT, None, _no_secrets) is None
    assert refusal(DEFAULT, _runner({}), _no_secrets) is None


def test_the_operators_defaults_are_not_subject_to_the_policy() -> None:
    defaults = RunnerPod.model_validate({**TOLERATE_ALL, **GPU, **MESH,
                                         "imagePullSecrets": [{"name": "registry"}]})
    spec = ReportScheduleSpec.model_validate({
        "schedule": {"cron": "0 9 * * MON", "timeZone": "UTC"},
        "source": {"connectionSecretRef": {"name": "db", "key": "url"}},
        "datasets": [{"name": "main", "query": "SELECT 1"}],
        "delivery": {"email": {"smtpSecretRef": {"name": "smtp"}, "to": ["a@example.com"]}},
        "runner": {"resources": {"limits": {"cpu": "1", "memory": "1Gi"}}},
    })
    assert refusal(DEFAULT, spec.runner, _no_secrets) is None
    owner = builders.Owner(name="r", namespace="n", uid="u")
    cronjob = builders.cronjob(owner, spec, builders.RunnerSettings(pod=defaults), "0 9 * * 1")
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]
    assert pod["spec"]["tolerations"] == [{"operator": "Exists"}]
    assert pod["metadata"]["annotations"] == MESH["podAnnotations"]
    assert pod["spec"]["imagePullSecrets"] == [{"name": "registry"}]


def test_the_policy_is_read_once_from_its_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(settings.POD_POLICY, '{"tolerateEveryTaint": true}')
    settings.config.cache_clear()  # a new start
    settings.configure(kopf.OperatorSettings())
    assert settings.config().pod_policy.tolerate_every_taint
    assert settings.config().pod_policy.max_resources == DEFAULT.max_resources  # unset: default
    monkeypatch.setenv(settings.POD_POLICY, '{"tolerateEveryTaint": false}')
    settings.configure(kopf.OperatorSettings())
    assert settings.config().pod_policy.tolerate_every_taint  # read at start only
    monkeypatch.delenv(settings.POD_POLICY)
    settings.config.cache_clear()
    settings.configure(kopf.OperatorSettings())
    assert settings.config().pod_policy == DEFAULT


@pytest.mark.parametrize(("raw", "message"), [
    ('{"maxResource": {"cpu": "1"}}', "maxResource"),  # a misspelt key is not ignored
    ('{"maxResources": {"cpu": "lots"}}', "maxResources.cpu"),
    ('{"tolerations": [{"effect": "NoSchedule"}]}', "tolerations.0.key"),
    ("not json", "Invalid JSON"),
])
def test_an_invalid_policy_fails_the_operators_start(
        monkeypatch: pytest.MonkeyPatch, raw: str, message: str) -> None:
    monkeypatch.setenv(settings.POD_POLICY, raw)
    settings.config.cache_clear()
    with pytest.raises(kopf.PermanentError, match=message) as stopped:
        settings.configure(kopf.OperatorSettings())
    assert "BULLETIN_RUNNER_POD_POLICY (chart value runnerPodPolicy)" in str(stopped.value)
    monkeypatch.delenv(settings.POD_POLICY)
    settings.config.cache_clear()


def test_the_chart_value_is_empty_and_its_schema_is_the_models() -> None:
    values = yaml.safe_load(chartdocs.VALUES.read_text())
    assert values["runnerPodPolicy"] == {}  # empty: the operator's built-in policy

    def without_defaults(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: without_defaults(v) for k, v in node.items() if k != "default"}
        return node

    expected = without_defaults(chartdocs._close(openapi_schema(RunnerPodPolicy)))
    charted = json.loads(chartdocs.SCHEMA.read_text())["properties"]["runnerPodPolicy"]
    assert charted == expected, "values.schema.json runnerPodPolicy differs from the model:\n" \
        + json.dumps(expected, indent=2)
