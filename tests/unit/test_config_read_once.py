"""Configuration is read once: the process environment is read only by the modules that turn it
into typed configuration at start; everything else is handed typed values."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
READS = re.compile(r"\bos\.environ\b|\bgetenv\b|\benviron\b")
ALLOWED = {
    # the runner's entry point: the pod env goes to RunContext.from_env / RunConfig.from_env
    "runner/bulletin/run.py",
    # the operator's configuration, parsed once (OperatorConfig)
    "operator/bulletin_operator/settings.py",
    # the Kubernetes client's own setup (in-cluster or KUBECONFIG; the API outage budget),
    # in the one gateway that makes clients
    "runner/bulletin/api/gateway.py",
    "runner/bulletin/plugin/rest.py",
    # the run archive's mounted URL file, shared by the operator and the console
    "runner/bulletin/archive/config.py",
}


def _readers() -> set[str]:
    found = set()
    for package in ("runner/bulletin", "operator/bulletin_operator"):
        for path in (ROOT / package).rglob("*.py"):
            if READS.search(path.read_text()):
                found.add(str(path.relative_to(ROOT)))
    return found


def test_only_the_configuration_modules_read_the_environment() -> None:
    assert _readers() - ALLOWED == set(), "read the setting into RunConfig or OperatorConfig"


def test_the_allowed_list_names_no_module_that_stopped_reading_it() -> None:
    assert ALLOWED - _readers() == set()
