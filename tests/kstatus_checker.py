"""What kstatus (sigs.k8s.io/cli-utils, the status library Flux and kpt use) says of an object."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from localkube.builds import REPO_ROOT, run_build

BUILD_SCRIPT = REPO_ROOT / "tests" / "kstatus" / "build.sh"


def kstatus(obj: dict[str, Any]) -> tuple[str, str]:
    """The kstatus status (Current, InProgress, Failed, ...) of ``obj`` and its message."""
    binary = run_build(BUILD_SCRIPT)
    proc = subprocess.run([str(binary)], input=json.dumps(obj), capture_output=True,
                          text=True, check=True)
    status, _, message = proc.stdout.rstrip("\n").partition("\t")
    return status, message
