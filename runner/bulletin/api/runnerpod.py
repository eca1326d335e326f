"""How a run's pod is placed and sized (spec.runner, and the operator-wide defaults).

The same model carries the operator's defaults (chart value ``runnerPod``, passed to the operator
as JSON) and each schedule's overrides. Security settings are not part of it: the runner's
securityContext is fixed by the operator.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, Field, WithJsonSchema

from bulletin.api.base import OBJECT_NAME, ApiModel

_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
_PREFIX = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
# A label or annotation key: an optional DNS-subdomain prefix, a slash, a name of up to 63.
KEY_PATTERN = rf"^({_PREFIX}/)?{_NAME}$"
LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|k|Ki|Mi|Gi|Ti|Pi|Ei|M|G|T|P|E)?$"
# Keys a schedule may not set: Bulletin's and the Job controller's labels, and annotations
# that would loosen the pod's confinement (AppArmor, seccomp) or confuse kopf.
RESERVED_LABELS = ("app.kubernetes.io/name", "app.kubernetes.io/component",
                   "app.kubernetes.io/managed-by", "job-name", "controller-uid")
RESERVED_PREFIXES = ("bulletin.dev/", "kopf.bulletin.dev/", "batch.kubernetes.io/",
                     "container.apparmor.security.beta.kubernetes.io/",
                     "seccomp.security.alpha.kubernetes.io/",
                     "container.seccomp.security.alpha.kubernetes.io/")


def _cel_list(items: tuple[str, ...]) -> str:
    return "[" + ", ".join(f"'{i}'" for i in items) + "]"


_KEYS_RULE = {
    "rule": f"self.all(k, k.matches(r'{KEY_PATTERN}') && size(k) <= 317"
    f" && !(k in {_cel_list(RESERVED_LABELS)})"
    f" && !{_cel_list(RESERVED_PREFIXES)}.exists(p, k.startsWith(p)))",
    "message": "keys must be valid label/annotation keys, and neither Bulletin's nor the Job"
    " controller's (app.kubernetes.io/name, component, managed-by, job-name, bulletin.dev/...)"
    " nor AppArmor or seccomp keys",
}


def _check_keys(value: dict[str, str]) -> dict[str, str]:
    for key in value:
        reserved = key in RESERVED_LABELS or key.startswith(RESERVED_PREFIXES)
        if reserved or not re.match(KEY_PATTERN, key) or len(key) > 317:
            raise ValueError(f"key {key!r}: {_KEYS_RULE['message']}")
    return value


def _not_system(name: str) -> str:
    if name.startswith("system-"):
        raise ValueError("system-* priority classes are for cluster components")
    return name


Labels = Annotated[
    dict[str, Annotated[str, Field(max_length=63, pattern=LABEL_VALUE)]],
    Field(max_length=32, json_schema_extra={"x-kubernetes-validations": [_KEYS_RULE]}),
    AfterValidator(_check_keys),
]
AnnotationMap = Annotated[
    dict[str, Annotated[str, Field(max_length=4096)]],
    Field(max_length=32, json_schema_extra={"x-kubernetes-validations": [_KEYS_RULE]}),
    AfterValidator(_check_keys),
]
Quantities = Annotated[
    dict[str, Annotated[str, Field(max_length=32, pattern=QUANTITY)]],
    Field(max_length=8),
]
# Affinity terms are Kubernetes' own (core/v1 Affinity): the API server checks them when the
# operator writes the CronJob.
FreeForm = Annotated[
    dict[str, Any],
    WithJsonSchema({"type": "object", "x-kubernetes-preserve-unknown-fields": True}),
]


class Resources(ApiModel):
    """CPU and memory for the runner container (core/v1 ResourceRequirements)."""

    requests: Annotated[Quantities | None, Field(
        description="Minimum resources, e.g. {cpu: 100m, memory: 256Mi}.")] = None
    limits: Annotated[Quantities | None, Field(
        description="Maximum resources, e.g. {memory: 1Gi}.")] = None


class TolerationOperator(StrEnum):
    """How a toleration matches a taint."""

    EXISTS = "Exists"
    EQUAL = "Equal"


class TaintEffect(StrEnum):
    """The taint effect a toleration matches."""

    NO_SCHEDULE = "NoSchedule"
    PREFER_NO_SCHEDULE = "PreferNoSchedule"
    NO_EXECUTE = "NoExecute"


class Toleration(ApiModel):
    """A core/v1 Toleration."""

    key: Annotated[str | None, Field(max_length=317, description="Taint key; empty with"
                                     " operator Exists matches every taint.")] = None
    operator: Annotated[TolerationOperator | None, Field(
        description="Exists or Equal (default Equal).")] = None
    value: Annotated[str | None, Field(max_length=63, description="Taint value (Equal).")] = None
    effect: Annotated[TaintEffect | None, Field(
        description="NoSchedule, PreferNoSchedule or NoExecute; empty matches all.")] = None
    toleration_seconds: Annotated[int | None, Field(
        ge=0, le=86400, description="With NoExecute: how long the pod stays once tainted.")] = None


class Affinity(ApiModel):
    """Scheduling constraints (core/v1 Affinity)."""

    node_affinity: Annotated[FreeForm | None, Field(
        description="core/v1 NodeAffinity: the nodes the pod may or prefers to run on.")] = None
    pod_affinity: Annotated[FreeForm | None, Field(
        description="core/v1 PodAffinity: run near pods matching these terms.")] = None
    pod_anti_affinity: Annotated[FreeForm | None, Field(
        description="core/v1 PodAntiAffinity: run away from pods matching these terms.")] = None


class LocalObjectReference(ApiModel):
    """A Secret in the pod's namespace."""

    name: Annotated[str, Field(min_length=1, max_length=253, pattern=OBJECT_NAME,
                               description="Secret name.")]


