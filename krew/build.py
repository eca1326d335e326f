"""Build the krew archives of `kubectl bulletin` and fill the krew manifest (docs/plugin.md).

An archive is a directory tree, tarred: the `kubectl-bulletin` shim (a python3 script) and
lib/pure (the bulletin package and the plugin's pure-Python dependencies) plus lib/cp3XY per
supported CPython (the compiled ones: pydantic-core, PyYAML). Compiled extensions cannot be
imported from a zip file, hence a tree and not a zipapp.

    python krew/build.py archives --wheel dist/bulletin-1.2.3-py3-none-any.whl \\
        --version 1.2.3 --out dist/krew          # every platform, wheels from PyPI (pip)
    python krew/build.py manifest --version 1.2.3 --archives dist/krew \\
        --base-url https://github.com/OWNER/REPO/releases/download/v1.2.3 \\
        --homepage https://github.com/OWNER/REPO > dist/krew/bulletin.yaml
    python krew/build.py local --out DIR         # this machine, from the installed packages
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import importlib.metadata as md
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# What the plugin imports (boto3 for `link`; jinja2, starlette and uvicorn for `console`);
# version ranges come from pyproject.toml (its dependencies and its console extra).
NEEDS = ("pydantic", "croniter", "kubernetes", "pyyaml", "python-dateutil", "boto3", "jinja2",
         "starlette", "uvicorn")
PYTHONS = ("3.11", "3.12", "3.13", "3.14")

def _tags(prefixes: list[str], arch: str) -> tuple[str, ...]:
    return tuple(f"{p}_{arch}" for p in prefixes)


# krew platform -> the pip --platform tags it accepts (pip matches them exactly, so each older
# manylinux/macOS level is listed: glibc 2.17+, macOS 10.12+ on Intel, 11+ on Apple silicon).
_LINUX = ["manylinux_2_28", "manylinux_2_17", "manylinux2014"]
_MAC = [f"macosx_10_{minor}" for minor in range(9, 16)] + [f"macosx_{m}_0" for m in (11, 12)]
PLATFORMS = {
    "linux_amd64": _tags(_LINUX, "x86_64"),
    "linux_arm64": _tags(_LINUX, "aarch64"),
    "darwin_amd64": _tags(_MAC, "x86_64") + _tags(_MAC, "universal2"),
    "darwin_arm64": _tags(_MAC[-2:], "arm64") + _tags(_MAC, "universal2"),
}
COMPILED = "pydantic_core"  # compiled, or pip fell back to its empty py3-none-any 0.0.1
PLACEHOLDER = re.compile(r"\{\{([A-Z0-9_]+)\}\}")


def requirements() -> list[str]:
    """The plugin's dependencies with pyproject.toml's version ranges."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = project["dependencies"] + project["optional-dependencies"]["console"]
    by_name = {Requirement(r).name.lower(): r for r in declared}
    return [by_name.get(name, name) for name in NEEDS]


def _pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "install",
                    "--quiet", "--root-user-action=ignore", "--no-warn-conflicts", *args],
                   check=True)


def _is_pure(dist_info: Path) -> bool:
    return "Root-Is-Purelib: true" in (dist_info / "WHEEL").read_text()


def _top_levels(dist_info: Path) -> set[str]:
    """The top-level files and directories a dist installed (from its RECORD)."""
    lines = (dist_info / "RECORD").read_text().splitlines()
    return {line.split(",")[0].split("/")[0] for line in lines if line
            and not line.startswith("..")} - {"__pycache__"}


def _prune(tree: Path) -> None:
    for cache in list(tree.rglob("__pycache__")):
        shutil.rmtree(cache)
    for extra in ("bin", "share", "bulletin_operator"):
        shutil.rmtree(tree / extra, ignore_errors=True)


def _platform_args(tags: tuple[str, ...]) -> list[str]:
    return [arg for tag in tags for arg in ("--platform", tag)]


def stage_from_pip(stage: Path, wheel: Path, platform: tuple[str, ...]) -> None:
    """lib/ for ``platform`` from ``wheel`` and PyPI: the dependencies are resolved once for
    the oldest CPython; their compiled ones are fetched again for each newer one."""
    lib = stage / "lib"
    _pip("--no-deps", "--target", str(lib / "pure"), str(wheel))
    first = f"cp{PYTHONS[0].replace('.', '')}"
    with tempfile.TemporaryDirectory() as tmp:
        resolved = Path(tmp)
        _pip("--target", str(resolved), "--only-binary=:all:", *_platform_args(platform),
             "--python-version", PYTHONS[0], "--implementation", "cp", "--abi", first,
             *requirements())
        compiled: list[str] = []
        for dist_info in sorted(resolved.glob("*.dist-info")):
            pure = _is_pure(dist_info)
            if not pure:
                name, version = dist_info.name.removesuffix(".dist-info").rsplit("-", 1)
                compiled.append(f"{name}=={version}")
            dest = lib / ("pure" if pure else first)
            dest.mkdir(parents=True, exist_ok=True)
            for top in _top_levels(dist_info) | {dist_info.name}:
                if (resolved / top).exists():
                    shutil.move(str(resolved / top), str(dest / top))
    if not any(c.startswith(f"{COMPILED}==") for c in compiled):
        raise RuntimeError(f"pip found no compiled {COMPILED} wheel for {platform}")
    for python in PYTHONS[1:]:
        abi = f"cp{python.replace('.', '')}"
        _pip("--no-deps", "--target", str(lib / abi), "--only-binary=:all:",
             *_platform_args(platform), "--python-version", python, "--implementation", "cp",
             "--abi", abi, *compiled)
    for tree in lib.iterdir():
        _prune(tree)


