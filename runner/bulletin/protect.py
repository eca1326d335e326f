"""spec.protection applied to a built report: every file protected with the password, and a
message that holds none of the report's data, only which files are protected and how to get the
password (the schedule owner's instructions). The password never leaves the files."""

from __future__ import annotations

import dataclasses
from html import escape
from typing import TYPE_CHECKING

from bulletin.api.errors import ConfigurationError, SpecError
from bulletin.api.protection import Protection
from bulletin.assembly.plan import CONTENT_TYPES, Artifact, ReportError
from bulletin.render.mail import EmailContent
from bulletin.runconfig import RunConfig

if TYPE_CHECKING:
    from bulletin.report import BuiltReport


def secret_password(protection: Protection, config: RunConfig) -> str | None:
    """The password from protection.passwordSecretRef; an error when it names a Secret or
    key that is missing or empty (ConfigurationError: nothing is built or sent then)."""
    ref = protection.password_secret_ref
    if ref is None:
        return None
    if not config.protection_password:
        raise ConfigurationError(f"spec.protection.passwordSecretRef: Secret {ref.name!r} has"
                                 f" no key {ref.key!r} (or it is empty); nothing was sent")
    return config.protection_password


def required_password(protection: Protection, config: RunConfig) -> str:
    """The Secret's password; SpecError when there is none (protection never fails open)."""
    password = secret_password(protection, config)
    if not password:
        raise SpecError("spec.protection: no password (set passwordSecretRef); nothing was"
                        " sent")
    return password


def recipient_password(protection: Protection, config: RunConfig, own: str | None) -> str:
    """A burst recipient's password: their column's, else the Secret's; Permanent (this
    recipient fails, unsent) when there is neither."""
    from bulletin.deliver.retry import Permanent

    password = own or secret_password(protection, config)
    if not password:
        raise Permanent("no password for this recipient (burst.passwordColumn is empty and"
                        " spec.protection has no passwordSecretRef); nothing was sent")
    return password


def protect_report(report: BuiltReport, protection: Protection, password: str) -> BuiltReport:
    """``report`` with every file protected by ``password`` and the message reduced to a
    notice; its KPIs dropped, so that no subject, webhook or chat message carries figures."""
    from bulletin.render.aeszip import ZipTooLarge
    from bulletin.render.protect import protect_csv, protect_pdf, protect_xlsx

    protected = []
    for artifact in report.artifacts:
        try:
            if artifact.format == "pdf":
                path = protect_pdf(artifact.path, password)
            elif artifact.format == "xlsx":
                path = protect_xlsx(artifact.path, password)
            else:
                path = protect_csv(artifact.path, password)
        except ZipTooLarge as exc:
            raise ReportError(f"spec.protection: {artifact.path.name}: {exc}") from exc
        protected.append(Artifact(path, artifact.format,
                                  CONTENT_TYPES[path.suffix.lstrip(".")]))
    names = [a.path.name for a in protected]
    return dataclasses.replace(
        report, artifacts=protected, kpis=[],
        bytes=sum(a.path.stat().st_size for a in protected),
        email=notice(report.email, names, protection.instructions))


def notice(email: EmailContent, names: list[str], instructions: str) -> EmailContent:
    """The message of a protected report: its subject, the protected files, the instructions."""
    files = ", ".join(names)
    text = (f"{email.subject}\n\nThe report's files are protected with a password: {files}.\n"
            "This message holds none of the report's data.\n\n"
            f"How to get the password:\n{instructions}\n")
    html = None
    if email.html is not None:
        lines = "<br>".join(escape(line) for line in instructions.splitlines())
        html = (f"<!DOCTYPE html><html><body><h1>{escape(email.subject)}</h1>"
                f"<p>The report's files are protected with a password: {escape(files)}.<br>"
                "This message holds none of the report's data.</p>"
                f"<p><strong>How to get the password:</strong><br>{lines}</p></body></html>")
    return EmailContent(subject=email.subject, text=text, html=html)
