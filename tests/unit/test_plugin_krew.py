"""The krew manifest template and its filling (krew/build.py manifest)."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tarfile
import time
from pathlib import Path
from types import ModuleType

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def load_build() -> ModuleType:
    """krew/build.py (a script, not a package: `packaging` is taken)."""
    spec = importlib.util.spec_from_file_location("krew_build", ROOT / "krew" / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_filled_manifest_is_a_krew_plugin_naming_each_archive(tmp_path: Path) -> None:
    build = load_build()
    sums = {}
    for platform in build.PLATFORMS:
        archive = tmp_path / build.archive_name("1.2.3", platform)
        archive.write_bytes(platform.encode())
        sums[platform] = hashlib.sha256(platform.encode()).hexdigest()
    base = "https://github.com/o/r/releases/download/v1.2.3"
    text = build.manifest("1.2.3", base + "/", "https://github.com/o/r", tmp_path)
    assert "{{" not in text
    plugin = yaml.safe_load(text)
    assert (plugin["apiVersion"], plugin["kind"]) == (
        "krew.googlecontainertools.github.com/v1alpha2", "Plugin")
    assert plugin["metadata"]["name"] == "bulletin"  # kubectl bulletin -> kubectl-bulletin
    spec = plugin["spec"]
    assert (spec["version"], spec["homepage"]) == ("v1.2.3", "https://github.com/o/r")
    assert "python3" in spec["caveats"] and "GitOps" in spec["caveats"]
    assert len(spec["shortDescription"]) <= 50
    seen = []
    for entry in spec["platforms"]:
        labels = entry["selector"]["matchLabels"]
        platform = f"{labels['os']}_{labels['arch']}"
        seen.append(platform)
        assert entry["uri"] == f"{base}/kubectl-bulletin_v1.2.3_{platform}.tar.gz"
        assert (entry["sha256"], entry["bin"]) == (sums[platform], "kubectl-bulletin")
    assert sorted(seen) == sorted(build.PLATFORMS)


def test_a_missing_archive_fails_the_manifest(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_build().manifest("1.2.3", "https://x", "https://y", tmp_path)


def test_the_bundle_asks_for_the_ranges_pyproject_declares() -> None:
    reqs = load_build().requirements()
    assert any(r.startswith("pydantic>=") for r in reqs)
    assert any(r.startswith("kubernetes>=") for r in reqs)
    assert "boto3>=1.34,<2" in reqs
    assert any(r.startswith("starlette>=") for r in reqs)  # kubectl bulletin console


def test_archives_are_reproducible_and_the_shim_is_executable(tmp_path: Path) -> None:
    build = load_build()
    stage = tmp_path / "stage"
    (stage / "lib" / "pure" / "m").mkdir(parents=True)
    (stage / "lib" / "pure" / "m" / "__init__.py").write_text("x = 1\n")
    first = build.archive(stage, tmp_path / "a" / "x.tar.gz").read_bytes()
    os.utime(stage / "lib" / "pure" / "m" / "__init__.py", (time.time() + 99,) * 2)
    assert build.archive(stage, tmp_path / "b" / "x.tar.gz").read_bytes() == first
    with tarfile.open(tmp_path / "a" / "x.tar.gz") as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert sorted(members) == ["kubectl-bulletin", "lib", "lib/pure", "lib/pure/m",
                               "lib/pure/m/__init__.py"]
    assert members["kubectl-bulletin"].mode == 0o755
    assert members["lib/pure/m/__init__.py"].mode == 0o644
    assert {(m.uid, m.mtime) for m in members.values()} == {(0, 0)}
