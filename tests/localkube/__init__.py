"""localkube: a real Kubernetes control plane and node, for dev and tests.

* ``ControlPlane``: etcd + kube-apiserver + kube-controller-manager (loopback, or the node
  address of a namespace with ``node_ip``).
* ``NetNS``/``netns.current()``: the harness's network namespace
  (``python -m localkube.netns run -- CMD``).
* ``Node``: containerd + runc, kubelet, kube-proxy, kube-scheduler in that namespace.
* ``KubeClient``: the small JSON REST client.
* ``python -m localkube up|down|status|kubectl|import-image``: a background cluster.

Exports are imported lazily so ``python -m localkube.netns`` runs cleanly.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .builds import build_binaries, build_node_binaries
    from .controlplane import ControlPlane, ControlPlaneError
    from .kube import ApiError, Credentials, KubeClient
    from .netns import NetNS
    from .node import Node, NodeError

_EXPORTS = {
    "ControlPlane": "controlplane",
    "ControlPlaneError": "controlplane",
    "build_binaries": "builds",
    "build_node_binaries": "builds",
    "NetNS": "netns",
    "Node": "node",
    "NodeError": "node",
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
    "NetNS",
    "Node",
    "NodeError",
    "build_binaries",
    "build_node_binaries",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
