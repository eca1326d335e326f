"""localkube: a real Kubernetes control plane plus a local pod executor, for dev and tests.

* ``ControlPlane``: etcd + kube-apiserver + kube-controller-manager on 127.0.0.1.
* ``PodExecutor``: binds pods to a local node and runs them as host processes.
* ``KubeClient``: the small JSON REST client both use.
* ``python -m localkube up|down|status|kubectl``: a background cluster for developers.
"""

from .controlplane import ControlPlane, ControlPlaneError, build_binaries
from .executor import PodExecutor
from .kube import ApiError, Credentials, KubeClient

__all__ = [
    "ApiError",
    "ControlPlane",
    "ControlPlaneError",
    "Credentials",
    "KubeClient",
    "PodExecutor",
    "build_binaries",
]
