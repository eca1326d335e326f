"""Email over SMTP (aiosmtplib): the MIME message, and one send with its failures classified."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formataddr, formatdate, parseaddr

import aiosmtplib
from aiosmtplib import protocol as aio_protocol

from bulletin.api.address import ADDRESS_HINT, is_plain_address
from bulletin.api.errors import ConfigurationError, DeliveryError
from bulletin.deliver.content import ArtifactLike, InlineImageLike
from bulletin.deliver.retry import Permanent, Transient
from bulletin.runconfig import SmtpSettings

DEFAULT_SENDER = "bulletin@localhost"
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


@dataclass(frozen=True)
class Smtp:
    """Connection settings from the SMTP Secret, plus an optional private CA (key ``ca``)."""

    settings: SmtpSettings
    ca: str | None = None
    allow_insecure_auth: bool = False  # Secret key allowInsecureAuth: "true"
    secret: str = ""  # the Secret's name, for messages

    @classmethod
    def of(cls, keys: Mapping[str, str], secret: str) -> Smtp:
        """From the SMTP Secret's ``keys`` (RunConfig.smtp); a missing Secret or key is a
        permanent failure."""
        if not keys:
            raise Permanent(f"SMTP Secret {secret!r} is missing or empty")
        try:
            settings = SmtpSettings.of(keys)
        except ConfigurationError as exc:
            raise Permanent(f"SMTP Secret {secret!r}: {exc}") from exc
        insecure = keys.get("allowInsecureAuth", "").strip().lower() == "true"
        return cls(settings, keys.get("ca") or None, insecure, secret)

    def check_auth(self) -> None:
        """Permanent when the password would cross the network in clear text."""
        s = self.settings
        if s.security == "none" and (s.username or s.password) and not self.allow_insecure_auth:
            named = f" {self.secret!r}" if self.secret else ""
            raise Permanent(f"SMTP {s.host}:{s.port}: refusing to send the SMTP password over a"
                            f" plain-text connection (security none); set the SMTP Secret{named}"
                            " key security to starttls or tls, or allowInsecureAuth to \"true\""
                            " to accept the risk; nothing was sent")

    def tls_context(self) -> ssl.SSLContext:
        """Certificate-verifying TLS, trusting ``ca`` as well as the system's CAs."""
        context = ssl.create_default_context()
        if self.ca:
            context.load_verify_locations(cadata=self.ca)
        return context


@dataclass(frozen=True)
class Link:
    """A presigned download link to one artifact."""

    name: str
    url: str
    size: int
    expires: str


@dataclass(frozen=True)
class Letter:
    """Everything a message is made of."""

    sender: str
    to: Sequence[str]
    cc: Sequence[str]
    subject: str
    text: str
    html: str | None
    reply_to: str | None = None
    message_id: str | None = None
    extra_headers: Mapping[str, str] = field(default_factory=dict)
    inline_images: Sequence[InlineImageLike] = ()
    attachments: Sequence[ArtifactLike] = ()
    links: Sequence[Link] = ()


def sender_address(secret_from: str | None, from_name: str | None) -> str:
    """The From header: the Secret's address, with spec fromName as display name if set."""
    name, address = parseaddr(secret_from or DEFAULT_SENDER)
    return formataddr((from_name or name, address or DEFAULT_SENDER))


