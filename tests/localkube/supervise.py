"""Supervision of a group of child processes: start, wait until ready, time phases, stop."""

from __future__ import annotations

import http.client
import logging
import time
from collections.abc import Callable
from pathlib import Path

from ._proc import Popen, spawn, stop_proc, tail
from .kube import ApiError

log = logging.getLogger("localkube.supervise")

#: Errors a readiness probe may raise while a component is still starting.
PROBE_ERRORS = (OSError, http.client.HTTPException, ApiError, ValueError)


class Supervisor:
    """Children of this process (SIGKILLed if it dies), each logging to ``workdir/<name>.log``.

    Failures raise ``error`` with the relevant log tail.
    """

    def __init__(self, workdir: Path, timeout: float, error: type[Exception]) -> None:
        self.workdir = workdir
        self.timeout = timeout
        self.error = error
        #: Durations of the phases run with ``phase``, in seconds.
        self.timings: dict[str, float] = {}
        self.procs: list[tuple[str, Popen]] = []

    def log_path(self, name: str) -> Path:
        """Log file of a component."""
        return self.workdir / f"{name}.log"

    def spawn(self, name: str, args: list[str]) -> None:
        """Start a component."""
        log.debug("starting %s: %s", name, " ".join(args))
        self.procs.append((name, spawn(args, log=self.log_path(name), cwd=self.workdir)))

    def phase(self, name: str, fn: Callable[[], None]) -> None:
        """Run fn and record how long it took as timings[name]."""
        t = time.monotonic()
        fn()
        self.timings[name] = time.monotonic() - t

    def wait(self, name: str, ready: Callable[[], bool]) -> None:
        """Poll ready() until true; fail fast if any component exits, or after the timeout."""
        deadline = time.monotonic() + self.timeout
        delay = 0.05
        last_error: Exception | None = None
        while True:
            for comp, proc in self.procs:
                if proc.poll() is not None:
                    raise self.error(
                        f"{comp} exited with code {proc.returncode} while starting {name}; "
                        f"log {self.log_path(comp)}:\n{tail(self.log_path(comp))}")
            try:
                if ready():
                    return
            except PROBE_ERRORS as e:
                last_error = e
            if time.monotonic() > deadline:
                raise self.error(
                    f"{name} not ready after {self.timeout:.0f}s (last error: {last_error}); "
                    f"log {self.log_path(name)}:\n{tail(self.log_path(name))}")
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)

    def stop(self, names: tuple[str, ...] | None = None, timeout: float = 10.0) -> None:
        """Stop the named components (default: all), newest first. Idempotent."""
        for name, proc in reversed(list(self.procs)):
            if names is None or name in names:
                code = stop_proc(proc, timeout)
                log.debug("%s stopped (exit %s)", name, code)
                self.procs.remove((name, proc))

    @property
    def running(self) -> bool:
        """True while every started component is alive."""
        return bool(self.procs) and all(p.poll() is None for _, p in self.procs)
