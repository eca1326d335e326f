"""Bulletin's container images for tests and tools: names and archives, built on demand.

`build()` runs tests/images/build.sh (a no-op taking about a second when nothing changed) and
returns what it built. Pods should use `Image.name` (the content tag: a changed image gets a new
name); `Image.archive` is a docker-archive for `ctr -n k8s.io images import` or `podman load`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BUILD = HERE / "build.sh"
CONTAINERS_CONF = HERE / "containers.conf"
NAMES = ("operator", "runner")


@dataclass(frozen=True)
class Image:
    """One built image."""

    name: str  # localhost/bulletin-<kind>:<hash of the build inputs>
    dev: str  # localhost/bulletin-<kind>:dev, the same image
    archive: Path  # docker-archive of `name`
    mb: int  # size as `podman image inspect` reports it
    base_mb: int  # the base image's size

    @property
    def above_base_mb(self) -> int:
        """What the image adds to its base."""
        return self.mb - self.base_mb


def podman_missing() -> str | None:
    """Why images cannot be built or run here, or None when podman is installed."""
    if shutil.which("podman") is None:
        return "podman is not installed (apt-get install podman buildah runc fuse-overlayfs uidmap)"
    return None


def podman_env() -> dict[str, str]:
    """The environment for podman commands: the project's containers.conf (runc, rlimits)."""
    return {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}


def podman(*args: str, timeout: float = 300, check: bool = True,
           **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run `podman ARGS` with podman_env(), capturing text output."""
    return subprocess.run(["podman", *args], env=podman_env(), capture_output=True, text=True,
                          timeout=timeout, check=check, **kwargs)


@cache
def _build(names: tuple[str, ...]) -> dict[str, Image]:
    proc = subprocess.run(["bash", str(BUILD), *names], stdout=subprocess.PIPE, text=True,
                          timeout=3600, check=True)  # progress goes to our stderr
    found = json.loads(proc.stdout)["images"]
    return {k: Image(name=v["image"], dev=v["dev"], archive=Path(v["archive"]), mb=v["mb"],
                     base_mb=v["base_mb"]) for k, v in found.items()}


def build(*names: str) -> dict[str, Image]:
    """Build (if needed) the named images, default both; once per process."""
    unknown = set(names) - set(NAMES)
    if unknown:
        raise ValueError(f"unknown images: {', '.join(sorted(unknown))}")
    return _build(tuple(names or NAMES))


def runner() -> Image:
    """The runner image, built if needed."""
    return build("runner")["runner"]


def operator() -> Image:
    """The operator image, built if needed."""
    return build("operator")["operator"]
