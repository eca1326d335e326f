"""What GitOps tools say of an object: kstatus (sigs.k8s.io/cli-utils, the status library Flux
and kpt use) and Argo CD's health check for ReportSchedules, shipped in the layout of Argo CD's
resource_customizations (health.lua, health_test.yaml, testdata/<state>.yaml)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import yaml
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
HEALTH_DIR = REPO_ROOT / "docs" / "argocd" / "bulletin.dev" / "ReportSchedule"
HEALTH_LUA = HEALTH_DIR / "health.lua"
HEALTH_TESTS = HEALTH_DIR / "health_test.yaml"


def argocd_health(obj: dict[str, Any], script: Path = HEALTH_LUA) -> tuple[str, str]:
    """What Argo CD's health check (``script``, run by gopher-lua as Argo CD runs it) says of
    ``obj``: Healthy, Progressing, Degraded or Suspended, and its message."""
    binary = run_build(LUA_BUILD_SCRIPT)
    proc = subprocess.run([str(binary), str(script)], input=json.dumps(obj),
                          capture_output=True, text=True, check=True)
    found = json.loads(proc.stdout)
    return str(found["status"]), str(found["message"])


def health_cases(tests: Path = HEALTH_TESTS) -> list[tuple[str, str, str]]:
    """The cases of an upstream-format health_test.yaml: (inputPath, status, message)."""
    document = yaml.safe_load(tests.read_text())
    return [(case["inputPath"], case["healthStatus"]["status"],
             case["healthStatus"].get("message", "")) for case in document["tests"]]


def load_testdata(input_path: str, base: Path = HEALTH_DIR) -> dict[str, Any]:
    """The object of a health_test.yaml case (its inputPath is relative to the test file)."""
    obj: dict[str, Any] = yaml.safe_load((base / input_path).read_text())
    return obj


def as_testdata(obj: dict[str, Any]) -> str:
    """``obj`` as YAML for testdata/: what the API server returned, without the fields that
    only say where and when it was stored (managedFields, uid, resourceVersion)."""
    meta = {key: value for key, value in obj["metadata"].items()
            if key not in ("managedFields", "uid", "resourceVersion")}
    return yaml.safe_dump({**obj, "metadata": meta}, sort_keys=False, width=100)
