"""`make demo-up`, `make demo-shell`, `make demo-down`: the demo, left running to explore.

    python -m devstack.democtl up        # `make demo` in the background; returns once delivered
    python -m devstack.democtl shell     # bash where kubectl, helm and kubectl bulletin reach it
    python -m devstack.democtl shell kubectl get reportschedules -A    # or one command
    python -m devstack.democtl status
    python -m devstack.democtl console [PORT]    # the console, on a loopback port of the host
    python -m devstack.democtl down      # stop everything (idempotent)

``up`` pins a network namespace at ``.demo/netns`` (``localkube.netns``) and starts
``python -m devstack.democtl serve`` inside it in a new session, its output in
``.demo/demo.log`` (which ``up`` prints as it grows). ``serve`` runs the demo (``devstack.demo``)
and, once the report is delivered, writes ``.demo/state.json`` and keeps the cluster, the
operator pod, the SMTP server and PostgreSQL running until SIGTERM. The API server listens on
the namespace's node address only, so ``shell`` enters the namespace with ``KUBECONFIG`` and
``PATH`` set (kubectl, helm and the ``kubectl-bulletin`` plugin first).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from localkube import netns, nodeclean

from devstack.demo import DEMO, ROOT, Cluster

PIN = DEMO / "netns"
STATE = DEMO / "state.json"
PID = DEMO / "serve.pid"
LOG = DEMO / "demo.log"


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def serve_pid() -> int | None:
    """PID of the running ``serve`` process of ``make demo-up``, else None."""
    try:
        pid = int(PID.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) and b"devstack.democtl" in cmdline else None


def state() -> dict[str, Any]:
    """What ``serve`` wrote once the demo was delivered ({} before)."""
    try:
        data = json.loads(STATE.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def remove_demo_dir() -> None:
    """Delete .demo, unpinning a namespace a crashed ``serve`` left there first."""
    netns.NetNS(PIN).delete()
    shutil.rmtree(DEMO, ignore_errors=True)


def shell_env(st: dict[str, Any], base: dict[str, str]) -> dict[str, str]:
    """The environment of ``shell``: KUBECONFIG, and kubectl, helm and kubectl-bulletin first on
    PATH."""
    path = [st["bin_dir"], st["helm_dir"], st["python_bin"]]
    return {**base, "KUBECONFIG": st["kubeconfig"],
            "PATH": ":".join([*path, base.get("PATH", "/usr/bin:/bin")]),
            netns.ENV_NETNS: str(PIN), netns.ENV_NODE_IP: st["node_ip"],
            "PS1": r"(bulletin demo) \w\$ "}


def usage(st: dict[str, Any]) -> str:
    """What to do with a running demo."""
    result = "delivered" if st.get("succeeded") else "NOT delivered (see above)"
    return (
        f"\nthe demo is up, report {result}; the cluster, the operator, the SMTP server "
        f"({st.get('smtp')}, mail in {DEMO / 'mail'}) and PostgreSQL ({st.get('postgres')}) "
        "keep running.\n"
        "  make demo-shell      a shell where kubectl, helm and kubectl bulletin reach the cluster,"
        " e.g.\n"
        "                         kubectl get reportschedules -A\n"
        "                         kubectl bulletin run weekly-usage -n analytics --wait\n"
        "                         kubectl bulletin history weekly-usage -n analytics\n"
        "                         helm list -n bulletin-system\n"
        "  make demo-shell CMD='kubectl get pods -A'    one command\n"
        "  make demo-console    the Bulletin console in this machine's browser (it prints the URL;"
        " PORT=8080 picks the port)\n"
        f"  logs: {LOG}, {DEMO / 'cluster'}/*/*.log\n"
        "  make demo-down       stop everything\n")


def _hold(demo: Cluster, succeeded: bool) -> None:
    """serve's hold: record the demo in state.json and wait for SIGTERM (a SystemExit)."""
    from helmchart import helm_binary

    st = {"pid": os.getpid(), "kubeconfig": str(demo.kubeconfig), "bin_dir": str(demo.bin_dir),
          "helm_dir": str(helm_binary().parent), "python_bin": str(Path(sys.executable).parent),
          "node_ip": netns.current().node_ip, "smtp": demo.smtp, "postgres": demo.postgres,
          "succeeded": succeeded}
    STATE.write_text(json.dumps(st, indent=1))
    print(usage(st), flush=True)
    while True:
        time.sleep(3600)


