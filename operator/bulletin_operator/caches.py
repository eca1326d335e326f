"""What the operator remembers of objects it does not own: the annotations of namespaces and
the opt-in labels of Secrets and ConfigMaps, so a thousand schedules cost one read, not a
thousand."""

from __future__ import annotations

import time
from typing import Any

from bulletin.api.references import opened_for
from kubernetes.client.exceptions import ApiException

from bulletin_operator.kubeapi import KubeApi

NAMESPACE_TTL = 60.0
# How long a Secret or ConfigMap found opted in (USABLE_LABEL) counts as such without a new read.
# The label is checked when a spec is handled, so removing it always takes effect at the next
# spec change or operator start; this adds at most USABLE_TTL seconds to that.
USABLE_TTL = 10.0
USABLE_MAX = 10000


class NamespaceAnnotationCache:
    """Namespaces' annotations, read at most once a minute, or as a watch event shows them."""

    def __init__(self, core: Any) -> None:
        self._core = core  # a CoreV1Api
        self._namespaces: dict[str, tuple[float, dict[str, str]]] = {}

    def annotation(self, namespace: str, key: str) -> str:
        """An annotation of a namespace ("" when absent), cached for a minute."""
        now = time.monotonic()
        cached = self._namespaces.get(namespace)
        if cached is None or now - cached[0] > NAMESPACE_TTL:
            try:
                ns = self._core.read_namespace(namespace)
            except ApiException as exc:
                if exc.status != 404:
                    raise
                return ""  # the namespace is being deleted, and its objects with it
            cached = (now, dict(ns.metadata.annotations or {}))
            self._namespaces[namespace] = cached
        return str(cached[1].get(key, ""))

    def changed(self, namespace: str, annotations: dict[str, str], key: str) -> bool:
        """Whether ``key`` differs from the cached annotations of a namespace whose schedules
        used them (nothing cached: no schedule depends on it yet)."""
        cached = self._namespaces.get(namespace)
        return cached is not None and cached[1].get(key, "") != annotations.get(key, "")

    def remember(self, namespace: str, annotations: dict[str, str]) -> None:
        """Cache a namespace's annotations as a watch event shows them."""
        self._namespaces[namespace] = (time.monotonic(), dict(annotations))


class OptInLabelCache:
    """The labels of Secrets and ConfigMaps, those found opted in remembered for a while."""

    def __init__(self, api: KubeApi) -> None:
        self._api = api
        self._usable: dict[tuple[str, str, str], tuple[float, dict[str, str]]] = {}

    def labels(self, kind: str, name: str, namespace: str) -> dict[str, str] | None:
        """The labels of a Secret or ConfigMap (None when missing). Reads metadata only, so
        no Secret value ever reaches the operator. An object found opted in is not read again
        for USABLE_TTL seconds (a thousand schedules naming one Secret cost one read, not a
        thousand); a refusal or a missing object is read again every time, so a label just
        added counts at once."""
        key, now = (kind, namespace, name), time.monotonic()
        cached = self._usable.get(key)
        if cached is not None and now - cached[0] < USABLE_TTL:
            return dict(cached[1])
        meta = self._api.metadata(kind, name, namespace)
        labels = None if meta is None else dict(meta.get("labels") or {})
        if labels is not None and opened_for(labels):
            if len(self._usable) > USABLE_MAX:
                self._usable = {k: v for k, v in self._usable.items()
                                if now - v[0] < USABLE_TTL}
            self._usable[key] = (now, labels)
        return labels
