"""SSRF: tenant URLs (webhooks, Slack, Teams, failure webhooks, S3 endpoints) reach public
addresses only unless the operator allows more; every resolved address is checked and HTTP
connects to the checked one; refused replies never land in status."""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import urllib3.util.connection
from bulletin.api.status import DeliveryRecord, RunRecord, RunResult, Trigger
from bulletin.deliver import netguard
from bulletin.deliver.dispatch import deliver_all
from bulletin.deliver.netguard import AddressRefused, NetPolicy, why_not_public
from bulletin.deliver.storage import ObjectStore
from bulletin.notify import notify_failure
from bulletin.runconfig import RunConfig
from delivery_support import PERIOD, context, no_sleep, report, spec
from devstack.ports import HOST
from devstack.s3 import S3Server
from devstack.webhooks import WebhookServer
from doubles import MemoryLedger

PRIVATE = "BULLETIN_ALLOW_PRIVATE_NETWORKS"


@pytest.fixture
def server() -> Iterator[WebhookServer]:
    receiver = WebhookServer(host="127.0.0.1").start()  # these tests are about loopback
    yield receiver
    receiver.stop()


@pytest.mark.parametrize(("address", "reason"), [
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("169.254.169.254", "link-local"),
    ("fe80::1", "link-local"), ("10.1.2.3", "private"), ("172.16.0.1", "private"),
    ("192.168.1.1", "private"), ("100.64.0.1", "CGNAT"), ("fd00::1", "unique-local"),
    ("224.0.0.1", "multicast"), ("ff02::1", "multicast"), ("0.0.0.0", "unspecified"),
    ("::", "unspecified"), ("::ffff:127.0.0.1", "loopback"), ("192.0.2.1", "private"),
])
def test_non_public_addresses_have_a_reason(address: str, reason: str) -> None:
    assert reason in (why_not_public(ipaddress.ip_address(address)) or "")


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert why_not_public(ipaddress.ip_address(address)) is None


def _webhook(url: str) -> dict[str, Any]:
    return {"webhooks": [{"name": "ops", "url": url}]}


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_webhook_to_a_private_address_is_refused_by_default(
        server: WebhookServer, tmp_path: Path, host: str) -> None:
    url = server.url("/ops").replace("127.0.0.1", host)
    [record] = deliver_all(spec(_webhook(url)), context({}, tmp_path, local_servers=False),
                           report(tmp_path / "out"), MemoryLedger(), PERIOD, sleep=no_sleep)
    assert (record.state, record.attempts) == ("Failed", 1)
    error = record.error or ""
    assert f"webhook/ops ({host}): host {host} resolves to 127.0.0.1, a loopback address" in error
    assert PRIVATE in error
    assert server.received == []


def test_the_operator_can_allow_a_network_or_a_host(server: WebhookServer, tmp_path: Path
                                                    ) -> None:
    for allow, host in (("10.0.0.0/8, 127.0.0.0/8", "127.0.0.1"), ("localhost", "localhost")):
        url = server.url(f"/{host}").replace("127.0.0.1", host)
        [record] = deliver_all(spec(_webhook(url)),
                               context({PRIVATE: allow}, tmp_path, local_servers=False),
                               report(tmp_path / "out"), MemoryLedger(), PERIOD, sleep=no_sleep)
        assert record.state == "Sent", record.error
    assert [r.path for r in server.received] == ["/127.0.0.1", "/localhost"]


def test_slack_and_teams_urls_are_checked_too(server: WebhookServer, tmp_path: Path) -> None:
    env = {"BULLETIN_SLACK_URL": server.url("/slack"), "BULLETIN_TEAMS_URL": server.url("/t")}
    delivery = {"slack": {"webhookSecretRef": {"name": "chat", "key": "slack"}},
                "teams": {"webhookSecretRef": {"name": "chat", "key": "teams"}}}
    records = deliver_all(spec(delivery), context(env, tmp_path, local_servers=False),
                          report(tmp_path / "out"), MemoryLedger(), PERIOD, sleep=no_sleep)
    assert [(r.state, "loopback address" in (r.error or "")) for r in records] == [
        ("Failed", True), ("Failed", True)]
    assert server.received == []


