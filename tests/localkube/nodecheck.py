"""End-to-end check of the real node (localkube.node).

Run: ``python -m localkube.netns run -- python -m localkube.nodecheck [--keep] [-v]``.

Inside the harness namespace it starts a ControlPlane and a Node from nothing, imports a busybox
image, and proves: the node is Ready; a pod on the pod network completes and ``kubectl logs``
shows its output; a pod's in-cluster client reaches the API server through the ``kubernetes``
ClusterIP with its ServiceAccount token; a Job whose pod runs as user 10001 with a read-only root
filesystem completes; a pod reaches a TCP server this process runs on the node address. After
``stop()`` nothing is left outside the work directory. Prints timings and RSS; exit code 0 on
success.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from . import netns, nodeclean
from .builds import build_binaries, build_node_binaries
from .controlplane import ControlPlane
from .imagearchive import busybox_image
from .kube import JSON, KubeClient, ns_path
from .node import Node, local_cluster
from .nodeconfig import NodeLayout

NS = "nodecheck"
IMAGE = "localkube.local/busybox:1"
ALIAS = "busybox:nodecheck"  # a second name, as kubelet normalizes it (docker.io/library/...)
T = TypeVar("T")

IN_CLUSTER = """
sa=/var/run/secrets/kubernetes.io/serviceaccount
if [ "$KUBERNETES_SERVICE_HOST" != 10.0.0.1 ]; then echo "$KUBERNETES_SERVICE_HOST"; exit 2; fi
wget -q -O- --header "Authorization: Bearer $(cat $sa/token)" \
  --header "Content-Type: application/json" \
  --post-data '{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}' \
  "https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT/apis/authentication.k8s.io/v1/selfsubjectreviews"
"""

READ_ONLY = """
echo "uid=$(id -u)"
if touch /written 2>/dev/null; then echo "root filesystem is writable"; exit 3; fi
echo scratch > /scratch/ok && echo "read-only root, scratch ok"
"""


def wait_for(what: str, fn: Callable[[], T | None], timeout: float = 60.0) -> T:
    """Poll fn until truthy; AssertionError after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        last = fn()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} ({last!r})")
        time.sleep(0.2)


def container(command: str, **extra: object) -> JSON:
    """A busybox container running a shell script, never pulled."""
    return {"name": "main", "image": IMAGE, "imagePullPolicy": "Never",
            "command": ["sh", "-c", command]} | extra


def pod(name: str, cont: JSON, **spec: object) -> JSON:
    """A bare pod that runs once."""
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"restartPolicy": "Never", "containers": [cont], **spec}}


