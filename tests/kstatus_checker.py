"""What GitOps tools say of an object: kstatus (sigs.k8s.io/cli-utils, the status library Flux
and kpt use) and Argo CD's health check for ReportSchedules."""

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


LUA_BUILD_SCRIPT = REPO_ROOT / "tests" / "luahealth" / "build.sh"
HEALTH_LUA = REPO_ROOT / "docs" / "argocd" / "health.lua"


def argocd_health(obj: dict[str, Any]) -> tuple[str, str]:
    """What Argo CD's health check (docs/argocd/health.lua, run by gopher-lua as Argo CD runs
    it) says of ``obj``: Healthy, Progressing, Degraded or Suspended, and its message."""
    binary = run_build(LUA_BUILD_SCRIPT)
    proc = subprocess.run([str(binary), str(HEALTH_LUA)], input=json.dumps(obj),
                          capture_output=True, text=True, check=True)
    found = json.loads(proc.stdout)
    return str(found["status"]), str(found["message"])
