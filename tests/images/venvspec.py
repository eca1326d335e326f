"""Image build helper (stdlib only, runs inside the Dockerfiles' builder stage).

`requirements IMAGE`: the requirement lines an image installs, chosen by
[tool.bulletin.images.IMAGE] in pyproject.toml (pins stay in [project], in one place).
`finish IMAGE VENV APPDIR...`: the image's console scripts, a .pth naming the source
directories (the source is copied in as its own small layer), the preload list, and the trim.
"""

from __future__ import annotations

import re
import shutil
import sys
import tomllib
from pathlib import Path
from typing import Any

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def canonical(requirement: str) -> str:
    """The distribution name of a requirement line, normalised (PEP 503)."""
    match = _NAME.match(requirement.strip())
    if not match:
        raise ValueError(f"not a requirement: {requirement!r}")
    return re.sub(r"[-_.]+", "-", match.group()).lower()


def requirements(project: dict[str, Any], image: str) -> list[str]:
    """The image's requirements: the chosen [project] dependencies plus whole extras."""
    spec = project["tool"]["bulletin"]["images"][image]
    deps: list[str] = project["project"]["dependencies"]
    chosen = spec.get("dependencies", ["*"])
    if chosen == ["*"]:
        picked = list(deps)
    else:
        by_name = {canonical(d): d for d in deps}
        unknown = [n for n in chosen if canonical(n) not in by_name]
        if unknown:
            raise ValueError(f"{image}: not in [project].dependencies: {', '.join(unknown)}")
        picked = [by_name[canonical(n)] for n in chosen]
    extras = project["project"].get("optional-dependencies", {})
    for extra in spec.get("extras", []):
        picked += extras[extra]
    return picked


# Never imported at run time: test suites, type stubs, C sources and headers, and the asyncio
# twin of the Kubernetes client (kubernetes/aio, ~40 MB; Bulletin uses the synchronous client).
TRIM_DIR_NAMES = ("tests",)
TRIM_PATHS = ("kubernetes/aio",)
TRIM_SUFFIXES = (".pyi", ".pyx", ".pxd", ".c", ".h")
# botocore carries the models of every AWS service (~27 MB); Bulletin talks to S3 only, and
# credential providers may call STS (web identity) and SSO.
BOTOCORE_SERVICES = ("s3", "sts", "sso", "sso-oidc")


def finish(project: dict[str, Any], image: str, venv: Path, appdirs: list[str]) -> None:
    """Console scripts, the .pth for APPDIRS, VENV/preload.txt; then trim the venv."""
    python = venv / "bin" / "python"
    spec = project["tool"]["bulletin"]["images"][image]
    for name in spec.get("scripts", []):
        module, func = project["project"]["scripts"][name].split(":")
        script = venv / "bin" / name
        script.write_text(f"#!{python}\nimport sys\nfrom {module} import {func}\n"
                          f"sys.exit({func}())\n")
        script.chmod(0o755)
    (venv / "preload.txt").write_text(
        "\n".join(spec.get("preload", [])) + "\n")
    freed = 0
    for site in venv.glob("lib/python3*/site-packages"):
        (site / "bulletin-app.pth").write_text("".join(f"{d}\n" for d in appdirs))
        doomed = [p for p in site.rglob("*") if p.is_dir() and p.name in TRIM_DIR_NAMES]
        doomed += [site / path for path in TRIM_PATHS]
        models = site / "botocore" / "data"
        doomed += [p for p in models.glob("*/") if p.name not in BOTOCORE_SERVICES]
        doomed += [p for p in site.rglob("*") if p.suffix in TRIM_SUFFIXES and p.is_file()]
        for path in doomed:
            if path.exists():
                freed += sum(f.stat().st_size for f in [path, *path.rglob("*")] if f.is_file())
                shutil.rmtree(path) if path.is_dir() else path.unlink()
    print(f"venvspec: trimmed {freed / 1e6:.0f} MB from {venv}", file=sys.stderr)


def main(argv: list[str]) -> int:
    """CLI: see the module docstring."""
    project = tomllib.loads(Path("pyproject.toml").read_text())
    if len(argv) == 2 and argv[0] == "requirements":
        print("\n".join(requirements(project, argv[1])))
        return 0
    if len(argv) >= 4 and argv[0] == "finish":
        finish(project, argv[1], Path(argv[2]), argv[3:])
        return 0
    print("usage: venvspec.py requirements IMAGE | finish IMAGE VENV APPDIR...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
