"""The harness's own network namespace: where the API server, the node, test servers and pods meet.

``python -m localkube.netns run -- CMD...`` creates a namespace, runs CMD inside it (entered with
``nsenter --net=``, which unlike ``ip netns exec`` leaves /sys and the cgroup mounts alone) and
deletes it when CMD ends. Inside: loopback, and a veth pair with both ends in the namespace whose
first end carries the node address (10.233.0.1/24). There is no default route, so nothing can
leave the namespace. CMD gets ``LOCALKUBE_NETNS`` (the pinned namespace file) and
``LOCALKUBE_NODE_IP`` (the address test servers bind to so that pods reach them).

Why 10.233.0.0/16: private (RFC 1918) and outside the ranges of Docker (172.17/16), libvirt
(192.168.122/24) and Kubernetes' usual pod/service defaults (10.244/16, 10.96/12), so a reader
never mistakes it for a host route. Node: 10.233.0.0/24, pods: 10.233.1.0/24 (see ``POD_CIDR``).
It exists only inside the namespace.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

NODE_IP = "10.233.0.1"
NODE_PREFIX = 24
POD_CIDR = "10.233.1.0/24"
#: Where ``run`` pins its namespaces; a pin whose owner process is gone is a crashed run's.
PIN_DIR = Path("/run/localkube")
ENV_NETNS = "LOCALKUBE_NETNS"
ENV_NODE_IP = "LOCALKUBE_NODE_IP"
_MNT_DETACH = 2


class NetNSError(RuntimeError):
    """The namespace could not be set up, or code that needs it runs outside it."""


def _sh(args: Sequence[str]) -> None:
    proc = subprocess.run(list(args), capture_output=True, text=True, check=False)
    if proc.returncode:
        raise NetNSError(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")


def _umount(path: Path) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.umount2(str(path).encode(), _MNT_DETACH)


class NetNS:
    """A network namespace pinned at a file (a bind mount of its nsfs inode)."""

    def __init__(self, pin: Path, node_ip: str = NODE_IP) -> None:
        self.pin = Path(pin)
        self.node_ip = node_ip

    @property
    def exists(self) -> bool:
        """True while the pin holds a namespace."""
        with contextlib.suppress(OSError):
            return self.pin.stat().st_dev != self.pin.parent.stat().st_dev
        return False

    def create(self) -> NetNS:
        """Create the namespace with lo and the veth pair up; replace a stale one at the pin."""
        self.delete()
        self.pin.parent.mkdir(parents=True, exist_ok=True)
        self.pin.touch()
        _sh(["unshare", f"--net={self.pin}", "true"])
        try:
            for cmd in ("link set lo up",
                        "link add lk0 type veth peer name lk1",
                        f"addr add {self.node_ip}/{NODE_PREFIX} dev lk0",
                        "link set lk1 up", "link set lk0 up"):
                _sh(self.command(["ip", *cmd.split()]))
        except BaseException:
            self.delete()
            raise
        return self

    def delete(self) -> None:
        """Unpin and remove the namespace (it dies with its last process). Idempotent."""
        while self.exists:
            _umount(self.pin)
        self.pin.unlink(missing_ok=True)

    def command(self, argv: Sequence[str]) -> list[str]:
        """argv prefixed so that it runs inside the namespace."""
        return ["nsenter", f"--net={self.pin}", "--", *argv]

    def env(self) -> dict[str, str]:
        """Environment telling a process which namespace it is in and the node address."""
        return {ENV_NETNS: str(self.pin), ENV_NODE_IP: self.node_ip}

    def contains_self(self) -> bool:
        """True if this process runs inside the namespace."""
        try:
            return os.stat("/proc/self/ns/net").st_ino == self.pin.stat().st_ino
        except OSError:
            return False

    def run(self, argv: Sequence[str]) -> int:
        """Run argv inside the namespace (signals forwarded); return its exit code."""
        proc = subprocess.Popen(self.command(argv), env={**os.environ, **self.env()})

        def forward(sig: int, _frame: object) -> None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)

        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, forward)
        return proc.wait()


def current() -> NetNS:
    """The harness namespace this process runs in; NetNSError when outside one."""
    pin = os.environ.get(ENV_NETNS)
    ns = NetNS(Path(pin), os.environ.get(ENV_NODE_IP, NODE_IP)) if pin else None
    if ns is None or not ns.contains_self():
        raise NetNSError("not inside a localkube network namespace; run the command with "
                         "`python -m localkube.netns run -- CMD...`")
    return ns


def sweep_stale_pins() -> None:
    """Delete namespaces pinned by ``run`` processes that no longer exist (crashed runs)."""
    if not PIN_DIR.is_dir():
        return
    for pin in PIN_DIR.glob("netns-*"):
        pid = pin.name.removeprefix("netns-")
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            NetNS(pin).delete()


def main(argv: list[str] | None = None) -> int:
    """``run -- CMD...``: run CMD in a fresh namespace, then clean up."""
    parser = argparse.ArgumentParser(prog="python -m localkube.netns", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="run a command in a fresh namespace")
    run.add_argument("argv", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not command:
        parser.error("run needs a command: run -- CMD...")
    from .nodeclean import sweep_crashed_nodes

    sweep_stale_pins()
    sweep_crashed_nodes()
    ns = NetNS(PIN_DIR / f"netns-{os.getpid()}").create()
    try:
        return ns.run(command)
    finally:
        ns.delete()
        sweep_crashed_nodes()
        with contextlib.suppress(OSError):
            PIN_DIR.rmdir()


if __name__ == "__main__":
    sys.exit(main())
