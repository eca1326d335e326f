"""Issue 25 end to end on the node: a run with password-protected files, S/MIME mail and an
encrypted archive. The operator passes the password and mounts the certificates only when their
owners opened them for `encryption`; OpenSSL and 7-Zip open what the SMTP server received."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import default
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from devstack.mailsink import MailSink
from devstack.operatorproc import OperatorProcess
from devstack.postgres import Postgres
from devstack.s3 import EncryptingS3Server
from kubernetes import client
from support import USABLE, Cluster, create_secrets, report_schedule, run_now

PASSWORD = "payroll pw 2026"
OPENED = {"bulletin.dev/usable-by-reports": "encryption"}
QUERY = "SELECT 'ada' AS employee, 123456.78 AS salary"


def _identity(folder: Path) -> tuple[bytes, Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "payroll")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.RFC822Name("payroll@example.com")]),
                           False)
            .sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM)
    (folder / "cert.pem").write_bytes(pem)
    (folder / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return pem, folder / "cert.pem", folder / "key.pem"


def _objects(cluster: Cluster, namespace: str, pem: bytes, s3: EncryptingS3Server) -> None:
    """The password Secret and certificates ConfigMap (opened for encryption), the S3 Secret."""
    core = cluster.core
    core.create_namespaced_secret(namespace, client.V1Secret(
        metadata=client.V1ObjectMeta(name="report-password", labels=OPENED),
        string_data={"password": PASSWORD}))
    core.create_namespaced_config_map(namespace, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="mail-certs", labels=OPENED),
        data={"payroll.pem": pem.decode()}))
    core.create_namespaced_secret(namespace, client.V1Secret(
        metadata=client.V1ObjectMeta(name="s3", labels=USABLE),
        string_data={"accessKeyId": s3.access_key, "secretAccessKey": s3.secret_key,
                     "endpoint": s3.endpoint}))


def test_protected_files_in_an_smime_message_and_an_encrypted_archive(
    cluster: Cluster, operator: OperatorProcess, namespace: str, postgres: Postgres,
    smtp: MailSink, s3_sse: EncryptingS3Server, tmp_path: Path,
) -> None:
    openssl, seven = shutil.which("openssl"), shutil.which("7z")
    assert openssl and seven, "needs openssl and 7z (tests/setup/deps.sh)"
    bucket = s3_sse.create_bucket(f"enc-{namespace}"[:60])
    pem, cert_path, key_path = _identity(tmp_path)
    create_secrets(cluster, namespace, postgres.url, smtp.port)
    _objects(cluster, namespace, pem, s3_sse)
    cluster.create_rs(namespace, report_schedule(
        "payroll", datasets=[{"name": "pay", "query": QUERY}], formats=["csv"],
        protection={"passwordSecretRef": {"name": "report-password", "key": "password"},
                    "instructions": "Call the payroll desk for the password."},
        delivery={"email": {"smtpSecretRef": {"name": "smtp"}, "to": ["payroll@example.com"],
                            "encryption": {"certificatesRef": {"name": "mail-certs"}}},
                  "storage": {"endpoint": s3_sse.endpoint, "bucket": bucket, "archive": True,
                              "credentialsSecretRef": {"name": "s3"}}}))
    status = run_now(cluster, namespace, "payroll", "t1")
    last = status["lastRun"]
    assert last["result"] == "Succeeded", last
    assert PASSWORD not in json.dumps(status)
    events = cluster.core.list_namespaced_event(namespace).items
    assert all(PASSWORD not in (e.message or "") for e in events)

    [archive] = [d for d in last["deliveries"] if d["target"] == "archive"]
    [key] = archive["objectKeys"]
    assert key.endswith("/pay.zip")
    head = s3_sse.client().head_object(Bucket=bucket, Key=key)
    assert head["ServerSideEncryption"] == "AES256"

    [raw] = smtp.raw
    assert message_from_bytes(raw, policy=default).get_content_type() == \
        "application/pkcs7-mime"
    assert PASSWORD.encode() not in raw and b"123456.78" not in raw
    (tmp_path / "in.eml").write_bytes(raw)
    inner = subprocess.run([openssl, "cms", "-decrypt", "-in", str(tmp_path / "in.eml"),
                            "-recip", str(cert_path), "-inkey", str(key_path)],
                           capture_output=True, timeout=60)
    assert inner.returncode == 0, inner.stderr.decode()
    message = message_from_bytes(inner.stdout, policy=default)
    text = message.get_body(("plain",))
    assert text is not None and "Call the payroll desk" in text.get_content()
    [attachment] = message.iter_attachments()
    assert attachment.get_filename() == "pay.zip"
    (tmp_path / "pay.zip").write_bytes(attachment.get_content())
    assert subprocess.run([seven, "x", "-pwrong", f"-o{tmp_path / 'no'}",
                           str(tmp_path / "pay.zip")], capture_output=True).returncode != 0
    opened = subprocess.run([seven, "x", f"-p{PASSWORD}", f"-o{tmp_path / 'out'}",
                             str(tmp_path / "pay.zip")], capture_output=True, timeout=60)
    assert opened.returncode == 0, opened.stdout
    assert "123456.78" in (tmp_path / "out" / "pay.csv").read_text()



def test_openpgp_from_the_runner_image(
    cluster: Cluster, operator: OperatorProcess, namespace: str, postgres: Postgres,
    smtp: MailSink, tmp_path: Path,
) -> None:
    """gpg in the runner image (read-only root, its own user) encrypts to a key from the
    ConfigMap; the recipient's gpg decrypts it."""
    gpg = shutil.which("gpg")
    assert gpg, "needs gpg (tests/setup/deps.sh)"
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    base = [gpg, "--homedir", str(home), "--batch", "--pinentry-mode", "loopback",
            "--passphrase", ""]
    try:
        subprocess.run([*base, "--quick-gen-key", "Bob <bob@example.com>", "future-default",
                        "default", "never"], check=True, capture_output=True, timeout=120)
        public = subprocess.run([*base, "--armor", "--export", "bob@example.com"], check=True,
                                capture_output=True, timeout=60).stdout
        create_secrets(cluster, namespace, postgres.url, smtp.port)
        cluster.core.create_namespaced_config_map(namespace, client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="mail-keys", labels=OPENED),
            data={"bob.asc": public.decode()}))
        cluster.create_rs(namespace, report_schedule(
            "pgp", datasets=[{"name": "pay", "query": QUERY}],
            delivery={"email": {"smtpSecretRef": {"name": "smtp"}, "to": ["bob@example.com"],
                                "encryption": {"certificatesRef": {"name": "mail-keys"}}}}))
        last = run_now(cluster, namespace, "pgp", "t1")["lastRun"]
        assert last["result"] == "Succeeded", last
        [raw] = smtp.raw
        outer = message_from_bytes(raw, policy=default)
        assert outer.get_content_type() == "multipart/encrypted" and b"123456.78" not in raw
        armored = list(outer.iter_parts())[1].get_content()
        plain = subprocess.run([*base, "--decrypt"], input=armored, capture_output=True,
                               timeout=60)
        assert plain.returncode == 0, plain.stderr.decode()
        [attachment] = message_from_bytes(plain.stdout, policy=default).iter_attachments()
        assert "123456.78" in attachment.get_content()
    finally:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"],
                       capture_output=True, timeout=30)
