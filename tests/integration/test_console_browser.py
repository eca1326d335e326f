"""The console in a real browser (Playwright driving Debian's Chromium), served by the real
`kubectl bulletin console`: axe-core finds no WCAG 2.1 A/AA violation on any page, an action
works with the keyboard alone, no page loads a script, and a screenshot of each page lands
in docs/console/ (the README shows them)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import consoledata
import pytest
from bulletin.archive.store import Archive
from devstack.postgres import Postgres
from kubernetes import client
from support import Cluster, wait_for

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "docs" / "console"
AXE = Path(os.environ.get("BULLETIN_AXE", Path.home() / ".cache" / "bulletin" / "axe" /
                          "node_modules" / "axe-core" / "axe.min.js"))
CHROMIUM = os.environ.get("BULLETIN_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


@contextmanager
def served(cluster: Cluster, namespace: str, *args: str) -> Iterator[str]:
    """`kubectl bulletin console` against the cluster, in ``namespace``: its printed URL."""
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.Popen([str(cluster.kubectl_bin), "bulletin", "console", "-n", namespace,
                             *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    found = re.search(r"http://127\.0\.0\.1:\d+/\?token=[\w-]+", line)
    assert found, line + (proc.stdout.read() if proc.poll() is not None else "")
    port = int(found.group().split(":")[2].split("/")[0])
    wait_for(lambda: _listening(port), "the console to listen", timeout=30)
    yield found.group()
    proc.terminate()
    proc.wait(timeout=30)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def console_url(cluster: Cluster, namespace: str, postgres: Postgres) -> Iterator[str]:
    """The console with the run archive: its URL in a Secret the kubeconfig's user reads."""
    cluster.core.create_namespaced_secret(namespace, client.V1Secret(
        metadata=client.V1ObjectMeta(name="runs-db"), string_data={"url": postgres.url}))
    with served(cluster, namespace, "--archive-secret", f"{namespace}/runs-db") as url:
        yield url


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def violations(page: Any) -> list[str]:
    """axe-core's WCAG 2.1 A/AA violations of the page as it stands: "rule: target"."""
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.evaluate(AXE.read_text())  # run by the browser's debugger: not a page script
    found = page.evaluate("async (tags) => (await axe.run(document, {runOnly: {type: 'tag',"
                          " values: tags}})).violations.map(v => v.id + ': ' +"
                          " v.nodes.map(n => n.target.join(' ')).join(', '))", WCAG)
    return list(found)


def _archived(postgres: Postgres, namespace: str, now: datetime) -> str:
    """Runs of weekly-sales older than its status window, in the run archive, one with a
    stored file that alice downloaded and bob got a link to; that run's id."""
    archive = Archive(postgres.url)
    archive.create()
    older = [consoledata.run("weekly-sales", n, now - timedelta(days=10 + n), "Succeeded",
                             rows=100 + n, seconds=30) for n in range(1, 31)]
    for n, entry in enumerate(older, 1):
        entry["runId"] = f"weekly-sales-old-{n:03d}"
    key = f"{namespace}/weekly-sales/2026/01/{older[0]['runId']}/sales.pdf"
    older[0]["deliveries"].append({"target": "archive", "state": "Sent", "attempts": 1,
                                   "objectKeys": [key]})
    archive.write(namespace, "weekly-sales", older)
    archive.record_access("alice@example.com", "download", namespace, "weekly-sales",
                          older[0]["runId"], [key], "203.0.113.7", now=now - timedelta(hours=2))
    archive.record_access("bob@example.com", "link", namespace, "weekly-sales",
                          older[0]["runId"], [key], "kubectl bulletin link", now=now)
    archive.engine.dispose()
    return str(older[0]["runId"])


