"""Builds of the Go binaries (control plane, node) by their scripts, cached outside the repo."""

from __future__ import annotations

import collections
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTROLPLANE_SCRIPT = REPO_ROOT / "tests" / "controlplane" / "build.sh"
NODE_SCRIPT = REPO_ROOT / "tests" / "node" / "build.sh"

_built: dict[Path, Path] = {}


class BuildError(RuntimeError):
    """A build script failed; the message carries its output's tail."""


def run_build(script: Path) -> Path:
    """Run a build script once per process (instant when cached); return the directory it prints.

    The build's progress (stderr) is passed through to our stderr.
    """
    if script not in _built:
        proc = subprocess.Popen(["bash", str(script)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stderr is not None
        err_tail: collections.deque[str] = collections.deque(maxlen=40)
        for line in proc.stderr:
            sys.stderr.write(line)
            err_tail.append(line)
        lines = proc.stdout.read().strip().splitlines()
        if proc.wait() != 0 or not lines:
            raise BuildError(f"{script} failed ({proc.returncode}):\n{''.join(err_tail)}")
        _built[script] = Path(lines[-1].strip())
    return _built[script]


def build_binaries() -> Path:
    """etcd, kube-apiserver, kube-controller-manager, kubectl (tests/controlplane/build.sh)."""
    return run_build(CONTROLPLANE_SCRIPT)


def build_node_binaries() -> Path:
    """kubelet, kube-proxy, kube-scheduler, pause (tests/node/build.sh)."""
    return run_build(NODE_SCRIPT)
