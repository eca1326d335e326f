"""Email delivery against a real SMTP server (aiosmtpd): content, TLS, auth, retries, resume."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from bulletin.api.status import DeliveryRecord, RunResult
from bulletin.deliver.dispatch import deliver_all, run_result
from delivery_support import PERIOD, Image, context, no_sleep, report, spec
from devstack.mailsink import MailSink
from doubles import MemoryLedger

PASSWORD = "s3cret-smtp-pw"


@pytest.fixture
def sink() -> Iterator[MailSink]:
    server = MailSink().start()
    yield server
    server.stop()


def _env(sink: MailSink, **extra: str) -> dict[str, str]:
    env = {"BULLETIN_SMTP_host": "127.0.0.1", "BULLETIN_SMTP_port": str(sink.port),
           "BULLETIN_SMTP_security": sink.security, "BULLETIN_SMTP_from": "reports@example.com"}
    if sink.tls is not None:
        env["BULLETIN_SMTP_ca"] = sink.tls.ca_pem
    return {**env, **extra}


EMAIL = {"smtpSecretRef": {"name": "smtp"}, "to": ["a@example.com", "b@example.com"],
         "cc": ["c@example.com"], "bcc": ["d@example.org"], "fromName": "Finance Reports",
         "replyTo": "finance@example.com"}


def test_message_has_every_part_and_bcc_only_in_the_envelope(
        sink: MailSink, tmp_path: Path) -> None:
    png = b"\x89PNG\r\n\x1a\nfake"
    built = report(tmp_path / "out", images=[Image("chart1", png, "image/png")])
    ledger = MemoryLedger()
    records = deliver_all(spec({"email": EMAIL}), context(_env(sink), tmp_path), built, ledger,
                          PERIOD, sleep=no_sleep)
    assert [(r.target, r.state, r.attempts) for r in records] == [("email", "Sent", 1)]
    assert sorted(records[0].recipients) == ["a@example.com", "b@example.com",
                                             "c@example.com", "d@example.org"]
    assert len(sink.messages) == 1
    rcpt, msg = sink.messages[0]
    assert sorted(rcpt) == sorted(records[0].recipients)
    assert msg["From"] == "Finance Reports <reports@example.com>"
    assert msg["To"] == "a@example.com, b@example.com"
    assert msg["Cc"] == "c@example.com"
    assert msg["Bcc"] is None and b"d@example.org" not in sink.raw[0]
    assert msg["Reply-To"] == "finance@example.com"
    assert msg["Subject"] == "Weekly: 2026-11-16..2026-11-22"
    assert msg["Auto-Submitted"] == "auto-generated"
    body = msg.get_body(("plain",))
    assert body is not None and body.get_content().replace("\r\n", "\n") == "Weekly report.\n"
    html = msg.get_body(("html",))
    assert html is not None and "cid:chart1" in html.get_content()
    related = next(p for p in msg.walk() if p["Content-ID"] == "<chart1>")
    assert related.get_content() == png
    [attachment] = list(msg.iter_attachments())
    assert attachment.get_filename() == "main.csv"
    assert attachment.get_payload(decode=True) == b"day,requests\n2026-11-16,3\n"
    assert [s[0].state for s in ledger.saves] == ["Pending", "Pending", "Sent"]


def test_subject_template(sink: MailSink, tmp_path: Path) -> None:
    email = {**EMAIL, "subject": "{{ title | upper }} {{ period.label }} ({{ rows }} rows,"
             " {{ kpis[0].label }} {{ kpis[0].value }})"}
    deliver_all(spec({"email": email}, report={"title": "Usage"}),
                context(_env(sink), tmp_path), report(tmp_path / "out"), MemoryLedger(), PERIOD,
                sleep=no_sleep)
    assert sink.messages[0][1]["Subject"] == "USAGE 2026-11-16..2026-11-22 (3 rows, Revenue €1,200)"


def test_a_broken_subject_template_fails_without_sending(sink: MailSink, tmp_path: Path) -> None:
    [record] = deliver_all(spec({"email": {**EMAIL, "subject": "{{ nope }}"}}),
                           context(_env(sink), tmp_path), report(tmp_path / "out"),
                           MemoryLedger(), PERIOD, sleep=no_sleep)
    assert (record.state, record.attempts) == ("Failed", 1)
    assert "'nope' is undefined" in (record.error or "")
    assert sink.messages == []


@pytest.mark.parametrize(("security", "mechanisms"),
                         [("starttls", ("PLAIN",)), ("tls", ("LOGIN",)), ("starttls", ("LOGIN",))])
def test_tls_and_auth_variants(tmp_path: Path, security: str,
                               mechanisms: tuple[str, ...]) -> None:
    sink = MailSink(security=security, users={"reporter": PASSWORD},
                    mechanisms=mechanisms).start()
    try:
        env = _env(sink, BULLETIN_SMTP_username="reporter", BULLETIN_SMTP_password=PASSWORD)
        [record] = deliver_all(spec({"email": EMAIL}), context(env, tmp_path),
                               report(tmp_path / "out"), MemoryLedger(), PERIOD, sleep=no_sleep)
    finally:
        sink.stop()
    assert record.state == "Sent", record.error
    assert sink.logins == [f"{mechanisms[0]}:reporter"]
    assert len(sink.messages) == 1


def test_wrong_password_is_permanent_and_not_retried(tmp_path: Path) -> None:
    sink = MailSink(security="starttls", users={"reporter": PASSWORD}).start()
    try:
        env = _env(sink, BULLETIN_SMTP_username="reporter",
                   BULLETIN_SMTP_password="wrong-password-123")
        [record] = deliver_all(spec({"email": EMAIL}), context(env, tmp_path),
                               report(tmp_path / "out"), MemoryLedger(), PERIOD, sleep=no_sleep)
    finally:
        sink.stop()
    assert (record.state, record.attempts) == ("Failed", 1)
    assert "535" in (record.error or "")
    assert "wrong-password-123" not in (record.error or "")


def test_an_untrusted_certificate_is_permanent(tmp_path: Path) -> None:
    sink = MailSink(security="starttls").start()
    try:
        env = _env(sink)
        del env["BULLETIN_SMTP_ca"]
        [record] = deliver_all(spec({"email": EMAIL}), context(env, tmp_path),
                               report(tmp_path / "out"), MemoryLedger(), PERIOD, sleep=no_sleep)
    finally:
        sink.stop()
    assert (record.state, record.attempts) == ("Failed", 1)
    assert "certificate" in (record.error or "")
    assert sink.messages == []


def test_refused_connections_are_retried_and_each_recipient_gets_one_copy(
        sink: MailSink, tmp_path: Path) -> None:
    sink.refuse(3)
    waits: list[float] = []
    [record] = deliver_all(spec({"email": EMAIL}), context(_env(sink), tmp_path),
                           report(tmp_path / "out"), MemoryLedger(), PERIOD, sleep=waits.append)
    assert (record.state, record.attempts) == ("Sent", 4)
    assert sink.refused == 3
    assert sink.copies() == {"a@example.com": 1, "b@example.com": 1, "c@example.com": 1,
                             "d@example.org": 1}
    assert len(waits) == 3


def test_connection_refused_at_tcp_level_is_transient(tmp_path: Path) -> None:
    from devstack.ports import free_port

    env = {"BULLETIN_SMTP_host": "127.0.0.1", "BULLETIN_SMTP_port": str(free_port()),
           "BULLETIN_SMTP_security": "none"}
    [record] = deliver_all(spec({"email": EMAIL, "retry": {"attempts": 3}}),
                           context(env, tmp_path), report(tmp_path / "out"), MemoryLedger(),
                           PERIOD, sleep=no_sleep)
    assert (record.state, record.attempts) == ("Failed", 3)


def test_a_permanently_refused_recipient_is_partial_delivery(
        sink: MailSink, tmp_path: Path) -> None:
    sink.reject["b@example.com"] = "550 5.1.1 no such user"
    [record] = deliver_all(spec({"email": EMAIL}), context(_env(sink), tmp_path),
                           report(tmp_path / "out"), MemoryLedger(), PERIOD, sleep=no_sleep)
    assert (record.state, record.attempts) == ("Failed", 1)
    assert "b@example.com: 550" in (record.error or "")
    assert "b@example.com" not in record.recipients and len(record.recipients) == 3
    assert run_result([record])[0] is RunResult.PARTIALLY_DELIVERED


def test_a_temporarily_refused_recipient_is_retried_alone(sink: MailSink, tmp_path: Path) -> None:
    sink.reject["b@example.com"] = "450 4.2.1 mailbox busy"
    [record] = deliver_all(spec({"email": EMAIL}), context(_env(sink), tmp_path),
                           report(tmp_path / "out"), MemoryLedger(), PERIOD,
                           sleep=lambda _: sink.reject.clear())
    assert (record.state, record.attempts) == ("Sent", 2)
    assert [sorted(r) for r, _ in sink.messages] == [
        ["a@example.com", "c@example.com", "d@example.org"], ["b@example.com"]]
    assert sink.messages[0][1]["Message-ID"] == sink.messages[1][1]["Message-ID"]


def test_a_resumed_run_sends_only_to_recipients_not_yet_accepted(
        sink: MailSink, tmp_path: Path) -> None:
    earlier = DeliveryRecord(target="email", state="Pending", attempts=1,
                             recipients=["a@example.com", "c@example.com"])
    [record] = deliver_all(spec({"email": EMAIL}), context(_env(sink), tmp_path),
                           report(tmp_path / "out"), MemoryLedger([earlier]), PERIOD,
                           sleep=no_sleep)
    assert (record.state, record.attempts) == ("Sent", 2)
    assert sink.copies() == {"b@example.com": 1, "d@example.org": 1}


def test_a_sent_email_is_not_sent_again(sink: MailSink, tmp_path: Path) -> None:
    earlier = DeliveryRecord(target="email", state="Sent", attempts=1, recipients=["x@y.z"])
    [record] = deliver_all(spec({"email": EMAIL}), context(_env(sink), tmp_path),
                           report(tmp_path / "out"), MemoryLedger([earlier]), PERIOD,
                           sleep=no_sleep)
    assert record == earlier
    assert sink.messages == []


@pytest.mark.parametrize(("operator", "namespace", "blocked"), [
    ("example.com", None, "d@example.org"),
    (None, "example.com,example.org", None),
    ("*.example.com example.org", "example.org", "a@example.com"),
])
def test_domain_allowlists(sink: MailSink, tmp_path: Path, operator: str | None,
                           namespace: str | None, blocked: str | None) -> None:
    env = _env(sink)
    if operator is not None:
        env["BULLETIN_ALLOWED_DOMAINS"] = operator
    if namespace is not None:
        env["BULLETIN_NAMESPACE_ALLOWED_DOMAINS"] = namespace
    [record] = deliver_all(spec({"email": EMAIL}), context(env, tmp_path),
                           report(tmp_path / "out"), MemoryLedger(), PERIOD, sleep=no_sleep)
    if blocked is None:
        assert record.state == "Sent"
    else:
        assert (record.state, record.attempts) == ("Failed", 1)
        assert blocked in (record.error or "") and "nothing was sent" in (record.error or "")
        assert sink.messages == []


def test_a_missing_smtp_secret_fails_the_email_target_only(tmp_path: Path) -> None:
    [record] = deliver_all(spec({"email": EMAIL}), context({}, tmp_path),
                           report(tmp_path / "out"), MemoryLedger(), PERIOD, sleep=no_sleep)
    assert (record.state, record.error) == ("Failed", "SMTP Secret 'smtp' is missing or empty")


def test_a_test_send_goes_only_to_the_given_addresses(sink: MailSink, tmp_path: Path) -> None:
    delivery = {"email": EMAIL, "webhooks": [{"name": "ops", "url": "http://127.0.0.1:9/x"}]}
    records = deliver_all(spec(delivery), context(_env(sink), tmp_path, to=["me@example.com"]),
                          report(tmp_path / "out"), MemoryLedger(), PERIOD, sleep=no_sleep)
    assert [(r.target, r.state) for r in records] == [("email", "Sent")]
    assert sink.copies() == {"me@example.com": 1}
    assert sink.messages[0][1]["Cc"] is None


@pytest.mark.parametrize("raw", [b"a\r\nb\r\n", b"a\r\nb", b"a\nb\r\nc\rd", b"", b"\r\n.\r\n",
                                 b"x\r", b"\n\n"])
def test_the_fast_line_ending_path_gives_the_librarys_bytes(raw: bytes) -> None:
    from bulletin.deliver import email

    assert email.normalized(raw) == email._library_normalize(raw)