def test_every_page_is_accessible_and_works_by_keyboard(
    cluster: Cluster, namespace: str, console_url: str, browser: Any, postgres: Postgres
) -> None:
    now = datetime.now(UTC)
    old_run = _archived(postgres, namespace, now)
    consoledata.create(cluster.api, namespace, "weekly-sales", now, {"owner": "ana"},
                       schedule={"weekly": {"days": ["MON"], "at": "09:00"},
                                 "timeZone": "Europe/Berlin"})
    consoledata.create(cluster.api, namespace, "daily-usage", now, {"owner": "ben"},
                       schedule={"daily": {"at": "06:00"}, "weekdaysOnly": True})
    consoledata.create(cluster.api, namespace, "monthly-invoices", now, {"owner": "ana"},
                       runs=3, suspend=True,
                       schedule={"monthly": {"lastDay": True, "at": "18:00"}})
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    scripts: list[str] = []
    page.on("request", lambda r: scripts.append(r.url) if r.resource_type == "script" else None)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    base = console_url.split("/?")[0]
    stranger = browser.new_context().new_page()  # no token: another local user
    assert stranger.goto(base + "/").status == 401
    assert stranger.goto(base + "/?token=guess").status == 401
    page.goto(console_url)
    assert "token=" not in page.url  # swapped for an HttpOnly cookie
    [failed] = [r for r in consoledata.status("weekly-sales", now)["history"]
                if r["result"] == "Failed"][:1]
    pages = {
        "schedules": f"/?namespace={namespace}",
        "schedule": f"/s/{namespace}/weekly-sales",
        "run": f"/s/{namespace}/weekly-sales/runs/{failed['runId']}",
        "statistics": f"/stats?days=30&namespace={namespace}",
        "filtered": f"/?namespace={namespace}&state=Suspended&owner=ana",
        "history": f"/s/{namespace}/weekly-sales/history",
        "archived-run": f"/s/{namespace}/weekly-sales/runs/{old_run}",
        "download-refused": f"/s/{namespace}/weekly-sales/runs/{old_run}/files/sales.pdf",
    }
    counts = {}
    for name, path in pages.items():
        response = page.goto(base + path)
        expected = 502 if name == "download-refused" else 200  # weekly-sales has no storage
        assert response is not None and response.status == expected, (name, response)
        assert page.locator("h1").count() == 1
        counts[name] = violations(page)
        if name == "run":
            assert 'relation "sales" does not exist' in page.inner_text("main")
        if name == "statistics":  # every archived run, beyond the status window
            assert "From the run archive" in page.inner_text("main")
        if name == "archived-run":
            text = page.inner_text("main")
            assert "From the run archive" in text and "Download sales.pdf" in text
            assert "alice@example.com" in text and "link issued" in text
        if name not in ("filtered", "download-refused"):
            page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    assert counts == {name: [] for name in pages}, counts
    with served(cluster, namespace, "--archive-secret", f"{namespace}/none") as plain:
        page.goto(plain)
        page.goto(plain.split("/?")[0] + pages["schedule"])
        assert "History is the status window" in page.inner_text("main")
        counts["schedule without archive"] = violations(page)
        page.goto(plain.split("/?")[0] + pages["statistics"])
        assert "No run archive is configured" in page.inner_text("main")
        counts["statistics without archive"] = violations(page)
        assert counts["schedule without archive"] == counts["statistics without archive"] == [], \
            counts

    page.goto(base + pages["schedule"])
    for _ in range(60):  # Tab from the top, as a keyboard user would, to the Suspend button
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "suspend":
            break
    else:
        raise AssertionError("Tab never reached the Suspend button")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("#outcome").count() == 1, page.inner_text("main")
    assert "weekly-sales is suspended" in page.inner_text("#outcome")
    wait_for(lambda: cluster.get_rs(namespace, "weekly-sales")["spec"].get("suspend"),
             "spec.suspend set by the keyboard")
    counts["after an action"] = violations(page)
    page.screenshot(path=str(SHOTS / "action.png"), full_page=True)
    assert counts["after an action"] == [], counts
    assert scripts == [] and not [e for e in errors if "Content Security Policy" in e], (
        scripts, errors)
    page.set_content("<html><body><img src='x.png'></body></html>")  # axe does see faults
    assert {v.split(":")[0] for v in violations(page)} >= {"html-has-lang", "image-alt"}
    print("axe-core WCAG 2.1 A/AA violations per page:",
          {k: len(v) for k, v in counts.items()})


