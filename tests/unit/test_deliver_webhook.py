"""Webhook, Slack and Teams delivery against a real HTTP server that verifies signatures."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bulletin.deliver.dispatch import deliver_all
from delivery_support import PERIOD, context, no_sleep, report, spec
from devstack.webhooks import WebhookServer
from doubles import MemoryLedger

KEY = "whsec-" + "k" * 24


@pytest.fixture
def server() -> Iterator[WebhookServer]:
    receiver = WebhookServer(key=KEY).start()
    yield receiver
    receiver.stop()


def _hook(server: WebhookServer, name: str = "ops", **extra: object) -> dict[str, object]:
    """A signed webhook: URL and signing key from the one Secret (the key signs only there)."""
    return {"name": name, "urlSecretRef": {"name": "hooks", "key": f"{name}-url"},
            "signingSecretRef": {"name": "hooks", "key": name}, **extra}


def _env(server: WebhookServer, *names: str, key: str = KEY) -> dict[str, str]:
    return {var: value for n in names for var, value in (
        (f"BULLETIN_WEBHOOK_{n.upper()}_URL", server.url(f"/{n}")),
        (f"BULLETIN_WEBHOOK_{n.upper()}_KEY", key))}


def _ops(server: WebhookServer, tmp_path: Path) -> Any:
    """The run context of a run with webhook ops' Secret keys."""
    return context(_env(server, "ops"), tmp_path)


def test_signed_payload_with_the_report_inline(server: WebhookServer, tmp_path: Path) -> None:
    built = report(tmp_path / "out")
    [record] = deliver_all(spec({"webhooks": [_hook(server)]}), _ops(server, tmp_path),
                           built, MemoryLedger(), PERIOD, sleep=no_sleep)
    assert (record.target, record.state, record.attempts, record.link) == (
        "webhook/ops", "Sent", 1, False)
    [got] = server.delivered("/ops")
    assert got.verified is True
    assert got.headers["x-bulletin-delivery"] == "analytics/weekly/weekly-29000000/webhook/ops"
    doc = got.json()
    assert doc["type"] == "bulletin.report"
    assert doc["schedule"] == {"namespace": "analytics", "name": "weekly"}
    assert doc["run"]["id"] == "weekly-29000000"
    assert doc["period"]["label"] == "2026-11-16..2026-11-22"
    assert doc["summary"]["rows"] == 3
    assert doc["summary"]["kpis"] == [{"label": "Revenue", "value": "€1,200", "change": "+5%"}]
    [artifact] = doc["artifacts"]
    data = built.artifacts[0].path.read_bytes()
    assert base64.b64decode(artifact["content"]) == data
    assert artifact["sha256"] == hashlib.sha256(data).hexdigest()


def test_500_twice_then_200_is_delivered_once(server: WebhookServer, tmp_path: Path) -> None:
    server.fail("/ops", [500, 500])
    waits: list[float] = []
    ledger = MemoryLedger()
    [record] = deliver_all(spec({"webhooks": [_hook(server)]}), _ops(server, tmp_path),
                           report(tmp_path / "out"), ledger, PERIOD, sleep=waits.append)
    assert (record.state, record.attempts, record.error) == ("Sent", 3, None)
    assert len(server.delivered()) == 1
    assert [r.status for r in server.received] == [500, 500, 200]
    assert all(r.verified for r in server.received)  # every attempt is signed afresh
    assert len({r.headers["x-bulletin-delivery"] for r in server.received}) == 1
    assert len(waits) == 2 and all(0.5 <= w <= 2 for w in waits)  # backoff with jitter
    assert [(s[0].state, s[0].attempts) for s in ledger.saves] == [
        ("Pending", 0), ("Pending", 1), ("Pending", 1), ("Pending", 2), ("Pending", 2),
        ("Pending", 3), ("Sent", 3)]
    assert "HTTP 500" in (ledger.saves[2][0].error or "")


def test_429_honours_retry_after(server: WebhookServer, tmp_path: Path) -> None:
    server.fail("/ops", [429], retry_after="2")
    waits: list[float] = []
    [record] = deliver_all(spec({"webhooks": [_hook(server)]}), _ops(server, tmp_path),
                           report(tmp_path / "out"), MemoryLedger(), PERIOD, sleep=waits.append)
    assert (record.state, record.attempts, waits) == ("Sent", 2, [2.0])


def test_a_retry_after_beyond_the_limit_gives_up(server: WebhookServer, tmp_path: Path) -> None:
    server.fail("/ops", [429], retry_after="3600")
    [record] = deliver_all(spec({"webhooks": [_hook(server)]}), _ops(server, tmp_path),
                           report(tmp_path / "out"), MemoryLedger(), PERIOD, sleep=no_sleep)
    assert (record.state, record.attempts) == ("Failed", 1)
    assert "HTTP 429" in (record.error or "")


@pytest.mark.parametrize("status", [400, 404, 410])
def test_4xx_is_permanent(server: WebhookServer, tmp_path: Path, status: int) -> None:
    server.fail("/ops", [status])
    [record] = deliver_all(spec({"webhooks": [_hook(server)]}), _ops(server, tmp_path),
                           report(tmp_path / "out"), MemoryLedger(), PERIOD, sleep=no_sleep)
    assert (record.state, record.attempts) == ("Failed", 1)
    assert f"HTTP {status}" in (record.error or "")


