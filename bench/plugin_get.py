"""`kubectl bulletin get` against `kubectl get reportschedules` of the same objects (issue 22).

On a fresh local control plane with the CRD and N ReportSchedules (no operator: both sides read
the same objects), each command runs as a user would type it: kubectl, finding the plugin on
PATH, or kubectl itself; one warm-up each (kubectl's discovery cache), then RUNS timed runs,
alternating. Medians; goal: ratio <= 3. Also printed: the plugin's Python start-up and import
time alone (`python -c 'import bulletin.plugin.cli'`). Runs inside the harness's network
namespace (`make bench` starts it there; started alone, it re-enters itself there).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "runner"), str(ROOT / "operator")]

from _plane import crd_plane, in_netns  # noqa: E402
from _reconcile import G, P, names, say, schedule  # noqa: E402
from localkube.controlplane import ControlPlane  # noqa: E402
from localkube.kube import ns_path  # noqa: E402

NS = "bench"
RUNS = 9
GOAL = 3.0


def timed(argv: list[str], env: dict[str, str]) -> float:
    """Seconds one command takes; it must succeed and print N rows."""
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {done.stderr}")
    return seconds


def measure(plane: ControlPlane, count: int) -> dict[str, float]:
    """Median seconds of the plugin and of kubectl, and of the plugin's imports alone."""
    kubectl = str(plane.bin_dir / "kubectl")
    env = {**os.environ, "KUBECONFIG": str(plane.kubeconfig),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    ours = [kubectl, "bulletin", "get", "-n", NS]
    baseline = [kubectl, "get", f"{P}.{G}", "-n", NS]
    for argv in (ours, baseline):
        lines = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120,
                               check=True).stdout.splitlines()
        assert len(lines) == count + 1, (argv, lines[:3])
    times: dict[str, list[float]] = {"ours": [], "baseline": [], "imports": []}
    imports = [sys.executable, "-c", "import bulletin.plugin.cli"]
    for _ in range(RUNS):
        times["ours"].append(timed(ours, env))
        times["baseline"].append(timed(baseline, env))
        times["imports"].append(timed(imports, env))
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    """Print the figures and the BENCH line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100, help="schedules (default 100)")
    args = parser.parse_args()
    in_netns()
    with crd_plane("bench-plugin-", NS) as (plane, admin):
        for name in names(args.count):
            admin.create(ns_path(NS, P, group=G, version="v1alpha1"), schedule(name))
        found = measure(plane, args.count)
    say(f"{args.count} schedules: kubectl bulletin get {found['ours']:.3f}s, kubectl get"
        f" {found['baseline']:.3f}s; the plugin's start-up and imports alone"
        f" {found['imports']:.3f}s (medians of {RUNS})")
    say(f"BENCH plugin_get ratio={found['ours'] / found['baseline']:.2f} goal=<={GOAL:g}"
        f" ours_s={found['ours']:.3f} baseline_s={found['baseline']:.3f}"
        f" imports_s={found['imports']:.3f} schedules={args.count} runs={RUNS}")


if __name__ == "__main__":
    main()
