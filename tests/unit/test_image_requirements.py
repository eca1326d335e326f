"""Which requirements each image installs ([tool.bulletin.images] via tests/images/venvspec.py)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from images.venvspec import canonical, requirements

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# Imported here only because the dev environment has them: kopf's and oauthlib's optional
# extras, and setuptools' site hook. The image runs without them (tests/integration/test_images).
OPTIONAL = {"bulletin", "blinker", "brotli", "setuptools"}


def closure(reqs: list[str]) -> set[str]:
    """The installed distributions ``reqs`` pull in, transitively (markers ignored)."""
    seen: set[str] = set()
    todo = [canonical(r) for r in reqs]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            todo += [canonical(r) for r in metadata.requires(name) or [] if "extra ==" not in r]
        except metadata.PackageNotFoundError:
            continue
    return seen


def test_runner_image_installs_every_dependency_and_the_render_extra() -> None:
    names = {canonical(r) for r in requirements(PROJECT, "runner")}
    expected = PROJECT["project"]["dependencies"] + PROJECT["project"]["optional-dependencies"][
        "render"]
    assert names == {canonical(r) for r in expected}


def test_operator_image_covers_what_the_operator_imports() -> None:
    code = ("import json, sys, bulletin_operator.handlers; from importlib import metadata; "
            "dists = metadata.packages_distributions(); "
            "print(json.dumps(sorted({d for m in list(sys.modules) "
            "for d in dists.get(m.partition('.')[0], [])})))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=120)
    imported = {canonical(d) for d in json.loads(proc.stdout.splitlines()[-1])}
    installed = closure(requirements(PROJECT, "operator"))
    assert "boto3" not in installed and "weasyprint" not in installed
    assert imported - OPTIONAL <= installed, imported - OPTIONAL - installed


def test_an_unknown_dependency_name_is_refused() -> None:
    project = json.loads(json.dumps(PROJECT))
    project["tool"]["bulletin"]["images"]["operator"]["dependencies"] = ["no-such-dist"]
    with pytest.raises(ValueError, match=re.escape("not in [project].dependencies: no-such-dist")):
        requirements(project, "operator")