def test_the_url_host_allowlist(server: WebhookServer, tmp_path: Path) -> None:
    env = {"BULLETIN_ALLOWED_URL_HOSTS": "hooks.slack.com, *.webhook.office.com"}
    [record] = deliver_all(spec(_webhook(server.url("/ops"))), context(env, tmp_path),
                           report(tmp_path / "out"), MemoryLedger(), PERIOD, sleep=no_sleep)
    assert record.state == "Failed"
    assert "host 127.0.0.1 is not in the operator's allowed URL hosts" in (record.error or "")
    assert server.received == []
    allowed = {**env, "BULLETIN_ALLOWED_URL_HOSTS": "127.0.0.1"}
    [record] = deliver_all(spec(_webhook(server.url("/ops"))), context(allowed, tmp_path),
                           report(tmp_path / "out"), MemoryLedger(), PERIOD, sleep=no_sleep)
    assert record.state == "Sent", record.error


def test_connects_to_the_checked_address_not_a_second_lookup(
        server: WebhookServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS rebinding: the name answers an allowed address first, the metadata service after.
    The request must reach the address that was checked (the local server)."""
    real = socket.getaddrinfo
    answers: list[str] = []

    def rebinding(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "rebind.test":
            return real(host, port, *args, **kwargs)
        answers.append("127.0.0.1" if not answers else "169.254.169.254")
        return real(answers[-1], port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    url = server.url("/ops").replace("127.0.0.1", "rebind.test")
    [record] = deliver_all(spec(_webhook(url)), context({}, tmp_path), report(tmp_path / "out"),
                           MemoryLedger(), PERIOD, sleep=no_sleep)
    assert record.state == "Sent", record.error
    assert answers == ["127.0.0.1"]
    assert server.received[0].headers["host"].startswith("rebind.test")


def test_every_resolved_address_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.getaddrinfo

    def both(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        return [*real("127.0.0.1", port, *args, **kwargs),
                *real("169.254.169.254", port, *args, **kwargs)]

    monkeypatch.setattr(socket, "getaddrinfo", both)
    policy = NetPolicy.of(RunConfig.from_env({PRIVATE: "127.0.0.0/8"}))
    with pytest.raises(AddressRefused, match=r"169\.254\.169\.254, a link-local address"):
        policy.resolve("mixed.test", 443)


class _Chatty(BaseHTTPRequestHandler):
    """Answers every POST 400 with an internal secret in the body."""

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b"internal-token-4f1c in the error page"
        self.send_response(400)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _deliver_to(handler: type[BaseHTTPRequestHandler], tmp_path: Path) -> DeliveryRecord:
    """Deliver one webhook to a loopback server answering with ``handler``; its record."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/x"
        [record] = deliver_all(spec(_webhook(url)), context({}, tmp_path),
                               report(tmp_path / "out"), MemoryLedger(), PERIOD, sleep=no_sleep)
    finally:
        httpd.shutdown()
        httpd.server_close()
    return record


def test_no_part_of_a_reply_body_lands_in_status(tmp_path: Path) -> None:
    record = _deliver_to(_Chatty, tmp_path)
    assert record.state == "Failed" and "HTTP 400" in (record.error or "")
    assert "internal-token" not in (record.error or "")


def test_redirects_are_not_followed(tmp_path: Path) -> None:
    target = socket.socket()
    target.bind(("127.0.0.1", 0))
    target.listen(8)

    class Redirect(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(307)
            self.send_header("Location", f"http://127.0.0.1:{target.getsockname()[1]}/meta")
            self.send_header("Content-Length", "0")
            self.end_headers()

    record = _deliver_to(Redirect, tmp_path)
    assert record.state == "Failed" and "HTTP 307 redirect" in (record.error or "")
    target.setblocking(False)
    with pytest.raises(BlockingIOError):
        target.accept()
    target.close()


def test_a_failure_webhook_to_a_private_address_is_refused(
        server: WebhookServer, tmp_path: Path) -> None:
    env = {"BULLETIN_ONFAILURE_WEBHOOK": server.url("/notify")}
    ctx = context(env, tmp_path, local_servers=False)
    failing = spec(_webhook("https://hooks.example.com/x"),
                   notifications={"onFailure": {"webhookSecretRef": {"name": "n", "key": "u"}}})
    record = RunRecord(run_id="r1", trigger=Trigger.SCHEDULED, start_time=datetime.now(UTC),
                       result=RunResult.FAILED, message="webhook/ops: HTTP 500")
    [problem] = notify_failure(ctx, failing, record)
    assert "failure webhook (127.0.0.1): host 127.0.0.1 resolves to 127.0.0.1" in problem
    assert server.received == []
    assert notify_failure(context(env, tmp_path), failing, record) == []
    assert [r.path for r in server.received] == ["/notify"]


def test_an_s3_endpoint_on_a_private_address_is_refused(s3: S3Server, tmp_path: Path) -> None:
    bucket = s3.create_bucket("netguard-refused")
    endpoint = s3.endpoint.replace(HOST, "127.0.0.1")  # the server listens on loopback too
    storage = spec({**_webhook("https://h.example.com/x"),
                    "storage": {"endpoint": endpoint, "bucket": bucket, "encryption": "none",
                                "credentialsSecretRef": {"name": "s3"}}}).delivery.storage
    assert storage is not None
    credentials = {"accessKeyId": s3.access_key, "secretAccessKey": s3.secret_key,
                   "endpoint": endpoint}
    (tmp_path / "a.csv").write_text("a\n1\n")
    guarded = ObjectStore(storage, credentials, "s3", NetPolicy())
    with pytest.raises(AddressRefused, match=r"upload to s3://netguard-refused at http://127\.0\.0\.1"
                       r".*resolves to 127\.0\.0\.1, a loopback address"):
        guarded.put_file("k/a.csv", tmp_path / "a.csv", "text/csv")
    allowed = ObjectStore(storage, credentials, "s3",
                          NetPolicy.of(RunConfig.from_env({PRIVATE: "127.0.0.1/32"})))
    assert allowed.exists("k/a.csv") is False
    allowed.put_file("k/a.csv", tmp_path / "a.csv", "text/csv")
    assert allowed.exists("k/a.csv") is True


def test_the_guarded_client_ignores_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    with netguard.guarded_client(RunConfig()) as client:
        assert client._mounts == {}


def test_an_s3_connection_goes_to_the_address_that_was_checked(
        s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS is simulated (no rebinding DNS server runs here): the storage host resolves to the
    node address, which the operator allows. urllib3 is handed that checked address, never the
    name, so no second lookup (a DNS-rebinding window) stands between the check and the
    connection; and a name resolving to loopback is refused before anything is sent."""
    bucket = s3.create_bucket("netguard-pinned")
    port = int(s3.endpoint.rsplit(":", 1)[1])
    real_lookup, real_connect = socket.getaddrinfo, urllib3.util.connection.create_connection
    answer = {"rebind.example": HOST}
    connected: list[str] = []

    def lookup(host: str, *args: Any, **kwargs: Any) -> Any:
        return real_lookup(answer.get(host, host), *args, **kwargs)

    def connect(address: tuple[str, int], *args: Any, **kwargs: Any) -> Any:
        connected.append(address[0])
        return real_connect(address, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    monkeypatch.setattr(urllib3.util.connection, "create_connection", connect)
    endpoint = f"http://rebind.example:{port}"
    storage = spec({**_webhook("https://h.example.com/x"),
                    "storage": {"endpoint": endpoint, "bucket": bucket, "encryption": "none",
                                "credentialsSecretRef": {"name": "s3"}}}).delivery.storage
    assert storage is not None
    credentials = {"accessKeyId": s3.access_key, "secretAccessKey": s3.secret_key,
                   "endpoint": endpoint}
    (tmp_path / "a.csv").write_text("a\n1\n")
    store = ObjectStore(storage, credentials, "s3",
                        NetPolicy.of(RunConfig.from_env({PRIVATE: f"{HOST}/32"})))
    store.put_file("k/a.csv", tmp_path / "a.csv", "text/csv")
    assert connected and set(connected) == {HOST}, connected

    answer["rebind.example"] = "127.0.0.1" if HOST != "127.0.0.1" else "127.0.0.2"
    connected.clear()
    fresh = ObjectStore(storage, credentials, "s3",
                        NetPolicy.of(RunConfig.from_env({PRIVATE: f"{HOST}/32"})))
    with pytest.raises(AddressRefused, match=r"upload to s3://netguard-pinned at http://rebind\.example"
                       r".*host rebind\.example resolves to 127\.0\.0\.[12], a loopback address"):
        fresh.put_file("k/b.csv", tmp_path / "a.csv", "text/csv")
    assert connected == []
