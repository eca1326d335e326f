"""Encrypted mail (spec.delivery.email.encryption): S/MIME or OpenPGP per recipient."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, model_validator

from bulletin.api.base import OBJECT_NAME, ApiModel

IN_THE_CLEAR = ("spec.delivery.email.encryption: requireEncryption refuses withoutCertificate"
                " clear: choose link or none, or set requireEncryption to false")


class WithoutCertificate(StrEnum):
    """What a recipient without a certificate gets."""

    NONE = "none"
    LINK = "link"
    CLEAR = "clear"


class CertificatesRef(ApiModel):
    """A ConfigMap (or Secret) of the namespace whose every key holds PEM certificates or an
    armored OpenPGP public key."""

    kind: Annotated[Literal["ConfigMap", "Secret"],
                    Field(description="ConfigMap (default) or Secret.")] = "ConfigMap"
    name: Annotated[str, Field(min_length=1, max_length=253, pattern=OBJECT_NAME,
                               description="Its name.")]


class MailEncryption(ApiModel):
    """Each recipient gets their own encrypted copy: S/MIME (CMS enveloped data, AES-256-CBC,
    RSA key transport) when they have a certificate, else PGP/MIME when they have an OpenPGP
    key; only their mail clients can read it. Subject, sender and recipients stay readable, as
    with any encrypted mail."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [
        {"rule": "!has(self.requireEncryption) || !self.requireEncryption"
         " || !has(self.withoutCertificate) || self.withoutCertificate != 'clear'",
         "message": IN_THE_CLEAR}]})

    certificates_ref: Annotated[
        CertificatesRef,
        Field(description="Recipients' S/MIME certificates (RSA, PEM; several per key"
              " allowed) and OpenPGP public keys (armored, one per key), labelled"
              " bulletin.dev/usable-by-reports=encryption. A certificate serves the addresses"
              " of its subjectAltName (rfc822Name) and subject emailAddress, a key those of its"
              " user IDs; expired certificates are ignored. The object is mounted whole: keep"
              " only public certificates and keys in it."),
    ]
    without_certificate: Annotated[
        WithoutCertificate,
        Field(description="A recipient without a certificate or key gets: none (default;"
              " nothing, and the target fails naming them), link (a message without the"
              " report's data, linking to the stored files; needs storage) or clear (the report"
              " unencrypted; refused with requireEncryption)."),
    ] = WithoutCertificate.NONE
    require_encryption: Annotated[
        bool,
        Field(description="Never send the report in the clear (default true): refuses"
              " withoutCertificate clear."),
    ] = True

    @model_validator(mode="after")
    def _never_clear(self) -> MailEncryption:
        if self.require_encryption and self.without_certificate is WithoutCertificate.CLEAR:
            raise ValueError(IN_THE_CLEAR)
        return self
