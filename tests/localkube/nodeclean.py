"""Remove what a node leaves behind, also after a crashed run.

A kubelet and containerd write a few things outside the node's directory: kubepods cgroups
(below the kubelet's cgroup root, in every cgroup hierarchy), ``/var/lib/kubelet/device-plugins``,
``/var/log/containers`` links, CNI result caches in ``/var/lib/cni``, shim sockets in
``/run/containerd``, and mounts below the node's directory (the kubelet's bind mount of its root,
volume tmpfs, pod network namespaces, container root filesystems). Container processes and their
containerd shims outlive containerd and the kubelet.

Every started node is recorded in ``/run/localkube/nodes/<key>.json`` with its owner's PID;
``sweep_crashed_nodes`` cleans up after records whose owner is gone.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import logging
import os
import signal
import time
from pathlib import Path

from .nodeconfig import NodeLayout

log = logging.getLogger("localkube.nodeclean")

REGISTRY = Path("/run/localkube/nodes")
CGROUP_FS = Path("/sys/fs/cgroup")
DEVICE_PLUGINS = Path("/var/lib/kubelet/device-plugins")
CONTAINER_LOG_LINKS = Path("/var/log/containers")
CNI_CACHE = Path("/var/lib/cni")
CONTAINERD_RUN = Path("/run/containerd")
_MNT_DETACH = 2


def cgroup_dirs(rel: str) -> list[Path]:
    """rel (e.g. ``/localkube-ab12``) in every mounted cgroup hierarchy."""
    hierarchies = [p for p in CGROUP_FS.iterdir() if p.is_dir() and not p.is_symlink()]
    return [h / rel.lstrip("/") for h in hierarchies]


def make_cgroup_root(rel: str) -> None:
    """Create rel in every v1 hierarchy (the kubelet insists its cgroup root exists)."""
    for d in cgroup_dirs(rel):
        if d.parent.name == "unified":
            continue
        d.mkdir(exist_ok=True)
        if d.parent.name == "cpuset":  # a new cpuset is empty; give it its parent's
            for f in ("cpuset.cpus", "cpuset.mems"):
                if not (d / f).read_text().strip():
                    (d / f).write_text((d.parent / f).read_text())


def kill_cgroup_processes(rel: str, timeout: float = 10.0) -> None:
    """SIGKILL every process in the cgroup trees at rel until they are empty."""
    deadline = time.monotonic() + timeout
    while True:
        pids = {int(p) for d in cgroup_dirs(rel) if d.is_dir()
                for procs in d.rglob("cgroup.procs")
                for p in _read(procs).split()}
        if not pids or time.monotonic() > deadline:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)


def remove_cgroups(rel: str) -> None:
    """rmdir the cgroup trees at rel, deepest first, in every hierarchy."""
    for top in cgroup_dirs(rel):
        if not top.is_dir():
            continue
        below = sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts))
        for d in [*reversed(below), top]:
            with contextlib.suppress(FileNotFoundError):
                d.rmdir()


def unmount_below(root: Path) -> None:
    """Unmount everything mounted at or below root, deepest first."""
    libc = ctypes.CDLL(None, use_errno=True)
    prefix = str(root.resolve())
    for _ in range(5):  # a mount may hide others; repeat until none is left
        points = [p for p in _mount_points() if p == prefix or p.startswith(prefix + "/")]
        if not points:
            return
        for point in sorted(points, key=len, reverse=True):
            libc.umount2(point.encode(), _MNT_DETACH)


def _mount_points() -> list[str]:
    points = []
    for line in _read(Path("/proc/self/mountinfo")).splitlines():
        field = line.split()[4]
        points.append(field.encode().decode("unicode_escape"))
    return points


def kill_shims(socket: Path) -> None:
    """SIGKILL the containerd shims that serve the containerd at socket."""
    address = str(socket).encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        argv = _read_bytes(proc / "cmdline").split(b"\0")
        if argv and argv[0].endswith(b"containerd-shim-runc-v2") and address in argv:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(proc.name), signal.SIGKILL)


def _shim_sockets(n: NodeLayout) -> list[Path]:
    """containerd 1.6 puts a shim's socket at /run/containerd/s/sha256(address/ns/id)."""
    tasks = n.containerd_dir / "state" / "io.containerd.runtime.v2.task"
    found = []
    for ns_dir in (tasks.iterdir() if tasks.is_dir() else []):
        for task in ns_dir.iterdir():
            digest = hashlib.sha256(f"{n.containerd_socket}/{ns_dir.name}/{task.name}".encode())
            found.append(CONTAINERD_RUN / "s" / digest.hexdigest())
    return found