def test_a_wrong_key_is_rejected_by_the_receiver(server: WebhookServer, tmp_path: Path) -> None:
    env = _env(server, "ops", key="not-the-key-at-all")
    [record] = deliver_all(spec({"webhooks": [_hook(server)]}), context(env, tmp_path),
                           report(tmp_path / "out"), MemoryLedger(), PERIOD, sleep=no_sleep)
    assert (record.state, record.attempts) == ("Failed", 1)
    assert server.received[0].verified is False and "HTTP 401" in (record.error or "")
    assert "not-the-key-at-all" not in (record.error or "")


def test_a_slow_receiver_times_out_and_the_retry_succeeds(
        server: WebhookServer, tmp_path: Path) -> None:
    server.hold(1)
    try:
        [record] = deliver_all(
            spec({"webhooks": [_hook(server, timeoutSeconds=1)]}),
            _ops(server, tmp_path), report(tmp_path / "out"), MemoryLedger(), PERIOD,
            sleep=no_sleep)
    finally:
        server.release()
    assert (record.state, record.attempts) == ("Sent", 2)
    assert len(server.delivered()) == 1


def test_a_secret_url_is_never_shown(server: WebhookServer, tmp_path: Path) -> None:
    url = server.url("/services/T000/B000/xoxb-secret-token")
    server.fail("/services/T000/B000/xoxb-secret-token", [404])
    hook = {"name": "ops", "urlSecretRef": {"name": "hooks", "key": "url"}}
    env = {"BULLETIN_WEBHOOK_OPS_URL": url}
    ledger = MemoryLedger()
    [record] = deliver_all(spec({"webhooks": [hook]}), context(env, tmp_path),
                           report(tmp_path / "out"), ledger, PERIOD, sleep=no_sleep)
    assert record.state == "Failed" and "HTTP 404" in (record.error or "")
    assert "xoxb-secret-token" not in repr(ledger.saves)


def test_a_missing_secret_fails_only_that_target(server: WebhookServer, tmp_path: Path) -> None:
    hooks = [{"name": "a", "urlSecretRef": {"name": "hooks", "key": "a"}}, _hook(server, "b")]
    records = deliver_all(spec({"webhooks": hooks}), context(_env(server, "b"), tmp_path),
                          report(tmp_path / "out"), MemoryLedger(), PERIOD, sleep=no_sleep)
    assert [(r.target, r.state) for r in records] == [("webhook/a", "Failed"),
                                                      ("webhook/b", "Sent")]
    assert "webhooks[a].urlSecretRef is missing" in (records[0].error or "")


def test_large_reports_need_storage_for_webhooks(server: WebhookServer, tmp_path: Path) -> None:
    built = report(tmp_path / "out", {"big.bin": b"x" * 2000})
    [record] = deliver_all(spec({"webhooks": [_hook(server, linkAboveBytes=1000)]}),
                           _ops(server, tmp_path), built, MemoryLedger(), PERIOD,
                           sleep=no_sleep)
    assert (record.state, record.attempts) == ("Failed", 1)
    assert "set delivery.storage" in (record.error or "")
    assert server.received == []


def test_slack_and_teams_messages(server: WebhookServer, tmp_path: Path) -> None:
    env = {"BULLETIN_SLACK_URL": server.url("/slack"), "BULLETIN_TEAMS_URL": server.url("/teams")}
    delivery = {"slack": {"webhookSecretRef": {"name": "chat", "key": "slack"}},
                "teams": {"webhookSecretRef": {"name": "chat", "key": "teams"}}}
    records = deliver_all(spec(delivery, report={"title": "Weekly usage"}),
                          context(env, tmp_path), report(tmp_path / "out"), MemoryLedger(),
                          PERIOD, sleep=no_sleep)
    assert [(r.target, r.state, r.link) for r in records] == [("slack", "Sent", False),
                                                              ("teams", "Sent", False)]
    slack = server.delivered("/slack")[0].json()
    assert slack["text"].startswith("Weekly usage: 2026-11-16..2026-11-22")
    assert slack["blocks"][0]["text"]["text"] == "Weekly usage"
    assert slack["blocks"][2]["fields"][0]["text"] == "*Revenue*\n€1,200 (+5%)"
    card = server.delivered("/teams")[0].json()["attachments"][0]["content"]
    assert card["type"] == "AdaptiveCard"
    assert card["body"][0]["text"] == "Weekly usage"
    assert card["body"][2]["facts"] == [{"title": "Revenue", "value": "€1,200 (+5%)"}]


def test_teams_connector_errors_in_a_200_body_are_retried(
        server: WebhookServer, tmp_path: Path) -> None:
    server.reply("/teams", [b"Webhook message delivery failed with error: Microsoft Teams"
                            b" endpoint returned HTTP error 429 with ContextId abc"])
    env = {"BULLETIN_TEAMS_URL": server.url("/teams")}
    [record] = deliver_all(spec({"teams": {"webhookSecretRef": {"name": "c", "key": "t"}}}),
                           context(env, tmp_path), report(tmp_path / "out"), MemoryLedger(),
                           PERIOD, sleep=no_sleep)
    assert (record.state, record.attempts) == ("Sent", 2)


def test_a_secret_url_that_is_no_url_fails_naming_the_target_not_the_value(
        server: WebhookServer, tmp_path: Path) -> None:
    env = {**_env(server, "ops"), "BULLETIN_WEBHOOK_OPS_URL": "https://hooks.example:tok3n-x/"}
    [record] = deliver_all(spec({"webhooks": [_hook(server)]}), context(env, tmp_path),
                           report(tmp_path / "out"), MemoryLedger(), PERIOD, sleep=no_sleep)
    assert (record.state, record.attempts) == ("Failed", 1)
    assert record.error == ("webhook/ops: the URL is not a valid http(s) URL, e.g."
                            " https://hooks.example.com/x (its value is not shown: it may hold a"
                            " token)")
