"""The GitHub workflows: actionlint passes them and fails a broken copy; the release's rules."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from localkube.builds import REPO_ROOT, run_build

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
RELEASE = WORKFLOWS / "release.yml"
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+(\.\d+)*$")


@pytest.fixture(scope="module")
def actionlint() -> Path:
    return run_build(REPO_ROOT / "tests" / "actionlint" / "build.sh")


def lint(actionlint: Path, *files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(actionlint), "-no-color", *map(str, files)],
                          capture_output=True, text=True, check=False, cwd=REPO_ROOT)


def test_our_workflows_pass_actionlint(actionlint: Path) -> None:
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert {f.name for f in files} >= {"ci.yml", "release.yml"}
    proc = lint(actionlint, *files)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(("old", "new", "complaint"), [
    # A job output that does not exist.
    ("needs.version.outputs.version }}\n      OWNER",
     "needs.version.outputs.verison }}\n      OWNER", 'property "verison" is not defined'),
    # A permission scope GitHub does not have.
    ("      packages: write   # push to GHCR", "      package: write",
     'unknown permission scope "package"'),
    # A step output read from a step id that does not exist.
    ("steps.build.outputs.digest }}\n        run: cosign sign",
     "steps.bulid.outputs.digest }}\n        run: cosign sign", 'property "bulid" is not defined'),
])
def test_actionlint_fails_a_broken_release(actionlint: Path, tmp_path: Path, old: str, new: str,
                                           complaint: str) -> None:
    proc = lint(actionlint, broken_release(tmp_path, old, new))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert complaint in proc.stdout


@pytest.mark.skipif(shutil.which("shellcheck") is None,
                    reason="shellcheck is not installed: actionlint checks no run: scripts")
def test_shellcheck_checks_run_scripts(actionlint: Path, tmp_path: Path) -> None:
    old = 'cosign sign --yes --recursive "$IMAGE@$DIGEST"'
    proc = lint(actionlint, broken_release(tmp_path, old, old.replace('"', "")))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "SC2086" in proc.stdout


def broken_release(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of release.yml with `old` (which must occur once) replaced by `new`."""
    text = RELEASE.read_text()
    assert text.count(old) == 1, f"the release workflow no longer contains {old!r}"
    broken = tmp_path / ".github" / "workflows" / "release.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(text.replace(old, new))
    return broken


@pytest.mark.parametrize("name", ["ci.yml", "release.yml"])
def test_actions_are_pinned_by_commit_with_their_version(name: str) -> None:
    lines = [line.split("uses:", 1)[1].strip()
             for line in (WORKFLOWS / name).read_text().splitlines() if "uses:" in line]
    assert lines
    assert [u for u in lines if not PINNED.match(u)] == []


def test_release_grants_each_job_only_what_it_needs() -> None:
    workflow = yaml.safe_load(RELEASE.read_text())
    assert workflow["permissions"] == {}
    grants = {name: job["permissions"] for name, job in workflow["jobs"].items()}
    writers = {name for name, perms in grants.items() if "write" in perms.values()}
    assert writers == {"images", "chart", "pypi", "krew"}
    assert grants["pypi"] == {"id-token": "write"}
    # Only the krew job writes contents: it creates the GitHub release and attaches the archives.
    assert grants["krew"] == {"contents": "write"}
    assert all(perms.get("contents", "read") == "read" for name, perms in grants.items()
               if name != "krew")
    assert set(workflow["jobs"]["krew"]["needs"]) >= {"images", "chart"}
    # PyPI cannot take an upload back: it waits for the images and the chart.
    assert set(workflow["jobs"]["pypi"]["needs"]) >= {"images", "chart"}
