"""Where a report goes and how it gets there (spec.delivery): targets, retries, storage, links."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, ConfigDict, Field, model_validator

from bulletin.api.address import ADDRESS_HINT, ADDRESS_PATTERN, plain_address
from bulletin.api.base import DATA_KEY, DNS_LABEL, OBJECT_NAME, ApiModel
from bulletin.api.burst import BURST_RULES, Burst, burst_error
from bulletin.api.mailcrypto import MailEncryption
from bulletin.api.storage import SecretRef, Storage

MIB = 1024 * 1024
SIGNED_URL = ("signingSecretRef signs only for the URL of its own Secret: set urlSecretRef to a"
              " key of the same Secret (name it in both)")


class SecretKeyRef(ApiModel):
    """A key of a Secret in the ReportSchedule's namespace."""

    name: Annotated[str, Field(min_length=1, max_length=253, pattern=OBJECT_NAME,
                               description="Secret name.")]
    key: Annotated[str, Field(min_length=1, max_length=253, pattern=DATA_KEY,
                              description="Key in the Secret.")]


Address = Annotated[
    str,
    Field(max_length=254, json_schema_extra={"x-kubernetes-validations": [
        {"rule": f'self.matches(r"{ADDRESS_PATTERN}")', "message": ADDRESS_HINT}]}),
    AfterValidator(plain_address),
]


class EmailDelivery(ApiModel):
    """Send the report by email over SMTP: one message to every recipient (with burst: one
    message per burst recipient, and to, cc and bcc stay empty)."""

    smtp_secret_ref: Annotated[
        SecretRef,
        Field(description="Secret with keys host, port, and optionally security (starttls,"
              " tls or none; default starttls), username, password, from (the sender"
              ' address, e.g. "Reports <reports@example.com>") and ca (PEM of a private CA'
              " that signed the server's certificate)."),
    ]
    to: Annotated[
        list[Address],
        Field(max_length=100, description="Recipients; required unless delivery.burst is set,"
              " which takes the recipients from a dataset."),
    ] = []
    cc: Annotated[list[Address], Field(max_length=100, description="Cc recipients.")] = []
    bcc: Annotated[
        list[Address],
        Field(max_length=100, description="Bcc recipients: in the envelope, never in headers."),
    ] = []
    from_name: Annotated[
        str | None,
        Field(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$",
              description="Display name of the sender, e.g. Finance Reports (one line)."),
    ] = None
    reply_to: Annotated[Address | None, Field(description="Reply-To address.")] = None
    subject: Annotated[
        str | None,
        Field(max_length=998, description="Subject, a Jinja2 template with title, schedule,"
              " namespace, period (label, start, end), rows, kpis, runId and, with burst,"
              " recipient (address and parameters, e.g. recipient.region); default the"
              " report's subject (title and period)."),
    ] = None
    encryption: Annotated[
        MailEncryption | None,
        Field(description="S/MIME or OpenPGP: encrypt each recipient's copy to their"
              " certificate or public key."),
    ] = None


