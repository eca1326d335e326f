"""The Bulletin operator as a real process (`kopf run`), as it runs in its Deployment."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

from devstack.ports import HOST, free_port


def local_env(runner_image: str) -> dict[str, str]:
    """What an operator on the local cluster needs: our runner image as imported into the node,
    and the node address (where the test servers listen) allowed as a delivery target."""
    return {"BULLETIN_RUNNER_IMAGE": runner_image, "BULLETIN_RUNNER_PULL_POLICY": "Never",
            "BULLETIN_ALLOW_PRIVATE_NETWORKS": f"{HOST}/32"}


_RUNNING: list[OperatorProcess] = []  # started in this test session and not stopped


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """No operator process of this session runs inside the block (each running one is stopped
    and started again after it): for a test that shapes status by hand, which an operator
    watching every namespace would reconcile over."""
    stopped = list(_RUNNING)
    for proc in stopped:
        proc.stop()
    try:
        yield
    finally:
        for proc in stopped:
            proc.start()


class OperatorProcess:
    """Runs `kopf run -m bulletin_operator.handlers --all-namespaces` with a given kubeconfig
    (``scope``: other kopf arguments instead of --all-namespaces, e.g. --namespace=a), its
    /metrics on loopback at ``metrics_port``. ``target`` names other handlers to run (a file:
    bench/kopf_floor.py's bare kopf)."""

    def __init__(self, kubeconfig: Path, log: Path, env: dict[str, str] | None = None,
                 scope: Sequence[str] = ("--all-namespaces",),
                 target: Sequence[str] = ("-m", "bulletin_operator.handlers")) -> None:
        self.kubeconfig = kubeconfig
        self.scope = list(scope)
        self.target = list(target)
        self.log = log
        self.port = free_port()
        metrics = free_port()
        while metrics == self.port:
            metrics = free_port()
        self.env = {"BULLETIN_METRICS_ADDRESS": "127.0.0.1",
                    "BULLETIN_METRICS_PORT": str(metrics), **(env or {})}
        self.metrics_port = int(self.env["BULLETIN_METRICS_PORT"])
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> OperatorProcess:
        """Start and wait for kopf's liveness endpoint."""
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), **self.env}
        env.pop("KUBERNETES_SERVICE_HOST", None)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "kopf", "run", *self.scope, "--standalone",
                 f"--liveness=http://127.0.0.1:{self.port}/healthz", *self.target],
                env=env, stdout=out, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"operator exited: {self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2):
                    _RUNNING.append(self)
                    return self
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"operator not live in {timeout}s: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL."""
        if self in _RUNNING:
            _RUNNING.remove(self)
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