def message_id(run_key: str, sender: str) -> str:
    """A Message-ID stable for a run, so a copy resent after a crash is recognisably the same."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "bulletin.dev"
    return f"<{hashlib.sha256(run_key.encode()).hexdigest()[:32]}@{domain}>"


def _size(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB" if n >= 100_000 else f"{n / 1000:.0f} kB"


def _links_text(links: Sequence[Link]) -> str:
    lines = ["", "The report is too large to attach. Download it (the links expire"
             f" {links[0].expires}):"]
    lines += [f"- {link.name} ({_size(link.size)}): {link.url}" for link in links]
    return "\n".join(lines) + "\n"


def _links_html(links: Sequence[Link]) -> str:
    from html import escape

    items = "".join(f'<li><a href="{escape(link.url)}">{escape(link.name)}</a>'
                    f" ({_size(link.size)})</li>" for link in links)
    return (f"<p>The report is too large to attach. Download it (the links expire"
            f" {escape(links[0].expires)}):</p><ul>{items}</ul>")


def build_message(letter: Letter) -> EmailMessage:
    """The MIME message: text, an optional HTML alternative with inline images, attachments
    or links. Bcc recipients are never in the headers: they are only in the envelope."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = letter.sender
    msg["To"] = ", ".join(letter.to)
    if letter.cc:
        msg["Cc"] = ", ".join(letter.cc)
    if letter.reply_to:
        msg["Reply-To"] = letter.reply_to
    msg["Subject"] = letter.subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = letter.message_id or message_id(letter.subject, letter.sender)
    msg["Auto-Submitted"] = "auto-generated"
    for name, value in letter.extra_headers.items():
        msg[name] = value
    text, html = letter.text, letter.html
    if letter.links:
        text += _links_text(letter.links)
        if html is not None:
            block = _links_html(letter.links)
            found = list(_BODY_END.finditer(html))
            html = (html[: found[-1].start()] + block + html[found[-1].start():]
                    if found else html + block)
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(html, subtype="html")
        html_part = msg.get_payload()[-1]  # type: ignore[index]
        assert isinstance(html_part, EmailMessage)
        for image in letter.inline_images:
            maintype, subtype = image.content_type.split("/", 1)
            html_part.add_related(image.data, maintype=maintype, subtype=subtype,
                                  cid=f"<{image.cid}>")
    for artifact in letter.attachments:
        maintype, subtype = artifact.content_type.split("/", 1)
        msg.add_attachment(artifact.path.read_bytes(), maintype=maintype, subtype=subtype,
                           filename=artifact.path.name)
    return msg


@dataclass(frozen=True)
class SendResult:
    """Who the server accepted, and who it refused (address -> (code, reply))."""

    accepted: list[str]
    refused: dict[str, tuple[int, str]]


def _refusal(code: int, message: str) -> tuple[int, str]:
    return code, " ".join(message.split())[:200]


def _regex_normalize(message: bytes) -> bytes:
    message = re.sub(rb"\r\n|\n|\r", b"\r\n", message)
    return message if message.endswith(b"\r\n") else message + b"\r\n"


_library_normalize = getattr(aio_protocol, "normalize_message_line_endings", _regex_normalize)


def normalized(message: bytes) -> bytes:
    """``message`` with CRLF line endings, ending in CRLF: aiosmtplib's normalization, minus
    its regex pass when nothing would change. A 10 MB attachment is ~190k base64 lines, and
    that pass alone costs more than sending them; as_bytes() under the SMTP policy already
    produces CRLF, so the check (three byte counts) is all a report pays."""
    crlf = message.count(b"\r\n")
    if message.count(b"\r") == crlf == message.count(b"\n"):
        return message if message.endswith(b"\r\n") else message + b"\r\n"
    return _library_normalize(message)


# aiosmtplib's DATA normalizes again: let it take the same shortcut (same bytes out).
if hasattr(aio_protocol, "normalize_message_line_endings"):
    aio_protocol.normalize_message_line_endings = normalized


# Each reply is awaited at most STEP_TIMEOUT seconds (RFC 5321 4.5.3.2 suggests minutes), and
# the whole transaction at most TRANSACTION_LIMIT, however slowly a server drips its replies.
STEP_TIMEOUT = 120.0
TRANSACTION_LIMIT = 600.0


@dataclass
class _Step:
    """Where the transaction is (for messages), and its result once the server has it."""

    name: str = "connect, greeting, EHLO, STARTTLS or AUTH"
    result: SendResult | None = None


