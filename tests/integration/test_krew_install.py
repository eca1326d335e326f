"""The krew archive's layout works: built for this machine from the installed packages
(krew/build.py local), unpacked, linked into a PATH directory as krew does, and run against
the local control plane by kubectl and by a python3 that sees no site-packages at all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

from support import Cluster, report_schedule
from unit.test_plugin_krew import load_build


def test_the_archive_runs_the_plugin_on_its_own(cluster: Cluster, namespace: str,
                                                tmp_path: Path) -> None:
    build = load_build()
    build.main(["local", "--out", str(tmp_path / "dist")])
    [archive] = (tmp_path / "dist").glob("kubectl-bulletin_local_*.tar.gz")
    unpacked, bin_dir = tmp_path / "store" / "bulletin", tmp_path / "bin"
    with tarfile.open(archive) as tar:
        tar.extractall(unpacked, filter="data")
    bin_dir.mkdir()
    (bin_dir / "kubectl-bulletin").symlink_to(unpacked / "kubectl-bulletin")  # as krew links it
    cluster.create_rs(namespace, report_schedule(
        "weekly", schedule={"weekly": {"days": ["MON"], "at": "09:00"}, "timeZone": "UTC"}))
    args = ["next", "weekly", "-n", namespace, "--count", "2", "--from", "2031-01-01T00:00:00Z",
            "-o", "json"]
    env = {"KUBECONFIG": str(cluster.kubeconfig), "HOME": str(tmp_path),
           "PATH": os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent), "/usr/bin",
                                    "/bin"])}
    expected = ["2031-01-06T09:00:00Z", "2031-01-13T09:00:00Z"]  # the first Mondays of 2031

    # No site-packages and no PYTHONPATH: everything comes from the archive.
    alone = subprocess.run([sys.executable, "-I", "-S", str(bin_dir / "kubectl-bulletin"), *args],
                           env=env, capture_output=True, text=True, timeout=120, check=False)
    assert alone.returncode == 0, alone.stderr
    assert [r["time"] for r in json.loads(alone.stdout)] == expected
    # kubectl finds it on PATH through the link; the shim finds its libraries through it too.
    found = subprocess.run([str(cluster.kubectl_bin), "bulletin", *args], env=env,
                           capture_output=True, text=True, timeout=120, check=False)
    assert found.returncode == 0, found.stderr
    assert [r["time"] for r in json.loads(found.stdout)] == expected
    missing = subprocess.run([sys.executable, "-I", "-S", str(bin_dir / "kubectl-bulletin"),
                              "history", "nope", "-n", namespace], env=env, capture_output=True,
                             text=True, timeout=120, check=False)
    assert (missing.returncode, missing.stderr) == (
        1, 'Error from server (NotFound): reportschedules.bulletin.dev "nope" not found\n')
