"""Write single-layer container image archives (``docker save`` format) without a registry.

The node's sandbox ("pause") image and small test images are made from a handful of local
files, e.g. a static binary; ``Node.import_image`` (``ctr images import``) loads the archive.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Mapping, Sequence
from pathlib import Path

#: Busybox applets linked into ``busybox_image`` (``ssl_client`` lets ``wget`` speak HTTPS).
BUSYBOX_APPLETS = ("sh", "cat", "echo", "env", "id", "ls", "nc", "sleep", "sort", "test",
                   "touch", "tr", "wget", "ssl_client", "head", "grep", "true", "false")


def _add(tar: tarfile.TarFile, name: str, *, data: bytes | None = None, mode: int = 0o755,
         link: str | None = None) -> None:
    info = tarfile.TarInfo(name)
    info.mode, info.mtime = mode, 0
    if link is not None:
        info.type, info.linkname = tarfile.SYMTYPE, link
        tar.addfile(info)
    elif data is None:
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
    else:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def _layer(files: Mapping[str, Path], links: Mapping[str, str], dirs: Sequence[str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        made: set[str] = set()
        paths = [*files, *links, *(f"{d}/." for d in dirs)]
        for parent in sorted({p.rsplit("/", 1)[0] for p in paths if "/" in p}):
            parts = parent.split("/")
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in made:
                    made.add(d)
                    _add(tar, d, mode=0o1777 if d == "tmp" else 0o755)
        for name, src in sorted(files.items()):
            _add(tar, name, data=src.read_bytes(), mode=src.stat().st_mode & 0o7777)
        for name, target in sorted(links.items()):
            _add(tar, name, link=target)
    return buf.getvalue()


def write_image(archive: Path, ref: str, *, files: Mapping[str, Path],
                links: Mapping[str, str] | None = None, dirs: Sequence[str] = ("tmp",),
                entrypoint: Sequence[str] = (), cmd: Sequence[str] = ()) -> Path:
    """Write image ref (e.g. ``localkube.local/pause:1``) holding files to archive.

    files maps paths in the image (no leading slash) to local files; links maps paths to
    symlink targets; dirs are created empty (``tmp`` is world-writable).
    """
    layer = _layer(files, links or {}, dirs)
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Entrypoint": list(entrypoint) or None, "Cmd": list(cmd) or None,
                   "Env": ["PATH=/bin"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "localkube.imagearchive"}],
    }, sort_keys=True).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    layer_name = diff_id.removeprefix("sha256:") + "/layer.tar"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [ref], "Layers": [layer_name]}])
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w") as tar:
        _add(tar, config_name, data=config, mode=0o644)
        _add(tar, layer_name, data=layer, mode=0o644)
        _add(tar, "manifest.json", data=manifest.encode(), mode=0o644)
    return archive


def pause_image(archive: Path, pause_binary: Path, ref: str) -> Path:
    """The sandbox image: just the static pause binary."""
    return write_image(archive, ref, files={"pause": pause_binary}, entrypoint=["/pause"])


def busybox_image(archive: Path, ref: str, busybox: Path = Path("/bin/busybox")) -> Path:
    """A tiny test image: static busybox (Debian's ``busybox-static``) with common applets."""
    links = {f"bin/{applet}": "busybox" for applet in BUSYBOX_APPLETS}
    return write_image(archive, ref, files={"bin/busybox": busybox}, links=links,
                       dirs=("tmp", "etc", "proc", "sys", "dev"), cmd=["sh"])
