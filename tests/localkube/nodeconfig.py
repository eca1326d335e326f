"""Configuration files of the node's parts: containerd (CRI + runc), CNI, kubelet, kube-proxy.

Everything points into the node's own directory; the few paths the kubelet and containerd
hard-code elsewhere are removed by ``localkube.nodeclean``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

CNI_BIN_DIR = Path("/usr/lib/cni")  # Debian's containernetworking-plugins
RUNC = Path("/usr/sbin/runc")
SANDBOX_IMAGE = "localkube.local/pause:1"


@dataclass(frozen=True)
class NodeLayout:
    """Paths and names of one node (all state under root, named after a short key)."""

    root: Path
    key: str
    name: str
    node_ip: str
    pod_cidr: str

    @property
    def cgroup_root(self) -> str:
        """The kubelet's cgroup root: kubepods lives below it, in every hierarchy."""
        return f"/localkube-{self.key}"

    @property
    def cni_network(self) -> str:
        """CNI network name (host-local keeps its leases under the node's directory)."""
        return f"localkube-{self.key}"

    @property
    def containerd_dir(self) -> Path:
        """containerd's root, state, config and socket live here."""
        return self.root / "containerd"

    @property
    def containerd_socket(self) -> Path:
        """containerd's gRPC socket."""
        return self.containerd_dir / "c.sock"

    @property
    def kubelet_dir(self) -> Path:
        """The kubelet's --root-dir (it bind-mounts it onto itself)."""
        return self.root / "kubelet"

    @property
    def pod_logs_dir(self) -> Path:
        """Where container logs go (instead of /var/log/pods)."""
        return self.root / "pod-logs"


def containerd_config(n: NodeLayout) -> str:
    """containerd's config.toml: own root/state/socket, CRI with runc, a local sandbox image."""
    d = n.containerd_dir
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""\
version = 2
root = "{d / 'root'}"
state = "{d / 'state'}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "{n.containerd_socket}"
[ttrpc]
  address = "{n.containerd_socket}.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{d / 'opt'}"
[{cri}]
  sandbox_image = "{SANDBOX_IMAGE}"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  enable_selinux = false
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"
[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[{cri}.containerd.runtimes.runc.options]
  BinaryName = "{RUNC}"
  Root = "{d / 'runc'}"
  SystemdCgroup = false
[{cri}.cni]
  bin_dir = "{CNI_BIN_DIR}"
  conf_dir = "{n.root / 'cni'}"
  max_conf_num = 1
"""


def cni_config(n: NodeLayout) -> str:
    """A bridge network for pods with host-local IPAM; no masquerading (nothing may leave)."""
    return json.dumps({
        "cniVersion": "0.4.0",
        "name": n.cni_network,
        "plugins": [{
            "type": "bridge", "bridge": "lkbr0", "isGateway": True, "ipMasq": False,
            "hairpinMode": True,
            "ipam": {"type": "host-local", "dataDir": str(n.root / "cni-ipam"),
                     "ranges": [[{"subnet": n.pod_cidr}]],
                     "routes": [{"dst": "0.0.0.0/0"}]},
        }],
    }, indent=1)


def kubelet_config(n: NodeLayout, ca_file: Path) -> str:
    """KubeletConfiguration for cgroup v1 (cgroupfs), no swap, images that cannot be re-pulled.

    Image garbage collection is off: imported images cannot be pulled back. The API server's
    client certificate (signed by ca_file) is the only accepted caller.
    """
    cfg = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": n.node_ip,
        "containerRuntimeEndpoint": f"unix://{n.containerd_socket}",
        "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": False},
                           "x509": {"clientCAFile": str(ca_file)}},
        "authorization": {"mode": "AlwaysAllow"},
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": n.cgroup_root,
        "cgroupsPerQOS": True,
        "enforceNodeAllocatable": [],
        "failSwapOn": False,
        "failCgroupV1": False,
        "makeIPTablesUtilChains": False,
        "podLogsDir": str(n.pod_logs_dir),
        "resolvConf": "",
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {"memory.available": "1%", "nodefs.available": "1%",
                         "imagefs.available": "1%"},
        "nodeStatusUpdateFrequency": "5s",
        "serializeImagePulls": False,
        "shutdownGracePeriod": "0s",
        "registerNode": True,
    }
    return yaml.safe_dump(cfg, sort_keys=False)


def kube_proxy_config(n: NodeLayout, kubeconfig: Path) -> str:
    """iptables mode; conntrack settings 0 so that it leaves the machine's sysctls alone."""
    cfg = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "mode": "iptables",
        "hostnameOverride": n.name,
        "bindAddress": n.node_ip,
        "clusterCIDR": n.pod_cidr,
        "nodePortAddresses": ["primary"],
        "healthzBindAddress": "127.0.0.1:10256",
        "metricsBindAddress": "127.0.0.1:10249",
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s",
                      "tcpCloseWaitTimeout": "0s"},
        "iptables": {"syncPeriod": "30s", "minSyncPeriod": "0s"},
    }
    return yaml.safe_dump(cfg, sort_keys=False)
