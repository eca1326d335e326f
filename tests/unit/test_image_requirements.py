"""What each image installs ([tool.bulletin.images] via tests/images/venvspec.py)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from images.venvspec import canonical, finish, requirements

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


def test_runner_image_installs_every_dependency_and_the_render_and_console_extras() -> None:
    names = {canonical(r) for r in requirements(PROJECT, "runner")}
    extras = PROJECT["project"]["optional-dependencies"]
    expected = PROJECT["project"]["dependencies"] + extras["render"] + extras["console"]
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


def test_finish_writes_the_image_scripts_and_trims_only_what_is_never_imported(
    tmp_path: Path
) -> None:
    site = tmp_path / "lib" / "python3.11" / "site-packages"
    files = ["numpy/core/tests/test_x.py", "numpy/core/x.pyi", "numpy/core/include/x.h",
             "numpy/core/multiarray.py", "numpy/testing/__init__.py",
             "kubernetes/aio/client.py", "kubernetes/client/api.py",
             "botocore/data/s3/2006-03-01/service-2.json.gz", "botocore/data/ec2/x.json.gz",
             "botocore/data/endpoints.json"]
    for name in files:
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_text("x")
    (tmp_path / "bin").mkdir()
    finish(PROJECT, "runner", tmp_path, ["/app/runner"])
    kept = sorted(str(p.relative_to(site)) for p in site.rglob("*") if p.is_file())
    assert kept == ["botocore/data/endpoints.json", "botocore/data/s3/2006-03-01/service-2.json.gz",
                    "bulletin-app.pth", "kubernetes/client/api.py", "numpy/core/multiarray.py",
                    "numpy/testing/__init__.py"]
    assert (site / "bulletin-app.pth").read_text() == "/app/runner\n"
    assert sorted(p.name for p in (tmp_path / "bin").iterdir()) == ["bulletin", "bulletin-console",
                                                                 "bulletin-runner"]
    script = (tmp_path / "bin" / "bulletin-runner").read_text()
    assert script.startswith(f"#!{tmp_path}/bin/python\n")
    assert "from bulletin.run import main" in script
    assert "weasyprint" in (tmp_path / "preload.txt").read_text().split()