def remove_global_leftovers(n: NodeLayout) -> None:
    """Remove what the node wrote outside its directory, then the directories left empty."""
    for sock in _shim_sockets(n):
        sock.unlink(missing_ok=True)
    (DEVICE_PLUGINS / "kubelet.sock").unlink(missing_ok=True)
    (DEVICE_PLUGINS / "DEPRECATION").unlink(missing_ok=True)
    logs = str(n.pod_logs_dir)
    if CONTAINER_LOG_LINKS.is_dir():
        for link in CONTAINER_LOG_LINKS.iterdir():
            if link.is_symlink() and os.readlink(link).startswith(logs):
                link.unlink()
    sandboxes = n.containerd_dir / "root" / "io.containerd.grpc.v1.cri" / "sandboxes"
    for sandbox in sandboxes.iterdir() if sandboxes.is_dir() else []:
        (CNI_CACHE / "results" / f"cni-loopback-{sandbox.name}-lo").unlink(missing_ok=True)
    for cached in CNI_CACHE.glob(f"results/{n.cni_network}-*"):
        cached.unlink(missing_ok=True)
    for d in (DEVICE_PLUGINS, DEVICE_PLUGINS.parent, CONTAINER_LOG_LINKS,
              CNI_CACHE / "results", CNI_CACHE, CONTAINERD_RUN / "s", CONTAINERD_RUN):
        with contextlib.suppress(OSError):
            d.rmdir()  # only when empty: never another user's files


def clean_node(n: NodeLayout) -> None:
    """Stop every leftover process of node n and remove what it left. Idempotent."""
    kill_cgroup_processes(n.cgroup_root)
    kill_shims(n.containerd_socket)
    unmount_below(n.root)
    remove_cgroups(n.cgroup_root)
    remove_global_leftovers(n)
    unregister(n)


def leftovers(n: NodeLayout) -> list[str]:
    """What stopped node n still has outside its directory (empty when clean).

    Shared directories (device plugins, log links, CNI cache, /run/containerd) count only when
    no other node is registered, since another running kubelet legitimately uses them.
    """
    found = [str(d) for d in cgroup_dirs(n.cgroup_root) if d.exists()]
    found += [p for p in _mount_points() if p == str(n.root) or p.startswith(f"{n.root}/")]
    found += [str(p) for p in (*_shim_sockets(n), REGISTRY / f"{n.key}.json") if p.exists()]
    found += [str(p) for p in CNI_CACHE.glob(f"results/{n.cni_network}-*")]
    if CONTAINER_LOG_LINKS.is_dir():
        found += [str(link) for link in CONTAINER_LOG_LINKS.iterdir()
                  if link.is_symlink() and os.readlink(link).startswith(str(n.pod_logs_dir))]
    address = str(n.containerd_socket).encode()
    found += [f"shim pid {p.name}" for p in Path("/proc").iterdir() if p.name.isdigit()
              and address in _read_bytes(p / "cmdline").split(b"\0")]
    others = [p for p in REGISTRY.glob("*.json") if p.stem != n.key] if REGISTRY.is_dir() else []
    if not others:
        found += [str(p) for p in (DEVICE_PLUGINS.parent, CONTAINER_LOG_LINKS, CNI_CACHE,
                                   CONTAINERD_RUN) if p.exists()]
    return found


def register(n: NodeLayout) -> None:
    """Record node n as owned by this process (for ``sweep_crashed_nodes``)."""
    REGISTRY.mkdir(parents=True, exist_ok=True)
    record = {"pid": os.getpid(), "root": str(n.root), "key": n.key, "name": n.name,
              "node_ip": n.node_ip, "pod_cidr": n.pod_cidr}
    (REGISTRY / f"{n.key}.json").write_text(json.dumps(record))


def unregister(n: NodeLayout) -> None:
    """Forget node n's record; remove the registry directories once empty."""
    (REGISTRY / f"{n.key}.json").unlink(missing_ok=True)
    for d in (REGISTRY, REGISTRY.parent):
        with contextlib.suppress(OSError):
            d.rmdir()


def sweep_crashed_nodes() -> None:
    """Clean up after every recorded node whose owner process is gone."""
    for path in REGISTRY.glob("*.json") if REGISTRY.is_dir() else []:
        try:
            rec = json.loads(path.read_text())
            layout = NodeLayout(Path(rec["root"]), rec["key"], rec["name"], rec["node_ip"],
                                rec["pod_cidr"])
        except (OSError, ValueError, KeyError):
            path.unlink(missing_ok=True)
            continue
        if not Path(f"/proc/{rec.get('pid')}").exists():
            log.warning("cleaning up after crashed node %s (%s)", layout.name, layout.root)
            clean_node(layout)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""