def tab_to(page: Any, element_id: str, presses: int = 120) -> None:
    """Press Tab, as a keyboard user would, until the element has the focus."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == element_id:
            return
    raise AssertionError(f"Tab never reached #{element_id}")


def test_the_schedule_form_is_accessible_and_creates_a_schedule_by_keyboard(
    cluster: Cluster, namespace: str, console_url: str, browser: Any, postgres: Postgres
) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    cluster.core.create_namespaced_secret(namespace, client.V1Secret(
        metadata=client.V1ObjectMeta(name="db"), string_data={"url": postgres.url}))
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    scripts: list[str] = []
    page.on("request", lambda r: scripts.append(r.url) if r.resource_type == "script" else None)
    base = console_url.split("/?")[0]
    page.goto(console_url)
    counts: dict[str, list[str]] = {}
    assert page.goto(base + "/new").status == 200
    counts["form (empty)"] = violations(page)
    page.fill("#name", "bad-report")
    page.fill("#at", "25:00")
    with page.expect_navigation():
        page.click("#check")
    assert "spec.schedule.weekly.at" in page.inner_text("#e-at")
    assert page.get_attribute("#at", "aria-describedby") == "h-at e-at"
    counts["form with errors"] = violations(page)
    page.screenshot(path=str(SHOTS / "form-errors.png"), full_page=True)

    page.goto(base + "/new")  # from here on, the keyboard only
    for field, text in (("name", "kb-report"), ("time_zone", "Europe/Berlin"),
                        ("secret_name", "db"), ("dataset_name_0", "sales"),
                        ("dataset_query_0", "SELECT 1 AS one"), ("email_to", "team@example.com"),
                        ("email_secret", "smtp")):
        tab_to(page, field)
        page.keyboard.press("Control+A")
        page.keyboard.type(text)
    tab_to(page, "check")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "The API server accepts this schedule" in page.inner_text("#outcome")
    assert "kind: ReportSchedule" in page.inner_text("#yaml")
    assert page.locator("#h-next + table tbody tr").count() == 5
    counts["valid form with YAML"] = violations(page)
    page.screenshot(path=str(SHOTS / "form.png"), full_page=True)
    tab_to(page, "preview")  # local mode: rendered here, from the suite's PostgreSQL
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "Rendered on this machine" in page.inner_text("#preview-note")
    assert page.inner_text("#preview-rows tbody") == "sales\t1"
    assert "sales.csv" in page.inner_text("#preview-files")
    counts["preview rendered"] = violations(page)
    page.screenshot(path=str(SHOTS / "form-preview.png"), full_page=True)
    tab_to(page, "apply")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert f"Created kb-report in {namespace}." in page.inner_text("#outcome")
    counts["applied"] = violations(page)
    spec = wait_for(lambda: cluster.get_rs(namespace, "kb-report")["spec"], "kb-report")
    assert spec["schedule"]["timeZone"] == "Europe/Berlin"  # the rest: the CRD's defaults
    assert spec["schedule"]["weekly"] == {"days": ["MON"], "at": "09:00"}
    assert spec["datasets"] == [{"name": "sales", "query": "SELECT 1 AS one"}]
    page.goto(base + f"/s/{namespace}/kb-report/edit")
    counts["edit"] = violations(page)
    assert counts == {name: [] for name in counts}, counts
    assert scripts == []
    print("axe-core WCAG 2.1 A/AA violations per form state:",
          {k: len(v) for k, v in counts.items()})