class TcpServer:
    """Answers one line with ``pong <token>`` on the node address; records what it got."""

    def __init__(self, host: str) -> None:
        self.token = uuid.uuid4().hex[:12]
        self.received: list[str] = []
        self.sock = socket.create_server((host, 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                self.received.append(conn.makefile().readline().strip())
                conn.sendall(f"pong {self.token}\n".encode())


class NodeCheck:
    """The checks, in order, against a started control plane and node."""

    def __init__(self, cp: ControlPlane, node: Node, workdir: Path) -> None:
        self.cp, self.node, self.workdir = cp, node, workdir
        self.c: KubeClient = cp.client()

    def step(self, name: str, fn: Callable[[], None]) -> None:
        t = time.monotonic()
        fn()
        print(f"  ok  {name:<58} {time.monotonic() - t:5.1f}s", flush=True)

    def run_pod(self, body: JSON) -> tuple[JSON, str]:
        """Create a pod, wait until it ends; return its status and logs (via kubectl logs)."""
        name = body["metadata"]["name"]
        self.c.create(ns_path(NS, "pods"), body)
        status = wait_for(f"pod {name} to finish", lambda: (
            s if (s := self.c.get(ns_path(NS, "pods", name)).get("status", {})).get("phase")
            in ("Succeeded", "Failed") else None))
        return status, self.kubectl("logs", "-n", NS, name)

    def kubectl(self, *args: str) -> str:
        proc = subprocess.run([str(self.cp.bin_dir / "kubectl"),
                               f"--kubeconfig={self.cp.kubeconfig}", *args],
                              capture_output=True, text=True, timeout=60, check=False)
        assert proc.returncode == 0, f"kubectl {' '.join(args)}: {proc.stderr}"
        return proc.stdout

    def image(self) -> None:
        archive = busybox_image(self.workdir / "busybox.tar", IMAGE)
        assert self.node.import_image(archive) == [IMAGE], self.node.images()
        self.node.tag_image(IMAGE, f"docker.io/library/{ALIAS}")
        self.c.create("/api/v1/namespaces", {"metadata": {"name": NS}})
        wait_for("default ServiceAccount",
                 lambda: self.c.exists(ns_path(NS, "serviceaccounts", "default")))

    def pod_network(self) -> None:
        hello = container("echo hello from $(hostname)", image=ALIAS)
        status, logs = self.run_pod(pod("hello", hello))
        assert status["phase"] == "Succeeded", status
        assert ipaddress.ip_address(status["podIP"]) in ipaddress.ip_network(netns.POD_CIDR)
        assert logs.strip() == "hello from hello", logs

    def in_cluster(self) -> None:
        status, logs = self.run_pod(pod("in-cluster", container(IN_CLUSTER)))
        assert status["phase"] == "Succeeded", (status, logs)
        body = logs[logs.find("{"):]  # after wget's note that it does not validate TLS
        user = json.loads(body)["status"]["userInfo"]["username"]
        assert user == f"system:serviceaccount:{NS}:default", logs

    def read_only_job(self) -> None:
        cont = container(READ_ONLY, volumeMounts=[{"name": "scratch", "mountPath": "/scratch"}],
                         securityContext={"runAsUser": 10001, "runAsNonRoot": True,
                                          "readOnlyRootFilesystem": True,
                                          "allowPrivilegeEscalation": False,
                                          "capabilities": {"drop": ["ALL"]}})
        spec = {"restartPolicy": "Never", "containers": [cont],
                "volumes": [{"name": "scratch", "emptyDir": {}}]}
        self.c.create(ns_path(NS, "jobs", group="batch"), {
            "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "read-only"},
            "spec": {"backoffLimit": 0, "template": {"spec": spec}}})

        def ended() -> str | None:
            job = self.c.get(ns_path(NS, "jobs", "read-only", group="batch"))
            return next((c["type"] for c in job.get("status", {}).get("conditions") or []
                         if c["type"] in ("Complete", "Failed") and c["status"] == "True"),
                        None)

        cond = wait_for("Job read-only to end", ended)
        logs = self.kubectl("logs", "-n", NS, "job/read-only")
        assert cond == "Complete", (cond, logs)
        assert logs.splitlines() == ["uid=10001", "read-only root, scratch ok"], logs

    def tcp_to_node(self) -> None:
        server = TcpServer(self.node.node_ip)
        script = f"echo ping | nc -w 10 {self.node.node_ip} {server.port}"
        status, logs = self.run_pod(pod("tcp", container(script)))
        server.sock.close()
        assert status["phase"] == "Succeeded", (status, logs)
        assert logs.strip() == f"pong {server.token}", logs
        assert server.received == ["ping"], server.received

    def run(self) -> None:
        self.step("import busybox image, namespace", self.image)
        self.step("pod (image by 2nd tag) on the pod network; kubectl logs", self.pod_network)
        self.step("in-cluster client -> kubernetes ClusterIP (SA token)", self.in_cluster)
        self.step("Job: runAsUser 10001, read-only root filesystem", self.read_only_job)
        self.step("pod -> TCP server on the node address", self.tcp_to_node)


def rss_mb(node: Node) -> dict[str, int]:
    """Resident memory of the node's processes in MB."""
    found = {}
    for name, pid in node.pids.items():
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                found[name] = int(line.split()[1]) // 1024
    return found


def main(argv: list[str] | None = None) -> int:
    """Run the check; 0 on success."""
    parser = argparse.ArgumentParser(prog="python -m localkube.nodecheck")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    netns.current()
    workdir = Path(tempfile.mkdtemp(prefix="localkube-nodecheck-"))
    layout: NodeLayout | None = None
    ok = False
    try:
        build_binaries(), build_node_binaries()  # before timing the start
        t0 = time.monotonic()
        with local_cluster(workdir) as (cp, node):
            layout = node.layout
            print(f"from nothing to node Ready in {time.monotonic() - t0:.1f}s (control plane "
                  f"{cp.start_seconds:.1f}s, node {node.start_seconds:.1f}s: "
                  f"{', '.join(f'{k} {v:.1f}s' for k, v in node.timings.items())})", flush=True)
            NodeCheck(cp, node, workdir).run()
            print(f"RSS (MB): {rss_mb(node)}", flush=True)
            ok = True
        node.stop()  # again: stop is idempotent
    except Exception as e:
        print(f"FAILED: {type(e).__name__}: {e}", flush=True)
        ok = False
    left = nodeclean.leftovers(layout) if layout else ["(the node never started)"]
    if left:
        print(f"FAILED: left behind after stop: {left}")
        ok = False
    else:
        print("  ok  nothing left outside the work directory after stop")
    if ok and not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"workdir kept: {workdir}")
    print("nodecheck passed" if ok else "nodecheck FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
