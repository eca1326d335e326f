"""`make demo-console`: the Bulletin console of a running `make demo-up`, opened from this
machine's browser.

The demo's API server listens only inside its network namespace (.demo/netns), so a browser
on the host reaches nothing there. This runs the real `kubectl bulletin console` inside the
namespace (with the demo's kubeconfig, as `make demo-shell` would) and forwards a loopback
port of the host to it: the listening socket is made in the host's namespace, then this
process enters the demo's (setns), where every connection to the console is made. It prints
the URL to open (the console's token, the host's port) and runs until ^C.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

CLONE_NEWNET = 0x40000000
NAMESPACE = "analytics"  # the demo's schedules
URL = re.compile(r"http://127\.0\.0\.1:(\d+)/\?token=([\w-]+)")


def enter(pin: Path) -> None:
    """Move this thread (and the threads it starts later) into the namespace pinned at pin;
    sockets made before stay where they were made."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(pin, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {pin}")
    finally:
        os.close(fd)


def _pump(source: socket.socket, target: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            target.sendall(data)
    with contextlib.suppress(OSError):
        target.shutdown(socket.SHUT_WR)


def forward(listener: socket.socket, port: int) -> None:
    """Accept on listener forever; connect each to 127.0.0.1:port of this thread's namespace."""
    while True:
        client, _ = listener.accept()
        try:
            inner = socket.create_connection(("127.0.0.1", port), timeout=10)
        except OSError:
            client.close()
            continue
        inner.settimeout(None)
        for a, b in ((client, inner), (inner, client)):
            threading.Thread(target=_pump, args=(a, b), daemon=True).start()


def listening(port: int, proc: subprocess.Popen[Any], timeout: float = 60) -> bool:
    """Whether the console (it prints its URL before it listens) accepts on port in time."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            return True
        except OSError:
            time.sleep(0.2)
    return False


def serve(pin: Path, env: dict[str, str], port: int) -> int:
    """Start the console in the demo's namespace, print the host URL, forward until ^C."""
    listener = socket.create_server(("127.0.0.1", port))  # in the host's namespace
    proc: subprocess.Popen[Any] = subprocess.Popen(
        ["nsenter", f"--net={pin}", "--", "kubectl", "bulletin", "console", "-n", NAMESPACE],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    found = URL.search(line)
    if found is None:
        proc.terminate()
        print(f"the console did not start: {line}{proc.stdout.read()}", flush=True)
        return 1
    enter(pin)
    inner = int(found.group(1))
    if not listening(inner, proc):
        print(f"the console did not start listening: {proc.stdout.read()}", flush=True)
        return 1
    host_port = listener.getsockname()[1]
    print(f"Bulletin console of the demo: http://127.0.0.1:{host_port}/?token={found.group(2)}"
          "\n(open it in this machine's browser; ^C stops it)", flush=True)
    threading.Thread(target=forward, args=(listener, inner), daemon=True).start()
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    try:
        return proc.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
