"""S/MIME mail (spec.delivery.email.encryption) through a real SMTP server, decrypted by OpenSSL
(`openssl smime` and `openssl cms`) with each recipient's own key."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import httpx
import pytest
from bulletin.api.podenv import CERTIFICATES_DIR
from bulletin.deliver.dispatch import deliver_all
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from delivery_support import PERIOD, context, no_sleep, report, spec
from devstack.mailsink import MailSink
from devstack.s3 import EncryptingS3Server
from doubles import MemoryLedger, memory_book
from pydantic import ValidationError

ROWS = b"employee,salary\nada,123456.78\n"
NOW = datetime.now(UTC)


def _identity(folder: Path, address: str, expired: bool = False) -> tuple[Path, Path]:
    """A self-signed RSA certificate for ``address`` and its key, as PEM files."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, address)])
    start = NOW - timedelta(days=400 if expired else 1)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + timedelta(days=365 if expired
                                                                        else 30))
            .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(address)]), False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / f"{address}.crt", folder / f"{address}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
def people(tmp_path: Path) -> dict[str, tuple[Path, Path]]:
    """ada and bob have certificates, carl's expired, dave has none; the mounted folder holds
    ada's in one key and bob's and carl's together in another, as a ConfigMap would."""
    keys = tmp_path / "keys"
    keys.mkdir()
    found = {who: _identity(keys, f"{who}@example.com", expired=who == "carl")
             for who in ("ada", "bob", "carl")}
    mounted = tmp_path / "certificates"
    mounted.mkdir()
    (mounted / "ada.pem").write_bytes(found["ada"][0].read_bytes())
    (mounted / "team.pem").write_bytes(found["bob"][0].read_bytes()
                                       + found["carl"][0].read_bytes())
    (mounted / "README").write_text("not a certificate")
    return found


@pytest.fixture
def sink() -> Iterator[MailSink]:
    server = MailSink().start()
    yield server
    server.stop()


def _send(sink: MailSink, tmp_path: Path, encryption: dict[str, Any],
          **delivery: Any) -> Any:
    env = {"BULLETIN_SMTP_host": "127.0.0.1", "BULLETIN_SMTP_port": str(sink.port),
           "BULLETIN_SMTP_security": "none", CERTIFICATES_DIR: str(tmp_path / "certificates"),
           **delivery.pop("env", {})}
    email = {"smtpSecretRef": {"name": "smtp"}, "to": ["ada@example.com", "bob@example.com"],
             "cc": ["dave@example.com"], "bcc": ["carl@example.com"],
             "encryption": {"certificatesRef": {"name": "mail-certs"}, **encryption}}
    built = report(tmp_path / "out", {"payroll.csv": ROWS})
    records = deliver_all(spec({"email": email, "retry": {"attempts": 1}, **delivery}),
                          context(env, tmp_path), built, MemoryLedger(), PERIOD,
                          sleep=no_sleep)
    return records[-1]


def _to(sink: MailSink, address: str) -> bytes:
    [raw] = [raw for (rcpt, _), raw in zip(sink.messages, sink.raw, strict=True)
             if rcpt == [address]]
    return raw


