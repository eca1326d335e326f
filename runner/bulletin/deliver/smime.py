"""S/MIME (spec.delivery.email.encryption): recipients' certificates from the mounted ConfigMap
or Secret, and a message encrypted to them (CMS enveloped data, AES-256-CBC)."""

from __future__ import annotations

import email
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path
from typing import Any

from bulletin.deliver.retry import Permanent

log = logging.getLogger("bulletin.deliver")
# Headers that stay outside the envelope: what the mail system needs to route and show it.
OUTER = ("From", "To", "Cc", "Reply-To", "Subject", "Date", "Message-ID", "Auto-Submitted",
         "X-Bulletin-Run")


def _addresses(cert: Any) -> set[str]:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    found = {a.value for a in cert.subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS)}
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        found |= set(san.get_values_for_type(x509.RFC822Name))
    except x509.ExtensionNotFound:
        pass
    return {str(a).strip().lower() for a in found}


def load_certificates(directory: Path | None, now: datetime | None = None
                      ) -> dict[str, list[Any]]:
    """Address (lower case) -> its valid RSA certificates, from every key (file) mounted in
    ``directory``; keys that hold no certificate are skipped with a warning naming the key."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa

    now = now or datetime.now(UTC)
    found: dict[str, list[Any]] = {}
    if directory is None or not directory.is_dir():
        raise Permanent("email.encryption.certificatesRef is missing or not mounted; nothing"
                        " was sent")
    for path in sorted(p for p in directory.iterdir() if not p.name.startswith(".")):
        data = path.read_bytes()
        if b"-----BEGIN PGP PUBLIC KEY BLOCK-----" in data:
            continue  # an OpenPGP key: bulletin.deliver.openpgp
        try:
            certs = x509.load_pem_x509_certificates(data)
        except ValueError:
            log.warning("email.encryption: key %s holds no PEM certificate; ignored", path.name)
            continue
        for cert in certs:
            usable = (isinstance(cert.public_key(), rsa.RSAPublicKey)
                      and cert.not_valid_before_utc <= now <= cert.not_valid_after_utc)
            for address in _addresses(cert) if usable else ():
                found.setdefault(address, []).append(cert)
    return found


def inner(message: EmailMessage) -> EmailMessage:
    """What goes inside the envelope: ``message``'s body and attachments, no routing headers."""
    entity = EmailMessage(policy=message.policy)
    for name, value in message.items():
        if name.lower().startswith("content-"):
            entity[name] = value
    entity.set_payload(message.get_payload())
    return entity


def encrypt(message: EmailMessage, certificates: Sequence[Any]) -> bytes:
    """``message`` as S/MIME enveloped data readable with any of ``certificates``: its body
    and attachments inside, the routing headers (OUTER) outside."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.ciphers import algorithms
    from cryptography.hazmat.primitives.serialization import pkcs7

    builder = pkcs7.PKCS7EnvelopeBuilder().set_data(inner(message).as_bytes())
    builder = builder.set_content_encryption_algorithm(algorithms.AES256)
    for cert in certificates:
        builder = builder.add_recipient(cert)
    enveloped = builder.encrypt(serialization.Encoding.SMIME, [])
    outer = email.message_from_bytes(enveloped, policy=SMTP)
    for name in OUTER:
        if message[name] is not None:
            outer[name] = message[name]
    return outer.as_bytes()
