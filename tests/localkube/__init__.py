"""localkube: a real Kubernetes control plane and node, for dev and tests. Import the modules:

* ``controlplane.ControlPlane``: etcd + kube-apiserver + kube-controller-manager (loopback, or
  the node address of a namespace with ``node_ip``); ``components``: their flags and checks.
* ``netns.NetNS``/``netns.current()``: the harness's network namespace
  (``python -m localkube.netns run -- CMD``).
* ``node.Node``: containerd + runc, kubelet, kube-proxy, kube-scheduler in that namespace.
* ``kube.KubeClient``: the small JSON REST client.
* ``python -m localkube up|down|status|kubectl|import-image``: a background cluster.
"""
