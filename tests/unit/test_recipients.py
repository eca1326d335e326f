"""Recipients are tenant input: strict addr-specs in the model and again at send time, the
domain allowlist covers failure notices, and no SMTP password crosses a plain-text link."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from bulletin.api.address import is_plain_address
from bulletin.api.spec import ReportScheduleSpec
from bulletin.api.status import RunRecord, RunResult, Trigger
from bulletin.deliver.dispatch import deliver_all
from bulletin.deliver.email import Smtp, send
from bulletin.deliver.retry import Permanent
from bulletin.notify import notify_failure
from bulletin.runconfig import RunConfig
from delivery_support import PERIOD, context, no_sleep, report, spec
from devstack.mailsink import MailSink
from doubles import MemoryLedger
from pydantic import ValidationError

BAD = [
    "a@evil.com(.example.com",
    "x,y@example.com",
    "Bob <bob@example.com>",
    '"Bob" <bob@example.com>',
    "bob@example.com (Bob)",
    '"a b"@example.com',
    "a@example.com\r\nBcc: x@evil.com",
    "a@example.com\n",
    " a@example.com",
    "a@@example.com",
    "a@-example.com",
    ".a@example.com",
    "a..b@example.com",
    "a@example.com;b@example.com",
    "a@[127.0.0.1]",
]
GOOD = ["first.last+tag@sub.example.co.uk", "o'brien@example.com", "ops@localhost"]


@pytest.fixture
def sink() -> Iterator[MailSink]:
    server = MailSink().start()
    yield server
    server.stop()


def _spec(email: dict[str, Any], **extra: Any) -> ReportScheduleSpec:
    return spec({"email": {"smtpSecretRef": {"name": "smtp"}, "to": ["a@example.com"], **email}},
                **extra)


@pytest.mark.parametrize("address", BAD)
@pytest.mark.parametrize("field", ["to", "cc", "bcc", "replyTo"])
def test_the_model_rejects_anything_but_a_plain_address(address: str, field: str) -> None:
    value: Any = address if field == "replyTo" else [address]
    with pytest.raises(ValidationError) as caught:
        _spec({field: value})
    [error] = caught.value.errors()
    assert error["loc"][:3] == ("delivery", "email", field)
    assert "must be a plain address like user@example.com" in error["msg"]


@pytest.mark.parametrize("address", BAD)
def test_failure_notice_addresses_are_checked_too(address: str) -> None:
    with pytest.raises(ValidationError, match=r"notifications\.onFailure\.email\.0"):
        _spec({}, notifications={"onFailure": {"email": [address]}})


@pytest.mark.parametrize("address", GOOD)
def test_plain_addresses_pass(address: str) -> None:
    assert _spec({"to": [address]}).delivery.email.to == [address]  # type: ignore[union-attr]


def _env(sink: MailSink, **extra: str) -> dict[str, str]:
    return {"BULLETIN_SMTP_host": "127.0.0.1", "BULLETIN_SMTP_port": str(sink.port),
            "BULLETIN_SMTP_security": "none", "BULLETIN_SMTP_from": "reports@example.com",
            **extra}


@pytest.mark.parametrize("address", BAD)
def test_send_refuses_what_the_model_would_have(sink: MailSink, address: str) -> None:
    smtp = Smtp.of(RunConfig.from_env(_env(sink)).smtp, "smtp")
    with pytest.raises(Permanent, match="must be a plain address"):
        send(smtp, "reports@example.com", ["ok@example.com", address], b"Subject: x\r\n\r\nx")
    assert sink.messages == []
    assert all(is_plain_address(a) for a in GOOD) and not any(is_plain_address(a) for a in BAD)


def test_a_spec_that_skipped_validation_still_sends_nothing(sink: MailSink, tmp_path: Path
                                                            ) -> None:
    built = _spec({})
    assert built.delivery.email is not None
    built.delivery.email.to = ["a@example.com", "x,y@example.com"]
    [record] = deliver_all(built, context(_env(sink), tmp_path), report(tmp_path / "out"),
                           MemoryLedger(), PERIOD, sleep=no_sleep)
    assert record.state == "Failed" and "'x,y@example.com' must be a plain address" in (
        record.error or "")
    assert sink.messages == []


def _failed() -> RunRecord:
    return RunRecord(run_id="r1", trigger=Trigger.SCHEDULED, start_time=datetime.now(UTC),
                     result=RunResult.FAILED, message="query failed")


def test_failure_notices_obey_the_domain_allowlist(sink: MailSink, tmp_path: Path) -> None:
    failing = _spec({}, notifications={"onFailure": {"email": ["owner@evil.org"]}})
    env = _env(sink, BULLETIN_ALLOWED_DOMAINS="example.com")
    [problem] = notify_failure(context(env, tmp_path), failing, _failed())
    assert "spec.notifications.onFailure.email: recipients outside the allowed domains" in problem
    assert "owner@evil.org" in problem
    assert sink.messages == []
    allowed = _spec({}, notifications={"onFailure": {"email": ["owner@example.com"]}})
    assert notify_failure(context(env, tmp_path), allowed, _failed()) == []
    assert [rcpt for rcpt, _ in sink.messages] == [["owner@example.com"]]


def test_no_smtp_password_over_plain_text(tmp_path: Path) -> None:
    sink = MailSink(users={"reporter": "pw-123456"}).start()
    try:
        env = _env(sink, BULLETIN_SMTP_username="reporter", BULLETIN_SMTP_password="pw-123456")
        [record] = deliver_all(_spec({}), context(env, tmp_path), report(tmp_path / "out"),
                               MemoryLedger(), PERIOD, sleep=no_sleep)
        assert (record.state, record.attempts) == ("Failed", 1)
        assert "refusing to send the SMTP password over a plain-text connection" in (
            record.error or "")
        assert "allowInsecureAuth" in (record.error or "")
        assert (sink.logins, sink.messages) == ([], [])
        env["BULLETIN_SMTP_allowInsecureAuth"] = "true"
        [record] = deliver_all(_spec({}), context(env, tmp_path), report(tmp_path / "out2"),
                               MemoryLedger(), PERIOD, sleep=no_sleep)
        assert record.state == "Sent", record.error
        assert len(sink.logins) == 1 and len(sink.messages) == 1
    finally:
        sink.stop()


@pytest.mark.parametrize("name", ["Reports\r\nBcc: x@evil.com", "Reports\nX: y", "a\x00b"])
def test_the_sender_name_is_one_line(name: str) -> None:
    with pytest.raises(ValidationError, match=r"delivery\.email\.fromName"):
        _spec({"fromName": name})
