"""The real node (localkube.node) in its own network namespace: pods on the pod network,
kubectl logs, the kubernetes ClusterIP, a read-only non-root Job, TCP to the node address,
and nothing left behind after stop. The checks live in localkube.nodecheck."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_node_runs_pods_and_cleans_up() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(TESTS), *filter(None, [os.environ.get("PYTHONPATH")])])}
    proc = subprocess.run(
        [sys.executable, "-m", "localkube.netns", "run", "--",
         sys.executable, "-m", "localkube.nodecheck"],
        capture_output=True, text=True, timeout=600, env=env, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    passed = [line.strip().removeprefix("ok  ").strip() for line in out.splitlines()
              if line.strip().startswith("ok  ")]
    for check in ("pod (image by 2nd tag) on the pod network; kubectl logs",
                  "in-cluster client -> kubernetes ClusterIP",
                  "Job: runAsUser 10001, read-only root filesystem",
                  "pod -> TCP server on the node address",
                  "nothing left outside the work directory after stop"):
        assert any(p.startswith(check) for p in passed), (check, out)
    assert "from nothing to node Ready in" in out, out
    assert out.rstrip().endswith("nodecheck passed"), out
