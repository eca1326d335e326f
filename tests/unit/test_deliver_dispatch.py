"""Delivery bookkeeping: resume, results, the ledger, retries, the pod env and the API."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from bulletin.api.backoff import Backoff
from bulletin.api.delivery import Retry
from bulletin.api.history import StatusError, with_deliveries
from bulletin.api.podenv import S3_KEYS, SMTP_KEYS, delivery_env
from bulletin.api.status import DeliveryRecord, ReportScheduleStatus, RunRecord, RunResult, Trigger
from bulletin.deliver.dispatch import deliver_all, run_result
from bulletin.deliver.retry import parse_retry_after
from bulletin.deliver.webhook import sign, signed_headers, verify
from bulletin.ledger import LedgerError
from bulletin.redact import delivery_secrets
from delivery_support import PERIOD, context, no_sleep, report, spec
from devstack.webhooks import WebhookServer
from doubles import MemoryLedger
from pydantic import ValidationError

if TYPE_CHECKING:
    from bulletin.deliver.content import ReportLike
    from bulletin.report import BuiltReport

    def _built_report_fits(report: BuiltReport) -> ReportLike:  # checked by mypy
        return report


@pytest.fixture
def server() -> Iterator[WebhookServer]:
    receiver = WebhookServer().start()
    yield receiver
    receiver.stop()


def _hooks(server: WebhookServer, *names: str) -> list[dict[str, str]]:
    return [{"name": n, "url": server.url(f"/{n}")} for n in names]


def test_a_resumed_run_sends_only_to_targets_not_yet_sent(
        server: WebhookServer, tmp_path: Path) -> None:
    earlier = [DeliveryRecord(target="webhook/a", state="Sent", attempts=1),
               DeliveryRecord(target="webhook/b", state="Pending", attempts=1),
               DeliveryRecord(target="webhook/gone", state="Sent", attempts=1)]
    records = deliver_all(spec({"webhooks": _hooks(server, "a", "b", "c")}),
                          context({}, tmp_path), report(tmp_path / "out"),
                          MemoryLedger(earlier), PERIOD, sleep=no_sleep)
    assert [(r.target, r.state, r.attempts) for r in records] == [
        ("webhook/a", "Sent", 1), ("webhook/b", "Sent", 2), ("webhook/c", "Sent", 1),
        ("webhook/gone", "Sent", 1)]
    assert [r.path for r in server.delivered()] == ["/b", "/c"]


def test_every_target_is_recorded_pending_before_anything_is_sent(
        server: WebhookServer, tmp_path: Path) -> None:
    ledger = MemoryLedger()
    deliver_all(spec({"webhooks": _hooks(server, "a", "b")}), context({}, tmp_path),
                report(tmp_path / "out"), ledger, PERIOD, sleep=no_sleep)
    assert [[(r.target, r.state, r.attempts) for r in s] for s in ledger.saves] == [
        [("webhook/a", "Pending", 0), ("webhook/b", "Pending", 0)],
        [("webhook/a", "Pending", 1), ("webhook/b", "Pending", 0)],
        [("webhook/a", "Sent", 1), ("webhook/b", "Pending", 0)],
        [("webhook/a", "Sent", 1), ("webhook/b", "Pending", 1)],
        [("webhook/a", "Sent", 1), ("webhook/b", "Sent", 1)],
    ]


class _BrokenLedger(MemoryLedger):
    """Fails from the ``n``-th save on, like an API server going away."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def save(self, records: Sequence[DeliveryRecord]) -> None:
        if len(self.saves) + 1 >= self.n:
            raise LedgerError("cannot write the delivery ledger: ServiceUnavailable")
        super().save(records)


def test_nothing_is_sent_that_could_not_be_recorded_first(
        server: WebhookServer, tmp_path: Path) -> None:
    with pytest.raises(LedgerError):
        deliver_all(spec({"webhooks": _hooks(server, "a", "b")}), context({}, tmp_path),
                    report(tmp_path / "out"), _BrokenLedger(4), PERIOD, sleep=no_sleep)
    assert [r.path for r in server.received] == ["/a"]  # b's Pending write failed: b not sent


