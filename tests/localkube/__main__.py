"""``python -m localkube``: run a local cluster in the background for development.

    python -m localkube up [--dir .localkube]     # control plane + real node, detached
    python -m localkube status [--dir .localkube]
    python -m localkube kubectl get pods -A       # the built kubectl, inside the namespace
    python -m localkube import-image IMAGE.tar    # load a `podman save` archive into the node
    python -m localkube down [--dir .localkube]   # stop it (idempotent)

Run from ``tests/`` or with ``tests`` on ``PYTHONPATH`` (pytest's ``pythonpath`` does
that for tests). By default ``up`` creates a network namespace pinned at ``D/netns``
(``localkube.netns``) and starts ``python -m localkube serve --dir D`` inside it in a new
session; that process owns etcd, kube-apiserver, kube-controller-manager and the node
(containerd, kubelet, kube-proxy, kube-scheduler; ``localkube.node``), which die with it,
writes ``D/serve.pid`` and ``D/state.json`` and stops everything on SIGTERM. ``down``
also deletes the namespace. The API server listens on the namespace's node address only,
so reach it with ``python -m localkube kubectl`` (or ``nsenter --net=D/netns``).
State is not kept across ``down``/``up``. Logs: ``D/serve.log``, ``D/*.log``,
``D/node/*.log``, container logs in ``D/node/pod-logs/``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from . import netns, nodeclean
from ._proc import tail
from .builds import build_binaries, build_node_binaries
from .controlplane import ControlPlane
from .node import Node

DEFAULT_DIR = os.environ.get("LOCALKUBE_DIR", ".localkube")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):  # a zombie is not alive
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True


def _serve_pid(d: Path) -> int | None:
    """PID of a live ``serve`` process for directory d, else None."""
    try:
        pid = int((d / "serve.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    if not _pid_alive(pid):
        return None
    with contextlib.suppress(OSError):
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if b"serve" not in cmdline:  # pid recycled by something else
            return None
    return pid


def _state(d: Path) -> dict[str, object]:
    try:
        data = json.loads((d / "state.json").read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _usage(d: Path, state: dict[str, object]) -> str:
    node = (f"  node:       {state.get('node')} at {state.get('node_ip')}, Ready in "
            f"{state.get('node_start_seconds')}s; logs in {d}/node/, namespace {d}/netns\n"
            if state.get("node") else "")
    return (
        f"localkube is up (control plane started in {state.get('start_seconds')}s)\n"
        f"  kubeconfig: {d / 'kubeconfig'}\n"
        f"  server:     {state.get('server')}\n"
        f"  kubectl:    {state.get('bin_dir')}/kubectl\n"
        f"  logs:       {d}/*.log\n{node}\n"
        f"  python -m localkube --dir {d} kubectl get ns\n"
        f"  stop with: python -m localkube down --dir {d}"
    )


def cmd_up(d: Path, timeout: float) -> int:
    """Start the detached serve process and wait until the cluster is ready."""
    pid = _serve_pid(d)
    if pid is not None and _state(d).get("pid") == pid:
        print(_usage(d, _state(d)))
        return 0
    if pid is not None:
        print(f"localkube is starting (pid {pid}); waiting", file=sys.stderr)
    else:
        build_binaries()  # in the foreground, so a cold build shows its progress
        d.mkdir(parents=True, exist_ok=True)
        (d / "state.json").unlink(missing_ok=True)
        pkg_dir = Path(__file__).resolve().parent
        root = pkg_dir.parents[len((__package__ or "localkube").split(".")) - 1]
        argv = [sys.executable, "-m", __package__ or "localkube", "serve", "--dir", str(d)]
        env = dict(os.environ)
        build_node_binaries()
        ns = netns.NetNS(d / "netns").create()
        argv, env = ns.command(argv), {**env, **ns.env()}
        with open(d / "serve.log", "ab") as out:
            proc = subprocess.Popen(
                argv, cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True)
        pid = proc.pid
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = _state(d)
        if state.get("pid") == pid and state.get("ready"):
            print(_usage(d, state))
            return 0
        if not _pid_alive(pid):
            print(f"localkube failed to start; {d / 'serve.log'}:\n{tail(d / 'serve.log')}",
                  file=sys.stderr)
            netns.NetNS(d / "netns").delete()
            return 1
        time.sleep(0.2)
    print(f"localkube not ready after {timeout:.0f}s; see {d / 'serve.log'}", file=sys.stderr)
    return 1


def cmd_down(d: Path, timeout: float = 30.0) -> int:
    """SIGTERM the serve process, SIGKILL after timeout. Idempotent."""
    pid = _serve_pid(d)
    if pid is None:
        print("localkube is not running")
    else:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _pid_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)  # its children die with it (PDEATHSIG)
        print("localkube stopped")
    for name in ("serve.pid", "state.json"):
        (d / name).unlink(missing_ok=True)
    netns.NetNS(d / "netns").delete()
    nodeclean.sweep_crashed_nodes()
    return 0


def cmd_status(d: Path) -> int:
    """Print whether the cluster is up."""
    pid = _serve_pid(d)
    state = _state(d)
    if pid is None or not state.get("ready"):
        print("localkube is not running" if pid is None else f"localkube is starting ({pid})")
        return 1
    print(_usage(d, state))
    return 0


def cmd_kubectl(d: Path, args: list[str]) -> int:
    """exec kubectl with the cluster's kubeconfig (inside the namespace, if there is one)."""
    bin_dir = _state(d).get("bin_dir") or build_binaries()
    argv = [str(Path(str(bin_dir)) / "kubectl"), f"--kubeconfig={d / 'kubeconfig'}", *args]
    ns = netns.NetNS(d / "netns")
    if ns.exists:
        argv = ns.command(argv)
    os.execvp(argv[0], argv)


