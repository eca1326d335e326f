"""spec.delivery.email.subject is a tenant's template: the same sandbox and limits as the
template files, refused before anything is built or sent."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from bulletin.deliver.content import render_subject
from bulletin.deliver.dispatch import deliver_all
from bulletin.deliver.retry import Permanent
from delivery_support import PERIOD, context, no_sleep, report, spec
from devstack.mailsink import MailSink
from doubles import MemoryLedger


@pytest.fixture
def sink() -> Iterator[MailSink]:
    server = MailSink().start()
    yield server
    server.stop()


@pytest.mark.parametrize("payload", [
    "{{ 'x' * 10**9 }}",
    "{{ 10**9 * 'x' }}",
    "{{ ['x'] * 10**9 }}",
    "{{ 2 ** 100000000 }}",
    "{{ ''.__class__.__mro__ }}",
    "{{ range.__init__.__globals__ }}",
])
def test_huge_or_unsafe_subjects_fail_without_building_them(payload: str) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(Permanent, match=r"^spec\.delivery\.email\.subject: "):
            render_subject(payload, {"title": "t"})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50_000_000


def test_a_huge_subject_fails_the_email_and_nothing_is_sent(sink: MailSink, tmp_path: Path
                                                            ) -> None:
    env = {"BULLETIN_SMTP_host": "127.0.0.1", "BULLETIN_SMTP_port": str(sink.port),
           "BULLETIN_SMTP_security": "none"}
    email = {"smtpSecretRef": {"name": "smtp"}, "to": ["a@example.com"],
             "subject": "{{ 'x' * 10**9 }}"}
    [record] = deliver_all(spec({"email": email}), context(env, tmp_path),
                           report(tmp_path / "out"), MemoryLedger(), PERIOD, sleep=no_sleep)
    assert (record.state, record.attempts) == ("Failed", 1)
    assert "result too long" in (record.error or "")
    assert sink.messages == []