@pytest.mark.parametrize(("states", "expected"), [
    ([("email", "Sent", []), ("webhook/a", "Sent", [])], RunResult.SUCCEEDED),
    ([("email", "Failed", []), ("webhook/a", "Sent", [])], RunResult.PARTIALLY_DELIVERED),
    ([("email", "Failed", []), ("webhook/a", "Failed", [])], RunResult.FAILED),
    ([("email", "Failed", ["a@x.org"])], RunResult.PARTIALLY_DELIVERED),
    ([("archive", "Sent", []), ("email", "Failed", [])], RunResult.FAILED),
    ([("archive", "Failed", []), ("email", "Sent", ["a@x.org"])], RunResult.PARTIALLY_DELIVERED),
    ([("email", "Pending", [])], RunResult.FAILED),
])
def test_the_result_never_claims_more_than_happened(
        states: list[tuple[str, str, list[str]]], expected: RunResult) -> None:
    records = [DeliveryRecord(target=t, state=s, recipients=r, error="boom" if s != "Sent"
                              else None) for t, s, r in states]
    result, message = run_result(records)
    assert result is expected
    assert (message is None) == (expected is RunResult.SUCCEEDED)


def test_ledger_updates_only_this_runs_entry() -> None:
    def run(run_id: str) -> dict[str, Any]:
        return RunRecord(run_id=run_id, trigger=Trigger.MANUAL,
                         start_time=datetime(2026, 11, 23, tzinfo=UTC)).wire()

    status: dict[str, Any] = {"history": [run("r2"), run("r1")], "lastRun": run("r2")}
    before = ReportScheduleStatus.parse(status)
    sent = DeliveryRecord(target="email", state="Sent")
    update = before.changes(with_deliveries(before, "r2", [sent]))
    assert update["history"][0]["deliveries"] == [sent.wire()]
    assert update["history"][1] == status["history"][1]
    assert update["lastRun"]["deliveries"] == [sent.wire()]
    assert "lastRun" not in before.changes(with_deliveries(before, "r1", []))
    with pytest.raises(StatusError):
        with_deliveries(before, "r3", [])


def test_backoff_is_exponential_with_jitter_and_obeys_retry_after() -> None:
    backoff = Backoff.of(Retry(initial_backoff_seconds=2, max_backoff_seconds=60),
                      random.Random(7))
    for retry, step in [(1, 2), (2, 4), (3, 8), (6, 60), (9, 60)]:
        delays = [backoff.delay(retry) for _ in range(50)]
        assert all(d is not None and step / 2 <= d <= step for d in delays)
        assert len(set(delays)) > 1
    assert backoff.delay(1, retry_after=30) == 30
    assert backoff.delay(1, retry_after=61) is None
    now = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    assert parse_retry_after("Sat, 21 Nov 2026 10:00:42 GMT", now) == 42
    assert parse_retry_after("7") == 7 and parse_retry_after("soon") is None


def test_signature_scheme_matches_the_documentation() -> None:
    body = b'{"type":"bulletin.report"}'
    assert sign("key", 1795000000, body) == (
        "v1=" + __import__("hmac").new(b"key", b"1795000000." + body, "sha256").hexdigest())
    headers = signed_headers("key", "ns/name/run/webhook/a", body, now=1795000000)
    assert verify("key", headers, body, now=1795000100)
    assert not verify("key", headers, body, now=1795000301)  # a replay, too old
    assert not verify("other", headers, body, now=1795000000)
    assert not verify("key", headers, body + b" ", now=1795000000)
    assert signed_headers(None, "id", body) == {"X-Bulletin-Delivery": "id"}