def _decrypt(raw: bytes, identity: tuple[Path, Path], tool: str, tmp_path: Path) -> EmailMessage:
    openssl = shutil.which("openssl")
    assert openssl, "needs openssl"
    source = tmp_path / "in.eml"
    source.write_bytes(raw)
    argv = [openssl, tool, "-decrypt", "-in", str(source), "-recip", str(identity[0]),
            "-inkey", str(identity[1])]
    done = subprocess.run(argv, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    return message_from_bytes(done.stdout, policy=default)


def test_each_recipient_with_a_certificate_gets_a_copy_only_they_can_open(
        sink: MailSink, people: dict[str, tuple[Path, Path]], tmp_path: Path) -> None:
    record = _send(sink, tmp_path, {})
    assert record.state == "Failed"
    assert record.error.startswith(
        "no certificate or OpenPGP key for dave@example.com, carl@example.com: nothing was sent"
        " to them")
    assert sorted(record.recipients) == ["ada@example.com", "bob@example.com"]
    assert sorted(r[0] for r, _ in sink.messages) == ["ada@example.com", "bob@example.com"]
    for who, tool in (("ada", "smime"), ("bob", "cms")):
        raw = _to(sink, f"{who}@example.com")
        outer = message_from_bytes(raw, policy=default)
        assert outer.get_content_type() == "application/pkcs7-mime"
        assert outer["Subject"] == "Weekly: 2026-11-16..2026-11-22"
        assert outer["Bcc"] is None and "carl" not in raw.decode()
        assert b"123456.78" not in raw and b"Weekly report." not in raw
        inner = _decrypt(raw, people[who], tool, tmp_path)
        body = inner.get_body(("plain",))
        assert body is not None and "Weekly report." in body.get_content()
        [attachment] = inner.iter_attachments()
        assert (attachment.get_filename(), attachment.get_content()) == ("payroll.csv",
                                                                         ROWS.decode())
    openssl = shutil.which("openssl")
    assert openssl
    (tmp_path / "ada.eml").write_bytes(_to(sink, "ada@example.com"))
    wrong = subprocess.run([openssl, "smime", "-decrypt", "-in", str(tmp_path / "ada.eml"),
                            "-recip", str(people["bob"][0]), "-inkey", str(people["bob"][1])],
                           capture_output=True, timeout=60)
    assert wrong.returncode != 0  # bob's key does not open ada's copy


def test_without_a_certificate_a_link_to_the_encrypted_store_and_no_data(
        sink: MailSink, people: dict[str, tuple[Path, Path]], tmp_path: Path,
        s3_sse: EncryptingS3Server) -> None:
    bucket = s3_sse.create_bucket("smime-links")
    env = {"BULLETIN_S3_accessKeyId": s3_sse.access_key,
           "BULLETIN_S3_secretAccessKey": s3_sse.secret_key,
           "BULLETIN_S3_endpoint": s3_sse.endpoint}
    record = _send(sink, tmp_path, {"withoutCertificate": "link"}, env=env,
                   storage={"endpoint": s3_sse.endpoint, "bucket": bucket,
                            "credentialsSecretRef": {"name": "s3"}})
    assert record.state == "Sent", record.error
    [linked] = [m for r, m in sink.messages if r == ["dave@example.com", "carl@example.com"]]
    assert list(linked.iter_attachments()) == [] and not linked["To"]
    assert linked["Cc"] == "dave@example.com"  # carl is Bcc: in the envelope only
    text = linked.get_body(("plain",))
    assert text is not None and "no encryption certificate for your address" in text.get_content()
    assert "123456.78" not in linked.as_string()
    url = text.get_content().split("payroll.csv: ", 1)[1].split()[0]
    assert httpx.get(url).content == ROWS


def test_clear_only_when_encryption_is_not_required(
        sink: MailSink, people: dict[str, tuple[Path, Path]], tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="requireEncryption refuses withoutCertificate"):
        spec({"email": {"smtpSecretRef": {"name": "smtp"}, "to": ["a@example.com"],
                        "encryption": {"certificatesRef": {"name": "c"},
                                       "withoutCertificate": "clear"}}})
    record = _send(sink, tmp_path, {"withoutCertificate": "clear", "requireEncryption": False})
    assert record.state == "Sent", record.error
    [clear] = [m for r, m in sink.messages if r == ["dave@example.com", "carl@example.com"]]
    assert [a.get_filename() for a in clear.iter_attachments()] == ["payroll.csv"]


def test_a_missing_certificates_mount_sends_nothing(sink: MailSink, tmp_path: Path) -> None:
    record = _send(sink, tmp_path, {})
    assert record.state == "Failed" and sink.messages == []
    assert record.error == ("email.encryption.certificatesRef is missing or not mounted;"
                            " nothing was sent")


def test_a_burst_encrypts_each_recipients_own_report(
        sink: MailSink, people: dict[str, tuple[Path, Path]], tmp_path: Path) -> None:
    import sqlite3

    from bulletin.api.spec import ReportScheduleSpec
    from bulletin.api.status import RunRecord, RunResult, Trigger
    from bulletin.execution import execute_burst

    db = tmp_path / "people.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE pay (email TEXT, salary REAL)")
        conn.executemany("INSERT INTO pay VALUES (?, ?)",
                         [("ada@example.com", 123456.78), ("dave@example.com", 654321.5)])
    burst = ReportScheduleSpec.model_validate({
        "schedule": {"cron": "0 9 * * MON"},
        "source": {"connectionSecretRef": {"name": "db", "key": "url"}},
        "datasets": [{"name": "people",
                      "query": "SELECT email, email AS me FROM pay ORDER BY email"},
                     {"name": "pay", "query": "SELECT salary FROM pay WHERE email = :me"}],
        "delivery": {"email": {"smtpSecretRef": {"name": "smtp"},
                               "encryption": {"certificatesRef": {"name": "mail-certs"}}},
                     "burst": {"dataset": "people"}, "retry": {"attempts": 1}}})
    record = RunRecord(run_id="weekly-29000000", trigger=Trigger.SCHEDULED,
                       start_time=datetime(2026, 11, 23, 9, tzinfo=UTC))
    env = {"BULLETIN_SMTP_host": "127.0.0.1", "BULLETIN_SMTP_port": str(sink.port),
           "BULLETIN_SMTP_security": "none", CERTIFICATES_DIR: str(tmp_path / "certificates")}
    execute_burst(context(env, tmp_path), burst, record, PERIOD, f"sqlite:///{db}",
                  MemoryLedger(), memory_book())
    assert record.result is RunResult.PARTIALLY_DELIVERED
    assert (record.message or "").endswith(
        "dave@example.com: no certificate or OpenPGP key for this recipient in ConfigMap"
        " 'mail-certs': nothing was sent")
    raw = _to(sink, "ada@example.com")
    assert b"123456" not in raw and len(sink.messages) == 1
    inner = _decrypt(raw, people["ada"], "cms", tmp_path)
    [csv] = inner.iter_attachments()
    assert "123456.78" in csv.get_content() and "654321" not in csv.get_content()
