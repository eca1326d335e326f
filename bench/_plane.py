"""For the benchmarks that read ReportSchedules with no operator (plugin_get, console_1000): a
fresh local control plane with the CRD and one namespace, and re-entering the harness's network
namespace when a benchmark is started alone. The benchmark has put tests/, runner/ and operator/
first on sys.path."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from _reconcile import G, P, _established, create_namespace, wait
from helmchart import kubectl_apply
from localkube.controlplane import ControlPlane

ROOT = Path(__file__).resolve().parents[1]


def in_netns() -> None:
    """Run this benchmark again inside the harness's network namespace, unless it is there."""
    if os.environ.get("LOCALKUBE_NETNS"):
        return
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [*sys.path[:3], *filter(None, [os.environ.get("PYTHONPATH")])])
    os.execvp(sys.executable, [sys.executable, "-m", "localkube.netns", "run", "--",
                               sys.executable, *sys.argv])


@contextmanager
def crd_plane(prefix: str, namespace: str) -> Iterator[tuple[ControlPlane, Any]]:
    """A control plane (removed after) with the ReportSchedule CRD established and
    ``namespace`` created; its admin client."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        with ControlPlane(work / "localkube") as plane:
            admin = plane.client(timeout=120)
            crd = list(yaml.safe_load_all((ROOT / "crds" / f"{G}_{P}.yaml").read_text()))
            kubectl_apply(plane.bin_dir / "kubectl", plane.kubeconfig, crd)
            wait(lambda: _established(admin), "the CRD", timeout=60, interval=0.2)
            create_namespace(admin, namespace)
            yield plane, admin
    finally:
        shutil.rmtree(work, ignore_errors=True)
