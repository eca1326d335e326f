"""Child-process helpers: spawn with PR_SET_PDEATHSIG, stop gracefully, free ports, log tails.

Linux's parent-death signal fires when the *thread* that forked the child exits, not
only the process. All children are therefore forked from one long-lived daemon
"spawner" thread, so a child started from a short-lived worker thread does not get
killed early, and every child gets SIGKILL when our process dies (crash, SIGKILL,
pytest abort) so no apiserver or pod process is ever left orphaned.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import queue
import signal
import socket
import subprocess
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_prctl = _libc.prctl
_prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_prctl.restype = ctypes.c_int

Popen = subprocess.Popen[bytes]


def _child_setup(parent_pid: int) -> Callable[[], None]:
    def setup() -> None:  # runs in the forked child before exec
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:  # parent died before prctl took effect
            os._exit(1)

    return setup


class _Spawner:
    """Runs every Popen on one daemon thread that lives as long as the process."""

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[Sequence[str], dict[str, Any], Future[Popen]]] = (
            queue.Queue())
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _loop(self) -> None:
        while True:
            args, kwargs, fut = self._queue.get()
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(subprocess.Popen(args, **kwargs))
            except BaseException as e:
                fut.set_exception(e)

    def popen(self, args: Sequence[str], **kwargs: Any) -> Popen:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="localkube-spawner",
                                                daemon=True)
                self._thread.start()
        fut: Future[Popen] = Future()
        self._queue.put((list(args), kwargs, fut))
        return fut.result()


_spawner = _Spawner()


def spawn(args: Sequence[str], *, log: Path | None = None, cwd: Path | None = None,
          env: dict[str, str] | None = None, new_session: bool = False) -> Popen:
    """Start a child that is SIGKILLed when this process dies; output appended to log."""
    out: Any = subprocess.DEVNULL
    handle = None
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        handle = open(log, "ab")  # noqa: SIM115 - handed to the child, closed below
        out = handle
    try:
        return _spawner.popen(
            args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            cwd=str(cwd) if cwd else None, env=env, close_fds=True,
            start_new_session=new_session, preexec_fn=_child_setup(os.getpid()),
        )
    finally:
        if handle is not None:
            handle.close()


def signal_proc(proc: Popen, sig: int, group: bool = False) -> None:
    """Send sig to proc (or its whole process group); ignore already-dead processes."""
    if proc.poll() is not None and not group:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)


def stop_proc(proc: Popen, timeout: float = 10.0, group: bool = False) -> int:
    """SIGTERM, wait up to timeout, then SIGKILL; return the exit code."""
    if proc.poll() is None:
        signal_proc(proc, signal.SIGTERM, group)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    signal_proc(proc, signal.SIGKILL, group)
    code = proc.wait()
    if group:  # reap stragglers of the group too
        signal_proc(proc, signal.SIGKILL, group)
    return code


def free_ports(count: int) -> list[int]:
    """Return count distinct free TCP ports on 127.0.0.1."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def tail(path: Path, max_bytes: int = 4000) -> str:
    """The last max_bytes of a file (decoded leniently), '' if missing."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            data = f.read()
    except OSError:
        return ""
    text = data.decode(errors="replace")
    return text if size <= max_bytes else "..." + text
