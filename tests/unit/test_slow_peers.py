"""Peers that accept and then stall, or never accept: every attempt ends within its timeout,
with a message naming the peer and the step, and nothing that may have arrived is resent."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from bulletin.deliver import email
from bulletin.deliver.dispatch import deliver_all
from bulletin.deliver.retry import Permanent, Transient
from bulletin.query import QueryError, QueryLimits, run_query
from delivery_support import PERIOD, context, no_sleep, report, spec
from devstack.ports import free_port
from devstack.stalls import StallServer, http_no_answer, silent, smtp_after_data, smtp_after_ehlo
from doubles import MemoryLedger

RETRY = {"attempts": 3, "initialBackoffSeconds": 1, "maxBackoffSeconds": 1}


@pytest.fixture
def stall(request: pytest.FixtureRequest) -> Iterator[StallServer]:
    server = StallServer(request.param).start()
    yield server
    server.stop()


def _smtp(server: StallServer) -> email.Smtp:
    return email.Smtp.of({"host": "127.0.0.1", "port": str(server.port), "security": "none"},
                         "smtp")


@pytest.mark.parametrize("stall", [smtp_after_ehlo], indirect=True)
def test_smtp_silent_after_ehlo_is_a_transient_timeout(stall: StallServer) -> None:
    with pytest.raises(Transient, match=r"SMTP 127.0.0.1:\d+: no answer from the server"
                       r" \(connect, greeting, EHLO, STARTTLS or AUTH\) within 1s"):
        email.send(_smtp(stall), "r@example.com", ["a@example.com"], b"Subject: x\r\n\r\nx",
                   timeout=1)


@pytest.mark.parametrize("stall", [smtp_after_ehlo], indirect=True)
def test_the_whole_transaction_is_bounded_too(stall: StallServer) -> None:
    with pytest.raises(Transient, match="within the transaction's limit of 1s"):
        email.send(_smtp(stall), "r@example.com", ["a@example.com"], b"Subject: x\r\n\r\nx",
                   timeout=30, limit=1)


@pytest.mark.parametrize("stall", [smtp_after_data], indirect=True)
def test_smtp_silent_after_the_message_is_never_resent(
        stall: StallServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(email, "STEP_TIMEOUT", 1.0)
    env = {"BULLETIN_SMTP_host": "127.0.0.1", "BULLETIN_SMTP_port": str(stall.port),
           "BULLETIN_SMTP_security": "none"}
    [record] = deliver_all(
        spec({"email": {"smtpSecretRef": {"name": "smtp"}, "to": ["a@example.com"]},
              "retry": RETRY}),
        context(env, tmp_path), report(tmp_path / "out"), MemoryLedger(), PERIOD,
        sleep=no_sleep)
    assert (record.state, record.attempts, record.recipients) == ("Failed", 1, [])
    assert "no answer from the server (DATA) within 1s" in (record.error or "")
    assert "not resent" in (record.error or "")
    assert stall.seen.smtp_messages == 1


@pytest.mark.parametrize("stall", [smtp_after_data], indirect=True)
def test_a_stall_during_data_is_permanent(stall: StallServer) -> None:
    with pytest.raises(Permanent, match="may have accepted the message"):
        email.send(_smtp(stall), "r@example.com", ["a@example.com"], b"Subject: x\r\n\r\nx",
                   timeout=1)


@pytest.mark.parametrize("stall", [http_no_answer], indirect=True)
def test_a_webhook_that_never_answers_times_out_each_attempt_with_one_delivery_id(
        stall: StallServer, tmp_path: Path) -> None:
    hook = {"name": "ops", "url": f"http://127.0.0.1:{stall.port}/ops", "timeoutSeconds": 1}
    [record] = deliver_all(spec({"webhooks": [hook], "retry": RETRY}), context({}, tmp_path),
                           report(tmp_path / "out"), MemoryLedger(), PERIOD, sleep=no_sleep)
    assert (record.state, record.attempts) == ("Failed", 3)
    assert record.error == "webhook/ops (127.0.0.1): timed out (ReadTimeout)"
    ids = {h["X-Bulletin-Delivery"] for h in stall.seen.http_requests}
    assert len(stall.seen.http_requests) == 3 and len(ids) == 1


@pytest.mark.parametrize("stall", [silent], indirect=True)
def test_a_database_that_never_completes_the_handshake(stall: StallServer) -> None:
    url = f"postgresql://u:pw@127.0.0.1:{stall.port}/db"
    with pytest.raises(QueryError, match=r"could not connect within 2s \(spec.source"
                       r".connectTimeoutSeconds\)"), \
            run_query(url, "SELECT 1", {}, "UTC", QueryLimits(connect_timeout=2)):
        pass
    assert stall.seen.connections >= 1


def test_a_closed_database_port() -> None:
    url = f"postgresql://u:pw@127.0.0.1:{free_port()}/db"
    with pytest.raises(QueryError, match="Connection refused"), \
            run_query(url, "SELECT 1", {}, "UTC", QueryLimits(connect_timeout=2)):
        pass