async def _send(smtp: Smtp, sender: str, recipients: Sequence[str], data: bytes,
                timeout: float, step: _Step) -> SendResult:
    s = smtp.settings
    client = aiosmtplib.SMTP(
        hostname=s.host, port=s.port, username=s.username, password=s.password,
        use_tls=s.security == "tls", start_tls=s.security == "starttls",
        tls_context=smtp.tls_context() if s.security != "none" else None, timeout=timeout,
    )
    data = normalized(data)
    refused: dict[str, tuple[int, str]] = {}
    # Not `async with client`: cancelled (TRANSACTION_LIMIT), it would still await QUIT.
    await client.connect()
    try:
        if client.is_ehlo_or_helo_needed:  # now, not within MAIL: SIZE needs its answer
            try:
                await client.ehlo()
            except aiosmtplib.SMTPHeloError:
                await client.helo()
        # The transaction step by step (not sendmail, which normalizes once more for SIZE).
        options = [f"SIZE={len(data)}"] if client.supports_extension("size") else []
        step.name = "MAIL FROM"
        await client.mail(sender, options=options)
        step.name = "RCPT TO"
        for recipient in recipients:
            try:
                await client.rcpt(recipient)
            except aiosmtplib.SMTPRecipientRefused as exc:
                refused[recipient] = _refusal(exc.code, exc.message)
        if len(refused) < len(recipients):
            step.name = "DATA"
            await client.data(data)
        step.result = SendResult([r for r in recipients if r not in refused], refused)
        with contextlib.suppress(aiosmtplib.SMTPException):  # the message is taken already
            await client.quit()
    finally:
        client.close()
    return step.result


def send(smtp: Smtp, sender: str, recipients: Sequence[str], data: bytes,
         timeout: float | None = None, limit: float | None = None) -> SendResult:
    """One SMTP transaction to ``recipients``; those the server refused are in the result.
    Raises Transient or Permanent when the transaction itself failed. A server that stops
    answering during DATA may have taken the message: that is Permanent (never resent)."""
    where = f"SMTP {smtp.settings.host}:{smtp.settings.port}"
    if bad := [r for r in recipients if not is_plain_address(r)]:
        raise Permanent(f"{where}: not sent: {', '.join(repr(r) for r in bad)} {ADDRESS_HINT}")
    smtp.check_auth()
    timeout, limit = timeout or STEP_TIMEOUT, limit or TRANSACTION_LIMIT
    step = _Step()
    transaction = _send(smtp, parseaddr(sender)[1], recipients, data, timeout, step)
    try:
        return asyncio.run(asyncio.wait_for(transaction, limit))
    except TimeoutError as exc:  # aiosmtplib's timeouts are TimeoutErrors too
        if step.result is not None:  # only QUIT went unanswered
            return step.result
        waited = (f"{timeout:.0f}s" if isinstance(exc, aiosmtplib.SMTPTimeoutError)
                  else f"the transaction's limit of {limit:.0f}s")
        silent = f"{where}: no answer from the server ({step.name}) within {waited}"
        if step.name == "DATA":
            raise Permanent(f"{silent}; not resent, since the server may have accepted the"
                            " message") from exc
        raise Transient(silent) from exc
    except Exception as exc:
        raise classify(exc, where) from exc


def classify(exc: BaseException, where: str) -> DeliveryError:
    """SMTP 4xx, connection errors and timeouts are transient; 5xx, TLS and auth setup
    errors are permanent."""
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        message = f"{where}: {exc.code} {' '.join(str(exc.message).split())[:300]}"
        return Transient(message) if 400 <= exc.code < 500 else Permanent(message)
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return Permanent(f"{where}: {exc}")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return Permanent(f"{where}: TLS certificate not trusted ({exc.verify_message}); set the"
                         " Secret key ca to the CA that signed it")
    if isinstance(exc, aiosmtplib.SMTPServerDisconnected | aiosmtplib.SMTPConnectError
                  | aiosmtplib.SMTPTimeoutError | OSError | asyncio.TimeoutError):
        return Transient(f"{where}: {type(exc).__name__}: {exc}")
    return Permanent(f"{where}: {exc}")  # e.g. AUTH not offered: a setup problem
