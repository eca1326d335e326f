"""localkube: a real Kubernetes control plane plus a local pod executor, for dev and tests.

* ``ControlPlane``: etcd + kube-apiserver + kube-controller-manager on 127.0.0.1.
* ``PodExecutor``: binds pods to a local node and runs them as host processes.
* ``KubeClient``: the small JSON REST client both use.
* ``python -m localkube up|down|status|kubectl``: a background cluster for developers.

Exports are imported lazily so ``python -m localkube.executor`` runs cleanly.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .controlplane import ControlPlane, ControlPlaneError, build_binaries
    from .executor import PodExecutor
    from .kube import ApiError, Credentials, KubeClient

_EXPORTS = {
    "ControlPlane": "controlplane",
    "ControlPlaneError": "controlplane",
    "build_binaries": "controlplane",
    "PodExecutor": "executor",
    "ApiError": "kube",
    "Credentials": "kube",
    "KubeClient": "kube",
}

__all__ = [
    "ApiError",
    "ControlPlane",
    "ControlPlaneError",
    "Credentials",
    "KubeClient",
    "PodExecutor",
    "build_binaries",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
