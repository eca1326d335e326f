"""`make demo-up` leaves the demo running, reachable through `make demo-shell`, and
`make demo-down` stops all of it (devstack.democtl, in a directory of the test's own);
`make demo-console` serves the console from the demo's namespace on a loopback port here."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def democtl(demo_dir: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`python -m devstack.democtl ARGS` with the demo in demo_dir."""
    env = {**os.environ, "BULLETIN_DEMO_DIR": str(demo_dir)}
    return subprocess.run([sys.executable, "-m", "devstack.democtl", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def processes_using(path: Path) -> list[str]:
    """Command lines of the processes that name path (the cluster's, PostgreSQL's, serve's)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if str(path) in cmdline:
                found.append(cmdline)
    return found


def console_page(demo_dir: Path) -> str:
    """Start `democtl console` (what `make demo-console` runs), open the URL it prints from
    here, outside the demo's namespace, as a browser would (token, then cookie); stop it."""
    env = {**os.environ, "BULLETIN_DEMO_DIR": str(demo_dir)}
    proc = subprocess.Popen([sys.executable, "-m", "devstack.democtl", "console"], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:\d+/\?token=[\w-]+", line)
        assert found, line + (proc.stdout.read() if proc.poll() is not None else "")
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        with browser.open(found.group(), timeout=60) as page:
            assert page.status == 200 and "token=" not in page.url
            text: str = page.read().decode()
        with browser.open(found.group().split("/?")[0] + "/new", timeout=60) as form:
            assert form.status == 200 and "New schedule" in form.read().decode()
        return text
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) is not None


@pytest.fixture
def demo() -> Iterator[Path]:
    """A directory for the demo outside pytest's private tmp (PostgreSQL runs as `postgres`)."""
    root = Path(tempfile.mkdtemp(prefix="bulletin-demo-"))
    root.chmod(0o755)
    yield root / "demo"
    shutil.rmtree(root, ignore_errors=True)


def test_demo_up_stays_reachable_from_the_shell_until_demo_down(demo: Path) -> None:
    up = democtl(demo, "up", timeout=900)
    try:
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        assert "the demo is up, report delivered" in up.stdout
        ready = democtl(demo, "shell", "kubectl", "get", "reportschedule/weekly-usage", "-n",
                        "analytics", "-o", "jsonpath={.status.conditions[?(@.type=='Ready')]"
                        ".status}")
        assert (ready.returncode, ready.stdout) == (0, "True"), ready.stderr
        release = democtl(demo, "shell", "helm", "list", "-n", "bulletin-system", "-q")
        assert release.stdout.split() == ["bulletin"], release.stderr
        history = democtl(demo, "shell", "kubectl", "bulletin", "history", "weekly-usage", "-n",
                          "analytics", "--no-headers")
        assert "Succeeded" in history.stdout, history.stderr
        assert "make demo-console" in up.stdout
        page = console_page(demo)
        assert 'href="/s/analytics/weekly-usage"' in page, page
        assert processes_using(demo)  # still running after `up` returned
    finally:
        down = democtl(demo, "down", timeout=180)
    assert down.returncode == 0 and "the demo is stopped" in down.stdout, down.stderr
    deadline = time.monotonic() + 30
    while processes_using(demo) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert processes_using(demo) == []
    assert not (demo / "netns").exists()
    shell = democtl(demo, "shell", "kubectl", "get", "ns")
    assert shell.returncode == 1 and "no demo is running" in shell.stderr
