"""OpenPGP mail (spec.delivery.email.encryption with public keys) through a real SMTP server,
decrypted by gpg with the recipient's secret key and not without it."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest
from bulletin.api.podenv import CERTIFICATES_DIR
from bulletin.deliver.dispatch import deliver_all
from delivery_support import PERIOD, context, no_sleep, report, spec
from devstack.mailsink import MailSink
from doubles import MemoryLedger

ROWS = b"employee,salary\nbob,654321.50\n"


def _gpg(home: Path, *args: str, data: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    gpg = shutil.which("gpg")
    assert gpg, "needs gpg (tests/setup/deps.sh)"
    return subprocess.run([gpg, "--homedir", str(home), "--batch", "--pinentry-mode", "loopback",
                           "--passphrase", "", *args], input=data, capture_output=True,
                          timeout=120)


@pytest.fixture
def bob(tmp_path: Path) -> Iterator[Path]:
    """bob's gpg home with his key pair; his public key in the mounted certificates folder."""
    home = tmp_path / "bob-gnupg"
    home.mkdir(mode=0o700)
    made = _gpg(home, "--quick-gen-key", "Bob <bob@example.com>", "future-default",
                "default", "never")
    assert made.returncode == 0, made.stderr.decode()
    exported = _gpg(home, "--armor", "--export", "bob@example.com")
    mounted = tmp_path / "certificates"
    mounted.mkdir()
    (mounted / "bob.asc").write_bytes(exported.stdout)
    yield home
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], capture_output=True,
                   timeout=30)


@pytest.fixture
def sink() -> Iterator[MailSink]:
    server = MailSink().start()
    yield server
    server.stop()


def test_a_recipient_with_an_openpgp_key_gets_pgp_mime_only_their_key_opens(
        sink: MailSink, bob: Path, tmp_path: Path) -> None:
    env = {"BULLETIN_SMTP_host": "127.0.0.1", "BULLETIN_SMTP_port": str(sink.port),
           "BULLETIN_SMTP_security": "none", CERTIFICATES_DIR: str(tmp_path / "certificates")}
    email = {"smtpSecretRef": {"name": "smtp"}, "to": ["bob@example.com"],
             "encryption": {"certificatesRef": {"name": "mail-keys"}}}
    [record] = deliver_all(spec({"email": email}), context(env, tmp_path),
                           report(tmp_path / "out", {"pay.csv": ROWS}), MemoryLedger(),
                           PERIOD, sleep=no_sleep)
    assert record.state == "Sent", record.error
    [raw] = sink.raw
    assert b"654321" not in raw
    outer = message_from_bytes(raw, policy=default)
    assert outer.get_content_type() == "multipart/encrypted"
    assert outer.get_param("protocol") == "application/pgp-encrypted"
    version, armored = outer.iter_parts()
    assert version.get_content().strip() == b"Version: 1"
    decrypted = _gpg(bob, "--decrypt", data=armored.get_content())
    assert decrypted.returncode == 0, decrypted.stderr.decode()
    inner = message_from_bytes(decrypted.stdout, policy=default)
    assert isinstance(inner, EmailMessage)
    [attachment] = inner.iter_attachments()
    assert attachment.get_filename() == "pay.csv" and attachment.get_content() == ROWS.decode()
    stranger = tmp_path / "stranger"
    stranger.mkdir(mode=0o700)
    assert _gpg(stranger, "--decrypt", data=armored.get_content()).returncode != 0
