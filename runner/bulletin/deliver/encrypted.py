"""Email under spec.delivery.email.encryption: each recipient with a certificate gets their own
S/MIME copy; the others get nothing, a message linking to the stored files, or the clear one."""

from __future__ import annotations

from collections.abc import Sequence
from email.message import EmailMessage
from html import escape
from pathlib import Path
from typing import Protocol

from bulletin.api.errors import DeliveryError
from bulletin.api.mailcrypto import MailEncryption, WithoutCertificate
from bulletin.api.status import DeliveryRecord
from bulletin.deliver import openpgp
from bulletin.deliver.compose import compose
from bulletin.deliver.email import Smtp, build_message
from bulletin.deliver.retry import Permanent
from bulletin.deliver.runstate import DeliveryRun
from bulletin.deliver.smime import encrypt, load_certificates
from bulletin.render.mail import EmailContent
from bulletin.runconfig import RunConfig


class SendsEmail(Protocol):
    """What this needs of bulletin.deliver.targets.EmailTarget."""

    key: str
    to: list[str]
    cc: list[str]

    def message(self, run: DeliveryRun, smtp: Smtp, record: DeliveryRecord) -> EmailMessage:
        ...

    def data(self, run: DeliveryRun, smtp: Smtp, record: DeliveryRecord) -> bytes: ...

    def deliver(self, smtp: Smtp, recipients: Sequence[str], data: bytes,
                record: DeliveryRecord) -> None: ...


def send_encrypted(target: SendsEmail, crypt: MailEncryption, run: DeliveryRun, smtp: Smtp,
                   record: DeliveryRecord, pending: list[str]) -> None:
    """Send to ``pending`` as ``crypt`` says; Permanent naming those who got nothing."""
    keyring = Keyring(run.ctx.config.certificates_dir)
    lacking = [r for r in pending if not keyring.has(r)]
    batches = [([r], keyring.seal(target.message(run, smtp, record), r))
               for r in pending if keyring.has(r)]
    mode = crypt.without_certificate
    if lacking and mode is WithoutCertificate.CLEAR:
        batches.append((lacking, target.data(run, smtp, record)))
    elif lacking and mode is WithoutCertificate.LINK:
        batches.append((lacking, _link_message(target, run, smtp, record, lacking)))
    failures: list[DeliveryError] = []
    for recipients, data in batches:
        try:
            target.deliver(smtp, recipients, data, record)
        except DeliveryError as exc:
            failures.append(exc)
    if lacking and mode is WithoutCertificate.NONE:
        failures.append(Permanent(
            f"no certificate or OpenPGP key for {', '.join(lacking)}: nothing was sent to them"
            " (email.encryption.withoutCertificate none; add theirs to"
            f" {crypt.certificates_ref.kind} {crypt.certificates_ref.name!r})"))
    if failures:
        raise type(failures[0])("; ".join(str(f) for f in failures))


def sealed_copy(crypt: MailEncryption, config: RunConfig, address: str,
                message: EmailMessage) -> bytes:
    """One burst recipient's copy: encrypted to their certificate or key, else the clear
    message when withoutCertificate is clear; Permanent otherwise (a burst has no storage for
    links)."""
    keyring = Keyring(config.certificates_dir)
    if keyring.has(address):
        return keyring.seal(message, address)
    if crypt.without_certificate is WithoutCertificate.CLEAR:
        return message.as_bytes()
    raise Permanent(f"no certificate or OpenPGP key for this recipient in"
                    f" {crypt.certificates_ref.kind} {crypt.certificates_ref.name!r}: nothing"
                    " was sent")


class Keyring:
    """The recipients' S/MIME certificates and OpenPGP keys, from the mounted object."""

    def __init__(self, folder: Path | None) -> None:
        self.certificates = load_certificates(folder)
        self.keys = openpgp.load_keys(folder) if folder else {}

    def has(self, address: str) -> bool:
        return address.lower() in self.certificates or address.lower() in self.keys

    def seal(self, message: EmailMessage, address: str) -> bytes:
        """``message`` encrypted for ``address``: S/MIME when they have a certificate, else
        OpenPGP."""
        if certificates := self.certificates.get(address.lower()):
            return encrypt(message, certificates)
        return openpgp.encrypt(message, self.keys[address.lower()])


def _link_message(target: SendsEmail, run: DeliveryRun, smtp: Smtp, record: DeliveryRecord,
                  lacking: list[str]) -> bytes:
    """A message without the report's data: links to its stored files (presigned)."""
    if not run.uploads.configured:
        raise Permanent("email.encryption.withoutCertificate link needs delivery.storage")
    links = run.links(record)
    subject = run.report.email.subject
    lines = [f"- {link.name}: {link.url}" for link in links]
    text = (f"{subject}\n\nThe report is not attached: there is no encryption certificate for"
            f" your address. Download its files (the links expire {links[0].expires}):\n"
            + "\n".join(lines) + "\n")
    items = "".join(f'<li><a href="{escape(link.url)}">{escape(link.name)}</a></li>'
                    for link in links)
    html = (f"<!DOCTYPE html><html><body><p>{escape(subject)}</p><p>The report is not attached:"
            " there is no encryption certificate for your address. Download its files (the"
            f" links expire {escape(links[0].expires)}):</p><ul>{items}</ul></body></html>")
    letter = compose(run.spec, EmailContent(subject=subject, text=text, html=html),
                     to=[r for r in target.to if r in lacking],
                     cc=[r for r in target.cc if r in lacking], secret_from=smtp.settings.sender,
                     run_key=f"{run.delivery_id(target.key)}/link")
    return build_message(letter).as_bytes()
