"""tests/setup/go.sh on a machine whose go is new enough, old (Debian 12's 1.19) or missing,
with stand-ins for go and apt-get that log what they are asked: the bootstrap fetches Go 1.26
as the module golang.org/toolchain only when needed, and the Go build scripts then use it.
(The real download was checked by hand with Debian's go 1.19.8: see tests/setup/go.sh.)"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GO_SH = ROOT / "tests" / "setup" / "go.sh"


def _release() -> str:
    """The Go release go.sh fetches (a 1.26.N)."""
    found = re.search(r"^GO_RELEASE=(go1\.26\.\d+) ", GO_SH.read_text(), re.M)
    assert found is not None
    return found[1]

# A stand-in go: its version is in the file beside it; `go mod download` makes a module
# directory holding another stand-in (of $FETCHED), without exec bits, as the module cache does.
FAKE_GO = """#!/bin/sh
echo "go $*" >> "$LOG"
case "$1 $2" in
  "version "*) echo "go version $(cat "$0.version") linux/amd64" ;;
  "env GOOS") echo linux ;;
  "env GOARCH") echo amd64 ;;
  "mod download")
    dir="$TOOLCHAINS/$4"; mkdir -p "$dir/bin" "$dir/pkg/tool/linux_amd64"
    cp "$0" "$dir/bin/go"; echo "$FETCHED" > "$dir/bin/go.version"
    : > "$dir/pkg/tool/linux_amd64/compile"
    chmod 0444 "$dir/bin/go" "$dir/pkg/tool/linux_amd64/compile"
    printf '{"Path": "golang.org/toolchain", "Dir": "%s"}\\n' "$dir" ;;
esac
"""


def _install_go(bin_dir: Path, version: str) -> None:
    (bin_dir / "go").write_text(FAKE_GO)
    (bin_dir / "go").chmod(0o755)
    (bin_dir / "go.version").write_text(version + "\n")


@pytest.fixture
def machine(tmp_path: Path) -> dict[str, str]:
    """A PATH of stand-ins (and the tools the script uses), a cache and a log."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("sh", "bash", "sed", "cut", "date", "mktemp", "rm", "mkdir", "chmod", "find",
                 "ln", "cat", "cp"):
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    (bin_dir / "python3").symlink_to(sys.executable)
    (bin_dir / "id").write_text("#!/bin/sh\necho 0\n")  # root, as on the real machine
    (bin_dir / "id").chmod(0o755)
    (tmp_path / "go.template").write_text(FAKE_GO)
    return {"PATH": str(bin_dir), "HOME": str(tmp_path), "LOG": str(tmp_path / "log"),
            "BULLETIN_CACHE": str(tmp_path / "cache"), "TOOLCHAINS": str(tmp_path / "mod"),
            "FETCHED": _release(), "FAKE_GO": str(tmp_path / "go.template"),
            "BIN": str(bin_dir)}


def _run(env: dict[str, str], script: Path = GO_SH) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True,
                          timeout=60, check=False)


def _log(env: dict[str, str]) -> list[str]:
    path = Path(env["LOG"])
    return path.read_text().splitlines() if path.exists() else []


def _go_of_build_scripts(env: dict[str, str]) -> str:
    """`go version` as a Go build script (sourcing tests/gocache.sh) sees it."""
    proc = subprocess.run(["bash", "-c", f"set -euo pipefail; source {ROOT}/tests/gocache.sh;"
                           " go version"], env=env, capture_output=True, text=True, timeout=60,
                          check=True)
    return proc.stdout.strip()


def test_a_new_enough_go_is_used_as_it_is(machine: dict[str, str]) -> None:
    _install_go(Path(machine["BIN"]), "go1.26.8")
    proc = _run(machine)
    assert proc.returncode == 0, proc.stderr
    assert [line for line in _log(machine) if not line.startswith("go version")] == []
    assert not (Path(machine["BULLETIN_CACHE"]) / "go").exists()
    assert _go_of_build_scripts(machine) == "go version go1.26.8 linux/amd64"


def test_debians_go_fetches_go_1_26_as_a_module_once(machine: dict[str, str]) -> None:
    release = machine["FETCHED"]
    _install_go(Path(machine["BIN"]), "go1.19.8")
    proc = _run(machine)
    assert proc.returncode == 0, proc.stderr
    module = f"golang.org/toolchain@v0.0.1-{release}.linux-amd64"
    assert f"go mod download -json {module}" in _log(machine)
    link = Path(machine["BULLETIN_CACHE"]) / "go"
    assert link.resolve() == Path(machine["TOOLCHAINS"], module)
    assert os.access(link / "bin" / "go", os.X_OK)
    assert os.access(link / "pkg" / "tool" / "linux_amd64" / "compile", os.X_OK)
    assert _go_of_build_scripts(machine) == f"go version {release} linux/amd64"
    # Once fetched, it is found first: no second download.
    Path(machine["LOG"]).unlink()
    assert _run(machine).returncode == 0
    assert not [line for line in _log(machine) if "download" in line]


def test_no_go_at_all_installs_debians_golang_go_first(machine: dict[str, str]) -> None:
    bin_dir = Path(machine["BIN"])
    (bin_dir / "apt-get").write_text(
        '#!/bin/sh\necho "apt-get $*" >> "$LOG"\n'
        '[ "$1" != install ] || { cp "$FAKE_GO" "$BIN/go"; chmod +x "$BIN/go";'
        ' echo go1.19.8 > "$BIN/go.version"; }\n')
    (bin_dir / "apt-get").chmod(0o755)
    proc = _run(machine)
    assert proc.returncode == 0, proc.stderr
    installs = [line for line in _log(machine) if line.startswith("apt-get install")]
    assert installs and installs[0].endswith("golang-go")
    assert _go_of_build_scripts(machine) == f"go version {machine['FETCHED']} linux/amd64"