class WebhookDelivery(ApiModel):
    """POST the run as JSON to an HTTPS endpoint, signed with HMAC-SHA256 (see docs/delivery.md).

    Headers: X-Bulletin-Delivery (the same for every attempt of this run and target: dedupe on
    it), X-Bulletin-Timestamp (Unix seconds) and X-Bulletin-Signature: v1=<hex HMAC-SHA256 of
    "<timestamp>.<body>">. Receivers verify the signature and reject timestamps older than a
    few minutes.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.url) != has(self.urlSecretRef)",
                    "message": "spec.delivery.webhooks[]: set exactly one of url or urlSecretRef",
                },
                {"rule": "!has(self.signingSecretRef) || (has(self.urlSecretRef)"
                 " && self.signingSecretRef.name == self.urlSecretRef.name)",
                 "message": SIGNED_URL},
            ]
        }
    )

    name: Annotated[
        str,
        Field(pattern=DNS_LABEL, max_length=40,
              description="Name of this webhook, unique in the list; status shows the target as"
              " webhook/<name>."),
    ]
    url: Annotated[
        str | None,
        Field(max_length=2048, pattern=r"^https?://",
              description="Endpoint URL. Use urlSecretRef instead when the URL holds a token."),
    ] = None
    url_secret_ref: Annotated[
        SecretKeyRef | None, Field(description="Secret key holding the endpoint URL.")
    ] = None
    signing_secret_ref: Annotated[
        SecretKeyRef | None,
        Field(description="Key of the urlSecretRef Secret holding the HMAC-SHA256 signing"
              " key: a key signs only for the URL its own Secret names. Without it the request"
              " is not signed."),
    ] = None
    link_above_bytes: Annotated[
        int,
        Field(ge=0, le=64 * MIB,
              description="Artifacts up to this total size go inline in the JSON (base64);"
              " larger ones are sent as presigned links (needs storage). Default 1 MiB."),
    ] = MIB
    timeout_seconds: Annotated[
        int, Field(ge=1, le=300, description="Timeout of one request in seconds (default 30).")
    ] = 30

    @model_validator(mode="after")
    def _one_url(self) -> WebhookDelivery:
        if (self.url is None) == (self.url_secret_ref is None):
            raise ValueError(
                "spec.delivery.webhooks[]: set exactly one of url or urlSecretRef"
            )
        signing, url = self.signing_secret_ref, self.url_secret_ref
        if signing is not None and (url is None or signing.name != url.name):
            raise ValueError(f"spec.delivery.webhooks[{self.name}]: {SIGNED_URL}")
        return self


class ChatDelivery(ApiModel):
    """Post a summary to a chat incoming webhook: title, period, KPIs and a link to the report."""

    webhook_secret_ref: Annotated[
        SecretKeyRef,
        Field(description="Secret key holding the incoming webhook URL (it is a credential)."),
    ]


class Retry(ApiModel):
    """Retries of transient failures within a run: exponential backoff with jitter.

    Transient: connection errors and timeouts, SMTP 4xx, HTTP 5xx, 408 and 429 (Retry-After is
    honoured). Permanent failures (SMTP 5xx, other HTTP 4xx, bad configuration) are not retried.
    """

    attempts: Annotated[
        int, Field(ge=1, le=20, description="Attempts per target and run (default 5).")
    ] = 5
    initial_backoff_seconds: Annotated[
        int, Field(ge=1, le=600, description="Wait before the first retry (default 2); it doubles"
                   " each time, with jitter.")
    ] = 2
    max_backoff_seconds: Annotated[
        int, Field(ge=1, le=3600, description="Longest wait between attempts, also for"
                   " Retry-After (default 60).")
    ] = 60


class Delivery(ApiModel):
    """Where the report goes. Set at least one target: email, webhooks, slack or teams.

    Each run delivers to each target at most once: status.history[].deliveries records every
    target as it happens (Pending, Sent or Failed), and a retried run sends only to targets
    not yet Sent.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.email) || (has(self.webhooks) && size(self.webhooks) > 0)"
                    " || has(self.slack) || has(self.teams)"
                    " || (has(self.burst) && has(self.storage))",
                    "message": "spec.delivery: set at least one target: email, webhooks, slack"
                    " or teams",
                },
                {
                    "rule": "!has(self.webhooks)"
                    " || self.webhooks.all(w, self.webhooks.exists_one(v, v.name == w.name))",
                    "message": "spec.delivery.webhooks: names must be unique",
                },
                *BURST_RULES,
            ]
        }
    )

    email: Annotated[EmailDelivery | None, Field(description="Email over SMTP.")] = None
    webhooks: Annotated[
        list[WebhookDelivery],
        Field(max_length=10, description="Signed JSON webhooks."),
    ] = []
    slack: Annotated[
        ChatDelivery | None, Field(description="Slack incoming webhook.")
    ] = None
    teams: Annotated[
        ChatDelivery | None,
        Field(description="Microsoft Teams incoming webhook (Workflows or connector URL)."),
    ] = None
    storage: Annotated[
        Storage | None,
        Field(description="S3-compatible storage for the archive and for links to large"
              " reports; Slack and Teams link to the report only when it is set. With burst:"
              " each recipient's report, under <run's folder>/<recipient key>/."),
    ] = None
    link_above_bytes: Annotated[
        int,
        Field(ge=0, le=1024 * MIB,
              description="Email attachments above this total size are replaced by presigned"
              " links (needs storage). The default, 10 MiB, stays under common provider limits"
              " (20-25 MB per message) after base64 encoding (+37%)."),
    ] = 10 * MIB
    retry: Annotated[
        Retry, Field(description="Retries of transient failures within a run.")
    ] = Retry()
    burst: Annotated[
        Burst | None,
        Field(description="One report per recipient, each with only their rows: the"
              " recipients and their query parameters come from a dataset (email and"
              " storage only)."),
    ] = None

    @model_validator(mode="after")
    def _targets(self) -> Delivery:
        if not (self.email or self.webhooks or self.slack or self.teams
                or (self.burst and self.storage)):
            raise ValueError(
                "spec.delivery: set at least one target: email, webhooks, slack or teams"
            )
        names = [w.name for w in self.webhooks]
        if len(names) != len(set(names)):
            raise ValueError("spec.delivery.webhooks: names must be unique")
        email = self.email
        if error := burst_error(self.burst is not None, email=email.to if email else None,
                                copies=bool(email and (email.cc or email.bcc)),
                                others=bool(self.webhooks or self.slack or self.teams),
                                storage=self.storage is not None):
            raise ValueError(error)
        return self