def cmd_serve() -> int:
    """Run the demo and hold it until SIGTERM/SIGINT/SIGHUP, then stop everything."""
    def leave(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, leave)
    PID.write_text(str(os.getpid()))
    from devstack import demo

    try:
        return demo.run(hold=_hold)
    finally:
        STATE.unlink(missing_ok=True)


def _follow(proc: subprocess.Popen[bytes], timeout: float) -> int:
    """Print LOG as it grows until state.json appears (0) or serve exits (1)."""
    deadline = time.monotonic() + timeout
    with LOG.open("rb") as log:
        while True:
            chunk = log.read()
            if chunk:
                sys.stdout.buffer.write(chunk)
                sys.stdout.flush()
            if state().get("pid") == proc.pid:
                return 0
            if proc.poll() is not None or time.monotonic() > deadline:
                sys.stdout.buffer.write(log.read())
                print(f"the demo did not come up (see {LOG})", file=sys.stderr)
                return 1
            time.sleep(0.2)


def cmd_up(timeout: float) -> int:
    """Start ``serve`` in its own namespace and session; return once the demo is delivered."""
    if serve_pid() is not None:
        if state():
            print(usage(state()))
            return 0
        print("the demo is starting; `make demo-down` first to start over", file=sys.stderr)
        return 1
    cmd_down(quiet=True)
    remove_demo_dir()
    DEMO.mkdir()
    ns = netns.NetNS(PIN).create()
    env = {**os.environ, **ns.env(), "PYTHONUNBUFFERED": "1"}
    with LOG.open("ab") as out:
        proc = subprocess.Popen(ns.command([sys.executable, "-m", "devstack.democtl", "serve"]),
                                cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    PID.write_text(str(proc.pid))
    code = _follow(proc, timeout)
    if code:
        cmd_down(quiet=True)
    return code


def cmd_down(timeout: float = 90.0, quiet: bool = False) -> int:
    """SIGTERM ``serve`` (it stops the cluster and the servers), SIGKILL after timeout; unpin
    the namespace and clean up after the node. Idempotent."""
    pid = serve_pid()
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    data = DEMO / "postgres" / "data"
    if data.is_dir():  # serve was killed before stopping it (pg_ctl daemonizes)
        from devstack.postgres import _bindir

        subprocess.run(["runuser", "-u", "postgres", "--", str(_bindir() / "pg_ctl"), "-D",
                        str(data), "-m", "immediate", "stop"], capture_output=True, check=False)
    for path in (PID, STATE):
        path.unlink(missing_ok=True)
    netns.NetNS(PIN).delete()
    nodeclean.sweep_crashed_nodes()
    if not quiet:
        print("the demo is stopped" if pid is not None else "no demo is running")
    return 0


def cmd_shell(argv: list[str]) -> int:
    """exec bash (or argv) inside the namespace with the demo's KUBECONFIG and PATH."""
    st = state()
    if serve_pid() is None or not st:
        print("no demo is running: `make demo-up` starts one", file=sys.stderr)
        return 1
    env = shell_env(st, dict(os.environ))
    if not argv:
        print("kubectl, helm and kubectl bulletin reach the demo cluster here; exit to leave")
        argv = ["bash", "--norc", "-i"]
    os.execvpe("nsenter", ["nsenter", f"--net={PIN}", "--", *argv], env)


def cmd_console(port: int) -> int:
    """`kubectl bulletin console` in the demo's namespace, forwarded to a loopback port here."""
    from devstack import democonsole

    st = state()
    if serve_pid() is None or not st:
        print("no demo is running: `make demo-up` starts one", file=sys.stderr)
        return 1
    return democonsole.serve(PIN, shell_env(st, dict(os.environ)), port)


def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    args = sys.argv[1:] if argv is None else argv
    cmd, rest = (args[0], args[1:]) if args else ("", [])
    if cmd == "up":
        return cmd_up(float(rest[0]) if rest else 900.0)
    if cmd == "down":
        return cmd_down()
    if cmd == "serve":
        return cmd_serve()
    if cmd == "shell":
        return cmd_shell(rest[1:] if rest[:1] == ["--"] else rest)
    if cmd == "console":
        return cmd_console(int(rest[0]) if rest and rest[0] else 0)
    if cmd == "status":
        st = state() if serve_pid() is not None else {}
        print(usage(st) if st else "no demo is running")
        return 0 if st else 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
