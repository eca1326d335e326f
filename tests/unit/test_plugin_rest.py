"""The listing commands' small REST client against a loopback HTTP server: which kubeconfigs it
takes, the requests it sends, and API errors read as kubectl reads them."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from bulletin.plugin import cli
from bulletin.plugin.rest import load

SCHEDULE = {"apiVersion": "bulletin.dev/v1alpha1", "kind": "ReportSchedule",
            "metadata": {"name": "daily", "namespace": "analytics",
                         "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"schedule": {"daily": {"at": "06:00"}}}}


class Api(BaseHTTPRequestHandler):
    seen: list[tuple[str, str | None]] = []

    def do_GET(self) -> None:
        Api.seen.append((self.path, self.headers.get("Authorization")))
        if self.path.endswith("/reportschedules/nope"):
            status, body = 404, {"kind": "Status", "reason": "NotFound", "code": 404,
                                 "message": 'reportschedules.bulletin.dev "nope" not found'}
        else:
            status, body = 200, {"kind": "ReportScheduleList", "items": [SCHEDULE]}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    Api.seen.clear()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    thread.join(timeout=10)


def kubeconfig(tmp_path: Path, server: str, user: dict[str, Any]) -> str:
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "dev",
        "contexts": [{"name": "dev", "context": {"cluster": "c", "user": "u",
                                                 "namespace": "analytics"}}],
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": user}]}))
    return str(path)


def test_a_token_kubeconfig_lists_with_the_selector(
        tmp_path: Path, server: str, capsys: pytest.CaptureFixture[str]) -> None:
    config = kubeconfig(tmp_path, server, {"token": "t0ken"})
    rest = load(config, None)
    assert rest is not None and rest.namespace == "analytics"
    assert cli.main(["get", "--kubeconfig", config, "-l", "team=a", "--no-headers"]) == 0
    assert capsys.readouterr().out.split()[0] == "daily"
    assert Api.seen == [("/apis/bulletin.dev/v1alpha1/namespaces/analytics/reportschedules"
                         "?labelSelector=team%3Da", "Bearer t0ken")]


def test_api_errors_read_like_kubectl(tmp_path: Path, server: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    config = kubeconfig(tmp_path, server, {"token": "t0ken"})
    assert cli.main(["status", "nope", "--kubeconfig", config]) == 1
    assert capsys.readouterr().err == \
        'Error from server (NotFound): reportschedules.bulletin.dev "nope" not found\n'


@pytest.mark.parametrize("user", [
    {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "login"}},
    {"auth-provider": {"name": "oidc"}},
    {"token": "t", "as": "someone"},
])
def test_other_logins_are_left_to_the_kubernetes_client(
        tmp_path: Path, user: dict[str, Any]) -> None:
    assert load(kubeconfig(tmp_path, "https://127.0.0.1:1", user), None) is None


def test_several_kubeconfig_files_are_left_to_the_kubernetes_client(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    one = kubeconfig(tmp_path, "https://127.0.0.1:1", {"token": "t"})
    monkeypatch.setenv("KUBECONFIG", f"{one}:{tmp_path}/other")
    assert load(None, None) is None
    (tmp_path / "broken").write_text("{ not: yaml")
    assert load(str(tmp_path / "broken"), None) is None
