"""Placement and size of a run's pod: the operator's defaults merged with a schedule's
spec.runner (pure; the builders put the result into the pod template).

Precedence, lowest first: built-in resources, the operator's defaults (chart value runnerPod),
the schedule's spec.runner. podLabels, podAnnotations and nodeSelector merge key by key (the
schedule wins a key); imagePullSecrets add up (the operator's first, duplicates dropped); every
other field the schedule sets replaces the default as a whole. Bulletin's own labels are applied
after the merge, and the securityContext is not configurable at all.
"""

from __future__ import annotations

from typing import Any

from bulletin.api.runnerpod import RunnerPod

DEFAULT_RESOURCES: dict[str, Any] = {
    "requests": {"cpu": "100m", "memory": "256Mi"},
    "limits": {"memory": "1Gi"},
}
_MERGED = ("pod_labels", "pod_annotations", "node_selector")


def merge(defaults: RunnerPod, override: RunnerPod | None) -> RunnerPod:
    """``override`` on top of ``defaults`` (see the module docstring for the precedence)."""
    if override is None:
        return defaults
    merged = defaults.model_copy(deep=True)
    for name in override.model_fields_set:
        value = getattr(override, name)
        if value is None:
            continue
        if name in _MERGED:
            value = {**(getattr(defaults, name) or {}), **value}
        elif name == "image_pull_secrets":
            names = [s.name for s in defaults.image_pull_secrets or []]
            value = [*(defaults.image_pull_secrets or []),
                     *(s for s in value if s.name not in names)]
        setattr(merged, name, value)
    return merged


def resources(pod: RunnerPod) -> dict[str, Any]:
    """The runner container's resources: the merged ones, or the built-in default."""
    if pod.resources is None:
        return {key: dict(value) for key, value in DEFAULT_RESOURCES.items()}
    return pod.resources.wire()


def pod_spec_fields(pod: RunnerPod) -> dict[str, Any]:
    """The pod spec fields placement sets, only those that are set."""
    wire = pod.wire()
    return {key: wire[key] for key in ("nodeSelector", "tolerations", "affinity",
                                       "priorityClassName", "imagePullSecrets")
            if wire.get(key)}
