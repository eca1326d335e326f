"""What a schedule's spec.runner may ask of its pod: the administrator's runner pod policy
(chart value ``runnerPodPolicy``, passed to the operator as JSON), and the pure check of a
schedule against it.

The defaults suit a shared cluster: cpu and memory up to 2 and 4Gi (other resources, e.g.
nvidia.com/gpu, refused) with a memory limit whenever resources are set; no nodeSelector key,
toleration, affinity, priority class, pod label or pod annotation. Image pull Secrets are
allowed when their owners opened them to reports for that use (references.py: the label
bulletin.dev/usable-by-reports=imagepull, or true). The operator's own defaults (chart value
``runnerPod``) are the administrator's: the policy never applies to them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Annotated

from pydantic import ConfigDict, Field

from bulletin.api.base import OBJECT_NAME, ApiModel
from bulletin.api.references import Reference, Use
from bulletin.api.references import refusal as reference_refusal
from bulletin.api.runnerpod import QUANTITY, RunnerPod, TaintEffect, Toleration

POLICY = "the operator's runnerPodPolicy"
SHOWN = 5  # violations named in one message; the rest are counted
_SUFFIXES = {"": Decimal(1), "m": Decimal("0.001"),
             **{s: Decimal(1000) ** (i + 1) for i, s in enumerate("kMGTPE")},
             **{f"{s}i": Decimal(1024) ** (i + 1) for i, s in enumerate("KMGTPE")}}

Quantity = Annotated[str, Field(max_length=32, pattern=QUANTITY)]
KeyPattern = Annotated[str, Field(min_length=1, max_length=317, description="A key, or a prefix"
                                  " ending in * (e.g. example.com/*).")]


def quantity(text: str) -> Decimal:
    """A Kubernetes quantity as a number: 500m is 0.5, 1Gi is 1073741824, 1k is 1000."""
    number = text.rstrip("kKMGTPEim")
    suffix = text[len(number):]
    if suffix not in _SUFFIXES or not number:
        raise ValueError(f"{text!r} is not a Kubernetes quantity")
    return Decimal(number) * _SUFFIXES[suffix]


def _matches(key: str, patterns: Iterable[str]) -> bool:
    return any(key == p or (p.endswith("*") and key.startswith(p[:-1])) for p in patterns)


def _shown(items: Iterable[str]) -> str:
    return ", ".join(items) or "none"


class _Strict(ApiModel):
    """A policy part: an unknown field is a mistake of the administrator, not ignored."""

    model_config = ConfigDict(extra="forbid")


class TolerationRule(_Strict):
    """A toleration schedules may set."""

    key: Annotated[KeyPattern, Field(description="Taint key, or a prefix ending in *.")]
    effect: Annotated[TaintEffect | None, Field(
        description="The effect the toleration must name; empty: any, or none (which"
        " tolerates every effect of the key).")] = None

    def allows(self, toleration: Toleration) -> bool:
        """Whether ``toleration`` (with a key) tolerates no more than this rule."""
        return (toleration.key is not None and _matches(toleration.key, [self.key])
                and (self.effect is None or toleration.effect == self.effect))

    def __str__(self) -> str:
        return self.key + (f":{self.effect}" if self.effect else "")


class RunnerPodPolicy(_Strict):
    """What a ReportSchedule's spec.runner may ask of its pod; the operator's own defaults
    (runnerPod) are not checked. Each field allows only what it lists."""

    max_resources: Annotated[dict[str, Quantity], Field(
        max_length=32, description="Largest request and limit per resource name; names not"
        " listed (e.g. nvidia.com/gpu, hugepages-2Mi) may not be asked for.")] = {
            "cpu": "2", "memory": "4Gi"}
    required_limits: Annotated[list[str], Field(
        max_length=32, description="Limits a schedule that sets resources must give.")] = [
            "memory"]
    node_selector_keys: Annotated[list[KeyPattern], Field(
        max_length=64, description="nodeSelector keys schedules may set.")] = []
    tolerations: Annotated[list[TolerationRule], Field(
        max_length=64, description="Tolerations schedules may set (by key and effect).")] = []
    tolerate_every_taint: Annotated[bool, Field(
        description="Allow a toleration without key (operator Exists): every taint, the"
        " control plane's included.")] = False
    allow_affinity: Annotated[bool, Field(
        description="Allow spec.runner.affinity (node and pod affinity).")] = False
    priority_class_names: Annotated[list[Annotated[str, Field(pattern=OBJECT_NAME)]], Field(
        max_length=64, description="PriorityClasses schedules may name.")] = []
    pod_label_keys: Annotated[list[KeyPattern], Field(
        max_length=64, description="Pod label keys schedules may set.")] = []
    pod_annotation_keys: Annotated[list[KeyPattern], Field(
        max_length=64, description="Pod annotation keys schedules may set, e.g."
        " sidecar.istio.io/inject.")] = []


def _resources(policy: RunnerPodPolicy, requested: RunnerPod) -> list[str]:
    if requested.resources is None:
        return []
    found = []
    bounds = _shown(f"{k} {v}" for k, v in policy.max_resources.items())
    for kind in ("requests", "limits"):
        asked: dict[str, str] = getattr(requested.resources, kind) or {}
        for name, value in asked.items():
            field = f"spec.runner.resources.{kind}[{name}]"
            if name not in policy.max_resources:
                found.append(f"{field}: {name} is not allowed by {POLICY} (maxResources:"
                             f" {bounds})")
            elif quantity(value) > quantity(policy.max_resources[name]):
                found.append(f"{field}: {value} is more than {POLICY} allows (maxResources:"
                             f" {bounds})")
    limits = requested.resources.limits or {}
    found += [f"spec.runner.resources.limits[{name}]: required by {POLICY} (requiredLimits:"
              f" {_shown(policy.required_limits)})"
              for name in policy.required_limits if name not in limits]
    return found


def _tolerations(policy: RunnerPodPolicy, requested: RunnerPod) -> list[str]:
    found = []
    allowed = _shown(str(rule) for rule in policy.tolerations)
    for i, toleration in enumerate(requested.tolerations or []):
        field = f"spec.runner.tolerations[{i}]"
        if not toleration.key:
            if not policy.tolerate_every_taint:
                found.append(f"{field}: tolerating every taint is not allowed by {POLICY}"
                             f" (tolerateEveryTaint: false; allowed tolerations: {allowed})")
        elif not any(rule.allows(toleration) for rule in policy.tolerations):
            effect = toleration.effect or "every effect"
            found.append(f"{field}: tolerating {toleration.key!r} ({effect}) is not allowed by"
                         f" {POLICY} (allowed tolerations: {allowed})")
    return found


def _keys(field: str, keys: Mapping[str, str] | None, patterns: list[str],
          setting: str) -> list[str]:
    return [f"spec.runner.{field}[{key}]: key not allowed by {POLICY} ({setting}:"
            f" {_shown(patterns)})" for key in keys or {} if not _matches(key, patterns)]


def violations(policy: RunnerPodPolicy, requested: RunnerPod | None) -> list[str]:
    """What ``requested`` (a schedule's spec.runner) asks beyond ``policy``, each naming the
    field and the policy value; empty when it is allowed. Image pull Secrets: see refusal()."""
    if requested is None:
        return []
    found = _resources(policy, requested)
    found += _keys("nodeSelector", requested.node_selector, policy.node_selector_keys,
                   "nodeSelectorKeys")
    found += _tolerations(policy, requested)
    if requested.affinity is not None and requested.affinity.wire() \
            and not policy.allow_affinity:
        found.append(f"spec.runner.affinity: not allowed by {POLICY} (allowAffinity: false)")
    name = requested.priority_class_name
    if name and name not in policy.priority_class_names:
        found.append(f"spec.runner.priorityClassName: {name!r} is not allowed by {POLICY}"
                     f" (priorityClassNames: {_shown(policy.priority_class_names)})")
    found += _keys("podLabels", requested.pod_labels, policy.pod_label_keys, "podLabelKeys")
    found += _keys("podAnnotations", requested.pod_annotations, policy.pod_annotation_keys,
                   "podAnnotationKeys")
    return found


def pull_secret_references(requested: RunnerPod | None) -> list[Reference]:
    """The image pull Secrets ``requested`` names, each with its field."""
    return [Reference("Secret", ref.name, f"spec.runner.imagePullSecrets[{i}]",
                      Use.IMAGE_PULL)
            for i, ref in enumerate((requested and requested.image_pull_secrets) or [])]


def refusal(policy: RunnerPodPolicy, requested: RunnerPod | None,
            secret_labels: Callable[[str], dict[str, str] | None]) -> str | None:
    """Why the operator will not run pods as ``requested`` asks (None when it may): the policy's
    violations, then each pull Secret whose labels (``secret_labels(name)``, None when
    missing) do not open it to reports."""
    found = violations(policy, requested)
    for ref in pull_secret_references(requested):
        if why := reference_refusal(ref, secret_labels(ref.name)):
            found.append(why)
    if not found:
        return None
    more = f" (and {len(found) - SHOWN} more)" if len(found) > SHOWN else ""
    return "; ".join(found[:SHOWN]) + more

