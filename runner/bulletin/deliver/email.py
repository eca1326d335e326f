"""Email delivery over SMTP with aiosmtplib."""

from __future__ import annotations

import asyncio
import mimetypes
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from bulletin.context import SmtpSettings

DEFAULT_SENDER = "bulletin@localhost"


def build_message(
    *,
    sender: str,
    to: Sequence[str],
    subject: str,
    text: str,
    html: str | None,
    attachments: Sequence[Path],
) -> EmailMessage:
    """A MIME message: plain text with an optional HTML alternative, plus attachments."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "bulletin.dev")
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    for path in attachments:
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        maintype, subtype = ctype.split("/", 1)
        msg.add_attachment(path.read_bytes(), maintype=maintype, subtype=subtype,
                           filename=path.name)
    return msg


async def _send(msg: EmailMessage, smtp: SmtpSettings, timeout: float) -> None:
    import aiosmtplib

    await aiosmtplib.send(
        msg,
        hostname=smtp.host,
        port=smtp.port,
        username=smtp.username,
        password=smtp.password,
        use_tls=smtp.security == "tls",
        start_tls=smtp.security == "starttls",
        timeout=timeout,
    )


def send(msg: EmailMessage, smtp: SmtpSettings, timeout: float = 60.0) -> None:
    """Send ``msg``; raises aiosmtplib's errors on failure."""
    asyncio.run(_send(msg, smtp, timeout))