def _closure() -> list[md.Distribution]:
    """The installed distributions the plugin needs, with their dependencies."""
    seen: dict[str, md.Distribution] = {}
    todo = [Requirement(r) for r in requirements()]
    while todo:
        req = todo.pop()
        key = req.name.lower().replace("_", "-")
        if key in seen or (req.marker is not None and not req.marker.evaluate({"extra": ""})):
            continue
        seen[key] = dist = md.distribution(req.name)
        todo += [Requirement(r) for r in dist.requires or []]
    return list(seen.values())


def stage_from_env(stage: Path) -> None:
    """lib/ for this machine and this python3 only, from the installed packages and this
    checkout's bulletin package (no network: a test can build it)."""
    lib = stage / "lib"
    shutil.copytree(ROOT / "runner" / "bulletin", lib / "pure" / "bulletin",
                    ignore=shutil.ignore_patterns("__pycache__"))
    native = lib / f"cp{sys.version_info[0]}{sys.version_info[1]}"
    native.mkdir(parents=True)
    for dist in _closure():
        dist_info = Path(str(dist.locate_file(""))) / next(
            str(f).split("/")[0] for f in dist.files or [] if ".dist-info/" in str(f))
        dest = lib / "pure" if _is_pure(dist_info) else native
        for file in dist.files or []:
            if str(file).startswith("..") or "__pycache__" in file.parts:
                continue
            target = dest / file
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(str(dist.locate_file(file)), target)


def archive(stage: Path, out: Path) -> Path:
    """``stage`` plus the shim as a reproducible tar.gz."""
    shutil.copy2(HERE / "kubectl-bulletin", stage / "kubectl-bulletin")

    def normal(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mtime = 0
        info.mode = 0o755 if info.isdir() or info.name.endswith("kubectl-bulletin") else 0o644
        return info

    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(stage.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(stage)), recursive=False, filter=normal)
    return out


def archive_name(version: str, platform: str) -> str:
    return f"kubectl-bulletin_v{version}_{platform}.tar.gz"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def manifest(version: str, base_url: str, homepage: str, archives: Path) -> str:
    """The krew manifest: the template with every placeholder filled, or ValueError."""
    values = {"VERSION": version, "BASE_URL": base_url.rstrip("/"), "HOMEPAGE": homepage}
    for platform in PLATFORMS:
        values[f"SHA256_{platform.upper()}"] = sha256(archives / archive_name(version, platform))
    template = (HERE / "bulletin.yaml").read_text()
    missing = set(PLACEHOLDER.findall(template)) - set(values)
    if missing:
        raise ValueError(f"no value for {sorted(missing)}")
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def host_platform() -> str:
    """This machine as krew names it, e.g. linux_amd64."""
    platform = sysconfig.get_platform()  # linux-x86_64, macosx-11.0-arm64
    system = "darwin" if platform.startswith("macosx") else platform.split("-")[0]
    return f"{system}_{'arm64' if platform.endswith(('aarch64', 'arm64')) else 'amd64'}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("archives", help="one archive per platform (needs PyPI)")
    build.add_argument("--wheel", type=Path, required=True)
    build.add_argument("--version", required=True)
    build.add_argument("--out", type=Path, required=True)
    build.add_argument("--platform", action="append", choices=sorted(PLATFORMS))
    local = sub.add_parser("local", help="an archive for this machine from installed packages")
    local.add_argument("--out", type=Path, required=True)
    fill = sub.add_parser("manifest", help="print the filled krew manifest")
    fill.add_argument("--version", required=True)
    fill.add_argument("--base-url", required=True)
    fill.add_argument("--homepage", required=True)
    fill.add_argument("--archives", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.command == "manifest":
        sys.stdout.write(manifest(args.version, args.base_url, args.homepage, args.archives))
        return
    platforms = (args.platform or list(PLATFORMS)) if args.command == "archives" else ["local"]
    for platform in platforms:
        with tempfile.TemporaryDirectory() as tmp:
            stage = Path(tmp)
            if args.command == "archives":
                stage_from_pip(stage, args.wheel, PLATFORMS[platform])
                name = archive_name(args.version, platform)
            else:
                stage_from_env(stage)
                name = f"kubectl-bulletin_local_{host_platform()}.tar.gz"
            path = archive(stage, args.out / name)
            print(f"{path}  {path.stat().st_size // 1024} KiB  sha256 {sha256(path)}")


if __name__ == "__main__":
    main()
