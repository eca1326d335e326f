"""A real node for the local control plane: containerd + runc, kubelet, kube-proxy, kube-scheduler.

Runs inside the harness's network namespace (``python -m localkube.netns run -- ...``) next to a
``ControlPlane(..., node_ip=...)`` listening on the namespace's node address. Binaries come from
``tests/node/build.sh`` (cached); containerd, runc and the CNI plugins from Debian packages.
Pods get addresses from ``POD_CIDR`` on a bridge; nothing is routed out of the namespace.
No registry is reachable: images are imported from archives (``import_image``) and pods use
``imagePullPolicy: Never`` or ``IfNotPresent``. The sandbox image is a static pause binary.

Usage (inside the namespace)::

    with local_cluster(workdir) as (cp, node):   # returns once the node is Ready
        node.import_image(Path("runner.tar"))    # -> ["localhost/bulletin-runner:test"]
        node.tag_image("localhost/bulletin-runner:test", "bulletin-runner:test")
        ...                                      # cp.kubeconfig, cp.client(), node.node_ip
    # stopped; everything written outside workdir is removed

or by hand: ``cp = ControlPlane(wd / "cp", node_ip=netns.current().node_ip); cp.start();
node = Node(wd / "node", cp); node.start(); ...; node.stop(); cp.stop()``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from . import netns, nodeclean
from .builds import build_node_binaries
from .controlplane import ControlPlane
from .imagearchive import pause_image
from .kube import ApiError
from .nodeconfig import (
    SANDBOX_IMAGE,
    NodeLayout,
    cni_config,
    containerd_config,
    kube_proxy_config,
    kubelet_config,
)
from .pki import client_cert
from .supervise import Supervisor

log = logging.getLogger("localkube.node")


class NodeError(RuntimeError):
    """The node failed to start; the message carries the relevant log tail."""


class Node:
    """One kubelet node named ``name`` whose state lives in workdir."""

    def __init__(self, workdir: Path, control_plane: ControlPlane, *, name: str = "localkube",
                 bin_dir: Path | None = None, pod_cidr: str = netns.POD_CIDR,
                 timeout: float = 120.0, verbosity: int = 1) -> None:
        if not control_plane.node_ip:
            raise NodeError("the control plane needs node_ip (ControlPlane(..., node_ip=...))")
        self.workdir = Path(workdir).resolve()
        self.cp = control_plane
        self.name = name
        self.node_ip: str = control_plane.node_ip
        self.timeout = timeout
        self.verbosity = verbosity
        key = hashlib.sha256(str(self.workdir).encode()).hexdigest()[:8]
        self.layout = NodeLayout(self.workdir, key, name, self.node_ip, pod_cidr)
        #: Seconds from nothing (no containerd) until the node is Ready.
        self.start_seconds: float | None = None
        self._bin_dir = bin_dir
        self._sup = Supervisor(self.workdir, timeout, NodeError)
        #: Per-phase durations (containerd, sandbox image, node Ready, ...).
        self.timings = self._sup.timings

    @property
    def bin_dir(self) -> Path:
        """Directory holding kubelet, kube-proxy, kube-scheduler and pause."""
        if self._bin_dir is None:
            self._bin_dir = build_node_binaries()
        return self._bin_dir

    def log_path(self, component: str) -> Path:
        """Log file of a component (containerd, kubelet, kube-proxy, kube-scheduler)."""
        return self._sup.log_path(component)

    def __enter__(self) -> Node:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # ------------------------------------------------------------------ start
    def start(self) -> None:
        """Start containerd and the node components; return once the node is Ready."""
        if self._sup.procs:
            raise NodeError("already started")
        ns = netns.current()
        if ns.node_ip != self.node_ip:
            raise NodeError(f"control plane node_ip {self.node_ip} is not the namespace's "
                            f"node address {ns.node_ip}")
        bins = self.bin_dir
        t0 = time.monotonic()
        try:
            self._start(bins)
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - t0
        log.info("node %s Ready in %.1fs", self.name, self.start_seconds)

    def _start(self, bins: Path) -> None:
        n = self.layout
        nodeclean.sweep_crashed_nodes()
        nodeclean.clean_node(n)  # a previous run in this directory
        shutil.rmtree(n.root, ignore_errors=True)
        n.root.mkdir(parents=True)
        nodeclean.register(n)
        nodeclean.make_cgroup_root(n.cgroup_root)
        self._sup.phase("config", self._write_config)
        self._sup.phase("containerd", self._start_containerd)
        self._sup.phase("sandbox image", lambda: self._import_sandbox(bins))
        self._sup.spawn("kubelet", [
            str(bins / "kubelet"), f"--config={n.root / 'kubelet.yaml'}",
            f"--kubeconfig={n.root / 'kubelet.kubeconfig'}", f"--root-dir={n.kubelet_dir}",
            f"--cert-dir={n.root / 'kubelet-pki'}",
            f"--hostname-override={self.name}", f"--node-ip={self.node_ip}",
            f"--v={self.verbosity}"])
        self._sup.spawn("kube-proxy", [
            str(bins / "kube-proxy"), f"--config={n.root / 'kube-proxy.yaml'}",
            f"--v={self.verbosity}"])
        self._sup.spawn("kube-scheduler", [
            str(bins / "kube-scheduler"), f"--kubeconfig={n.root / 'kube-scheduler.kubeconfig'}",
            "--leader-elect=false", "--secure-port=0", f"--v={self.verbosity}"])
        self._sup.phase("node Ready", lambda: self._sup.wait("kubelet", self._ready))

    def _write_config(self) -> None:
        n, cp = self.layout, self.cp
        assert cp.pki is not None, "start the control plane first"
        certs = n.root / "pki"
        for stem, cn, org in (("kubelet", f"system:node:{self.name}", "system:nodes"),
                              ("kube-proxy", "system:kube-proxy", None),
                              ("kube-scheduler", "system:kube-scheduler", None)):
            cert, key = client_cert(cp.pki, certs, stem, cn, org)
            cp.write_kubeconfig(n.root / f"{stem}.kubeconfig", cert, key, cn)
        n.containerd_dir.mkdir()
        (n.containerd_dir / "config.toml").write_text(containerd_config(n))
        (n.root / "cni").mkdir()
        (n.root / "cni" / "10-localkube.conflist").write_text(cni_config(n))
        (n.root / "kubelet.yaml").write_text(kubelet_config(n, cp.pki.ca_cert))
        (n.root / "kube-proxy.yaml").write_text(
            kube_proxy_config(n, n.root / "kube-proxy.kubeconfig"))

    def _start_containerd(self) -> None:
        n = self.layout
        self._sup.spawn("containerd", [
            "containerd", f"--config={n.containerd_dir / 'config.toml'}", "--log-level=warn"])
        self._sup.wait("containerd", lambda: self._ctr("version").returncode == 0)

    def _import_sandbox(self, bins: Path) -> None:
        archive = pause_image(self.layout.root / "pause.tar", bins / "pause", SANDBOX_IMAGE)
        self.import_image(archive)

    def _ctr(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ctr", f"--address={self.layout.containerd_socket}",
                               "--namespace=k8s.io", *args],
                              capture_output=True, text=True, check=False)

    def _ready(self) -> bool:
        try:
            node = self.cp.client(timeout=5.0).get(f"/api/v1/nodes/{self.name}")
        except ApiError as e:
            if e.status == 404:
                return False
            raise
        return any(c["type"] == "Ready" and c["status"] == "True"
                   for c in node.get("status", {}).get("conditions") or [])

    def import_image(self, archive: Path) -> list[str]:
        """Import an image archive (``docker save``/``podman save`` or OCI); return its refs."""
        proc = self._ctr("images", "import", str(archive))
        if proc.returncode:
            raise NodeError(f"importing {archive} failed: {proc.stderr.strip()}")
        refs = [line.split()[1] for line in proc.stdout.splitlines()
                if line.startswith("unpacking ")]
        log.info("imported %s from %s", refs, archive)
        return refs

    def tag_image(self, source: str, *targets: str) -> None:
        """Give an imported image more names (e.g. without podman's ``localhost/``)."""
        for target in targets:
            proc = self._ctr("images", "tag", "--force", source, target)
            if proc.returncode:
                raise NodeError(f"tagging {source} as {target} failed: {proc.stderr.strip()}")

    def kill_container(self, container_id: str, sig: str = "SIGKILL") -> None:
        """Signal a container's task, e.g. from a pod's ``containerID`` (containerd://ID)."""
        proc = self._ctr("tasks", "kill", "--signal", sig, container_id.split("://")[-1])
        if proc.returncode:
            raise NodeError(f"killing {container_id} failed: {proc.stderr.strip()}")

    def images(self) -> list[str]:
        """References of the images the node has."""
        return self._ctr("images", "list", "--quiet").stdout.split()

    # ------------------------------------------------------------------- stop
    def stop(self, timeout: float = 10.0) -> None:
        """Stop everything, kill the pods, remove all the node wrote outside workdir. Idempotent."""
        self._sup.stop(("kube-scheduler", "kube-proxy", "kubelet"), timeout)
        nodeclean.kill_cgroup_processes(self.layout.cgroup_root)
        self._sup.stop(timeout=timeout)
        nodeclean.clean_node(self.layout)

    @property
    def pids(self) -> dict[str, int]:
        """PIDs of the running components by name (containerd, kubelet, ...)."""
        return {name: proc.pid for name, proc in self._sup.procs}

    @property
    def running(self) -> bool:
        """True while every started component is alive."""
        return self._sup.running


@contextlib.contextmanager
def local_cluster(workdir: Path, *, name: str = "localkube",
                  timeout: float = 120.0) -> Iterator[tuple[ControlPlane, Node]]:
    """A started control plane and Ready node in workdir, inside the current namespace."""
    cp = ControlPlane(Path(workdir) / "controlplane", node_ip=netns.current().node_ip,
                      timeout=timeout)
    node = Node(Path(workdir) / "node", cp, name=name, timeout=timeout)
    try:
        cp.start()
        node.start()
        yield cp, node
    finally:
        node.stop()
        cp.stop()