class RunnerPod(ApiModel):
    """Placement and size of the runner pods. Unset fields take the operator's defaults (chart
    value runnerPod): labels, annotations and nodeSelector merge key by key with this schedule's
    winning, imagePullSecrets add up, every other field set here replaces the default."""

    resources: Annotated[Resources | None, Field(
        description="Runner container resources (default: requests cpu 100m, memory 256Mi;"
        " limits memory 1Gi).")] = None
    node_selector: Annotated[dict[str, Annotated[str, Field(max_length=63)]] | None, Field(
        max_length=32, description="Node labels the pod requires.")] = None
    tolerations: Annotated[list[Toleration] | None, Field(
        max_length=16, description="Taints the pod tolerates.")] = None
    affinity: Annotated[Affinity | None, Field(description="Node and pod affinity.")] = None
    priority_class_name: Annotated[str | None, Field(
        max_length=253, pattern=OBJECT_NAME,
        description="PriorityClass of the pod.")] = None
    image_pull_secrets: Annotated[list[LocalObjectReference] | None, Field(
        max_length=8, description="Secrets for pulling the runner image, added to the"
        " operator's.")] = None
    pod_labels: Annotated[Labels | None, Field(
        description="Extra pod labels (at most 32); Bulletin's own labels cannot be set.")] = None
    pod_annotations: Annotated[AnnotationMap | None, Field(
        description="Extra pod annotations (at most 32), e.g. sidecar.istio.io/inject:"
        " \"false\"; bulletin.dev/ and confinement (AppArmor, seccomp) keys cannot be"
        " set.")] = None


class ScheduleRunnerPod(RunnerPod):
    """Placement and size of this schedule's runner pods. Unset fields take the operator's
    defaults (chart value runnerPod): podLabels, podAnnotations and nodeSelector merge key by
    key with this schedule's winning, imagePullSecrets add up, every other field set here
    replaces the default."""

    priority_class_name: Annotated[
        str | None,
        Field(max_length=253, pattern=OBJECT_NAME,
              description="PriorityClass of the pod (not a system-* class).",
              json_schema_extra={"x-kubernetes-validations": [{
                  "rule": "!self.startsWith('system-')",
                  "message": "system-* priority classes are for cluster components"}]}),
        AfterValidator(_not_system),
    ] = None