def cmd_import(d: Path, archives: list[Path]) -> int:
    """Import image archives into the running node's containerd."""
    socket = _state(d).get("containerd_socket")
    if not socket:
        print("localkube is not running with a node", file=sys.stderr)
        return 1
    for archive in archives:
        proc = subprocess.run(["ctr", f"--address={socket}", "--namespace=k8s.io", "images",
                               "import", str(archive)], check=False)
        if proc.returncode:
            return proc.returncode
    return 0


def cmd_serve(d: Path) -> int:
    """Own the control plane and the node until SIGTERM/SIGINT."""
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log = logging.getLogger("localkube.serve")
    d.mkdir(parents=True, exist_ok=True)
    (d / "serve.pid").write_text(str(os.getpid()))
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: done.set())
    cp = ControlPlane(d, node_ip=netns.current().node_ip)
    node: Node | None = None
    code = 0
    try:
        cp.start()
        node = Node(d / "node", cp)
        node.start()
        state: dict[str, object] = {
            "node": node.name, "node_ip": node.node_ip,
            "node_start_seconds": round(node.start_seconds or 0, 2),
            "containerd_socket": str(node.layout.containerd_socket)}
        state.update({"pid": os.getpid(), "ready": True, "kubeconfig": str(cp.kubeconfig),
                      "server": cp.server, "bin_dir": str(cp.bin_dir),
                      "start_seconds": round(cp.start_seconds or 0, 2), "timings": cp.timings})
        (d / "state.json").write_text(json.dumps(state, indent=1))
        log.info("ready: %s", state)
        while not done.wait(5):
            if not cp.running or not node.running:
                log.error("a component died; see %s/*.log and %s/node/*.log", d, d)
                code = 1
                break
    except Exception:
        log.exception("localkube failed")
        code = 1
    finally:
        if node is not None:
            node.stop()
        cp.stop()
        (d / "state.json").unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            if (d / "serve.pid").read_text().strip() == str(os.getpid()):
                (d / "serve.pid").unlink()
        log.info("stopped")
    return code


def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    parser = argparse.ArgumentParser(prog="python -m localkube", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", default=DEFAULT_DIR, help="state directory (%(default)s)")
    dir_opt = argparse.ArgumentParser(add_help=False)
    dir_opt.add_argument("--dir", default=argparse.SUPPRESS, help="state directory")
    sub = parser.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", parents=[dir_opt], help="start in the background")
    up.add_argument("--timeout", type=float, default=300.0)
    sub.add_parser("down", parents=[dir_opt], help="stop")
    sub.add_parser("status", parents=[dir_opt], help="is it running?")
    sub.add_parser("serve", parents=[dir_opt], help="run in the foreground (used by up)")
    kc = sub.add_parser("kubectl", help="run kubectl against the cluster")
    kc.add_argument("args", nargs=argparse.REMAINDER)
    imp = sub.add_parser("import-image", parents=[dir_opt], help="load image archives")
    imp.add_argument("archives", nargs="+", type=Path)
    args = parser.parse_args(argv)
    d = Path(args.dir).resolve()
    if args.cmd == "up":
        return cmd_up(d, args.timeout)
    if args.cmd == "down":
        return cmd_down(d)
    if args.cmd == "status":
        return cmd_status(d)
    if args.cmd == "serve":
        return cmd_serve(d)
    if args.cmd == "import-image":
        return cmd_import(d, args.archives)
    return cmd_kubectl(d, args.args)


if __name__ == "__main__":
    sys.exit(main())
