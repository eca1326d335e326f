"""Composing an email from the spec: subject, sender, reply-to and headers, decided in one place
for report emails, failure notices and `bulletin preview`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bulletin.api.spec import ReportScheduleSpec
from bulletin.deliver.content import ArtifactLike, EmailContentLike, render_subject
from bulletin.deliver.email import Letter, Link, message_id, sender_address


def unique(addresses: Sequence[str]) -> list[str]:
    """``addresses`` without repeats (compared case-insensitively), in order."""
    seen: set[str] = set()
    out = []
    for address in addresses:
        if address.lower() not in seen:
            seen.add(address.lower())
            out.append(address)
    return out


def compose(spec: ReportScheduleSpec, content: EmailContentLike, *, to: Sequence[str],
            cc: Sequence[str] = (), secret_from: str | None = None,
            subject_vars: Mapping[str, Any] | None = None,
            attachments: Sequence[ArtifactLike] = (), links: Sequence[Link] = (),
            run_key: str | None = None) -> Letter:
    """The message for ``content`` under spec.delivery.email: its subject template (rendered
    with ``subject_vars`` when given), fromName over the SMTP Secret's ``from`` address
    (``secret_from``), replyTo; with ``run_key`` a stable Message-ID and X-Bulletin-Run header."""
    email = spec.delivery.email
    subject = content.subject
    if email is not None and email.subject and subject_vars is not None:
        subject = render_subject(email.subject, subject_vars)
    sender = sender_address(secret_from, email.from_name if email else None)
    return Letter(
        sender=sender, to=list(to), cc=list(cc), subject=subject, text=content.text,
        html=content.html, reply_to=email.reply_to if email else None,
        message_id=message_id(run_key, sender) if run_key else None,
        extra_headers={"X-Bulletin-Run": run_key} if run_key else {},
        inline_images=content.inline_images, attachments=attachments, links=links)
