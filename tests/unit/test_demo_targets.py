"""`make demo-up`/`demo-shell`/`demo-down` (devstack.democtl) and the README's use of them,
without starting a cluster (tests/devstack/democtl.py's ``up`` is run by hand: see its
docstring)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from devstack import demo, democtl
from support import wait_for

ROOT = Path(__file__).resolve().parents[2]


def make_n(*args: str) -> str:
    """What `make ARGS` would run (make -n: nothing runs)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    proc = subprocess.run(["make", "-n", "--no-print-directory", "-C", str(ROOT), *args],
                          capture_output=True, text=True, timeout=60, check=True, env=env)
    return proc.stdout


def test_make_demo_still_runs_the_demo_once_inside_a_throwaway_namespace() -> None:
    last = make_n("demo").strip().splitlines()[-1]
    assert re.search(r"-m localkube\.netns run -- \S+ -m devstack\.demo$", last), last


@pytest.mark.parametrize(("target", "command"), [
    ("demo-up", "-m devstack.democtl up"),
    ("demo-down", "-m devstack.democtl down"),
    ("demo-shell", "-m devstack.democtl shell"),
])
def test_the_demo_targets_call_democtl_outside_a_throwaway_namespace(target: str,
                                                                     command: str) -> None:
    last = make_n(target).strip().splitlines()[-1]
    assert last.rstrip().endswith(command), last
    assert "localkube.netns run" not in last  # a namespace that dies with make would end it


def test_demo_shell_passes_cmd_as_the_command_to_run() -> None:
    last = make_n("demo-shell", "CMD=kubectl get reportschedules -A").strip().splitlines()[-1]
    assert last.endswith("-m devstack.democtl shell kubectl get reportschedules -A"), last


def _fake_tools(tmp_path: Path) -> dict[str, str]:
    dirs = {}
    for key, tool in (("bin_dir", "kubectl"), ("helm_dir", "helm"),
                      ("python_bin", "kubectl-bulletin")):
        d = tmp_path / key
        d.mkdir()
        (d / tool).write_text("#!/bin/sh\n")
        (d / tool).chmod(0o755)
        dirs[key] = str(d)
    return dirs


def test_the_shell_finds_the_demos_kubectl_helm_and_plugin_before_any_other(
        tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    for tool in ("kubectl", "helm", "kubectl-bulletin"):
        (other / tool).write_text("#!/bin/sh\n")
        (other / tool).chmod(0o755)
    st = {**_fake_tools(tmp_path), "kubeconfig": "/k/config", "node_ip": "10.233.0.1"}
    env = democtl.shell_env(st, {"PATH": f"{other}:/usr/bin", "HOME": "/root"})
    assert env["KUBECONFIG"] == "/k/config"
    assert env["HOME"] == "/root"
    assert env["LOCALKUBE_NETNS"] == str(democtl.PIN)
    for key, tool in (("bin_dir", "kubectl"), ("helm_dir", "helm"),
                      ("python_bin", "kubectl-bulletin")):
        assert shutil.which(tool, path=env["PATH"]) == str(Path(st[key]) / tool)
    assert env["PATH"].endswith(f"{other}:/usr/bin")


@pytest.fixture()
def no_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """democtl's files in an empty directory: no demo is running."""
    monkeypatch.setattr(democtl, "PID", tmp_path / "serve.pid")
    monkeypatch.setattr(democtl, "STATE", tmp_path / "state.json")
    return tmp_path


def test_serve_pid_is_only_a_live_democtl_process(no_demo: Path) -> None:
    assert democtl.serve_pid() is None
    democtl.PID.write_text(str(os.getpid()))  # alive, but pytest, not `democtl serve`
    assert democtl.serve_pid() is None
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)",
                             "devstack.democtl", "serve"])
    try:
        democtl.PID.write_text(str(proc.pid))
        # Between fork and exec the child still shows pytest's command line: wait for exec.
        wait_for(lambda: b"devstack.democtl" in Path(f"/proc/{proc.pid}/cmdline").read_bytes(),
                 "the child's own command line", timeout=10, interval=0.01)
        assert democtl.serve_pid() == proc.pid
    finally:
        proc.kill()
        proc.wait()
    assert democtl.serve_pid() is None


def test_shell_and_status_say_no_demo_is_running(no_demo: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert democtl.main(["shell", "kubectl", "get", "ns"]) == 1
    assert "`make demo-up` starts one" in capsys.readouterr().err
    assert democtl.main(["status"]) == 1
    assert "no demo is running" in capsys.readouterr().out


def test_make_demo_refuses_to_wipe_a_running_demo_up(monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    removed: list[bool] = []
    monkeypatch.setattr(democtl, "serve_pid", lambda: 4242)
    monkeypatch.setattr(democtl, "remove_demo_dir", lambda: removed.append(True))
    monkeypatch.setattr(demo, "run", lambda hold=None: pytest.fail("the demo ran"))
    assert demo.main() == 1
    assert "make demo-down" in capsys.readouterr().err
    assert removed == []


def _readme_section(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(f"\n## {title}\n")
    return text[start:text.index("\n## ", start + 1)]


def test_readme_keeps_make_demo_and_make_test_first_and_its_make_targets_exist() -> None:
    text = (ROOT / "README.md").read_text()
    first = re.search(r"```sh\n(.*?)```", text, re.S)
    assert first is not None and first.group(1).split("\n")[:2] == ["make demo", "make test"]
    for target in ("demo-up", "demo-shell", "demo-down", "images"):
        assert f"make {target}" in text
        make_n(target)  # fails when make has no such target


def test_readme_install_sets_chart_values_that_exist() -> None:
    section = _readme_section("Install into a cluster")
    values = yaml.safe_load((ROOT / "charts" / "bulletin" / "values.yaml").read_text())
    keys = re.findall(r"--set ([\w.]+)=", section)
    assert {"image.repository", "image.tag", "image.pullPolicy", "runnerImage.repository",
            "runnerImage.tag", "runnerImage.pullPolicy"} <= set(keys)
    for key in keys:
        node = values
        for part in key.split("."):
            assert isinstance(node, dict) and part in node, f"{key} is not a chart value"
            node = node[part]
    assert "kind load image-archive ~/.cache/bulletin/images/bulletin-runner-" in section