FULL = {
    "email": {"smtpSecretRef": {"name": "smtp"}, "to": ["a@example.com"]},
    "webhooks": [{"name": "ops-alerts", "urlSecretRef": {"name": "hooks", "key": "ops"},
                  "signingSecretRef": {"name": "hooks", "key": "ops-key"}},
                 {"name": "plain", "url": "https://example.com/hook"}],
    "slack": {"webhookSecretRef": {"name": "chat", "key": "slack"}},
    "teams": {"webhookSecretRef": {"name": "chat", "key": "teams"}},
    "storage": {"bucket": "reports", "credentialsSecretRef": {"name": "s3"}},
}


def test_pod_env_names_every_delivery_secret_key_and_nothing_else() -> None:
    env = delivery_env(spec(FULL))

    def ref(name: str, key: str) -> dict[str, object]:
        return {"secretKeyRef": {"name": name, "key": key, "optional": True}}

    smtp = [{"name": f"BULLETIN_SMTP_{k}", "valueFrom": ref("smtp", k)} for k in SMTP_KEYS]
    s3 = [{"name": f"BULLETIN_S3_{k}", "valueFrom": ref("s3", k)} for k in S3_KEYS]
    assert env == [
        *smtp, *s3,
        {"name": "BULLETIN_WEBHOOK_OPS_ALERTS_URL", "valueFrom": ref("hooks", "ops")},
        {"name": "BULLETIN_WEBHOOK_OPS_ALERTS_KEY", "valueFrom": ref("hooks", "ops-key")},
        {"name": "BULLETIN_SLACK_URL", "valueFrom": ref("chat", "slack")},
        {"name": "BULLETIN_TEAMS_URL", "valueFrom": ref("chat", "teams")},
    ]
    assert "envFrom" not in json.dumps(env)


def test_delivery_secrets_cover_urls_keys_and_passwords() -> None:
    found = delivery_secrets({
        "BULLETIN_SLACK_URL": "https://hooks.slack.com/services/T0/B0/abcdef",
        "BULLETIN_WEBHOOK_OPS_KEY": "signing-key", "BULLETIN_SMTP_password": "pw-1234",
        "BULLETIN_S3_secretAccessKey": "s3-secret", "BULLETIN_SMTP_host": "smtp.example.com",
    })
    assert "https://hooks.slack.com/services/T0/B0/abcdef" in found
    assert "/services/T0/B0/abcdef" in found
    assert {"signing-key", "pw-1234", "s3-secret"} <= set(found)
    assert "smtp.example.com" not in found


@pytest.mark.parametrize(("delivery", "message"), [
    ({}, "set at least one target"),
    ({"webhooks": [{"name": "a", "url": "https://x/y"}, {"name": "a", "url": "https://x/z"}]},
     "names must be unique"),
    ({"webhooks": [{"name": "a"}]}, "exactly one of url or urlSecretRef"),
    ({"webhooks": [{"name": "a", "url": "https://x", "urlSecretRef": {"name": "s", "key": "k"}}]},
     "exactly one of url or urlSecretRef"),
])
def test_delivery_validation(delivery: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        spec(delivery)


def test_the_crd_carries_the_delivery_rules() -> None:
    from bulletin.api import crd

    schema = crd.crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    delivery = schema["properties"]["spec"]["properties"]["delivery"]
    rules = [r["rule"] for r in delivery["x-kubernetes-validations"]]
    assert any("has(self.slack)" in r and "has(self.teams)" in r for r in rules)
    storage = delivery["properties"]["storage"]
    assert storage["properties"]["retentionDays"]["default"] == 90
    assert "linkExpirySeconds" in storage["x-kubernetes-validations"][0]["rule"]


def test_logs_are_masked_whoever_writes_them(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from bulletin.redact import redacted_logs

    with caplog.at_level(logging.INFO), redacted_logs(["topsecret-value"]):
        logging.getLogger("some.library").warning("calling https://x/topsecret-value/y")
        logging.getLogger("httpx").info("HTTP Request: POST https://x/topsecret-value")
    logging.getLogger("some.library").warning("after: topsecret-value")
    assert caplog.messages == ["calling https://x/****/y", "after: topsecret-value"]
