"""`bulletin-runner` started without the environment its CronJob gives it: one line, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPLETE = {"BULLETIN_NAMESPACE": "analytics", "BULLETIN_SCHEDULE": "weekly-usage"}


def run_runner(**env: str) -> subprocess.CompletedProcess[str]:
    """The runner's entry point as a process, with only ``env`` (plus the checkout on its path)."""
    base = {"PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": f"{ROOT / 'runner'}{os.pathsep}{ROOT / 'operator'}"}
    code = "import sys, bulletin.run as r; sys.exit(r.main())"
    return subprocess.run([sys.executable, "-c", code], env=base | env, capture_output=True,
                          text=True, timeout=60)


@pytest.mark.parametrize(("env", "expected"), [
    ({}, "missing environment: BULLETIN_NAMESPACE, BULLETIN_SCHEDULE"),
    ({"BULLETIN_SCHEDULE": "weekly-usage"}, "missing environment: BULLETIN_NAMESPACE "),
    (COMPLETE | {"BULLETIN_TRIGGER": "Sometimes"}, "BULLETIN_TRIGGER must be one of Scheduled"),
    (COMPLETE | {"BULLETIN_RUN_OPTIONS": "{not json"}, "BULLETIN_RUN_OPTIONS: options"),
    (COMPLETE | {"BULLETIN_LOG_LEVEL": "loud"}, "BULLETIN_LOG_LEVEL: unknown level 'LOUD'"),
])
def test_unusable_environment_is_one_line_and_exit_2(env: dict[str, str], expected: str) -> None:
    proc = run_runner(**env)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("bulletin-runner: ") and expected in lines[0], lines[0]
