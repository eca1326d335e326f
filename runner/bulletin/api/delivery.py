"""Where a report goes and what happens around delivery (spec.delivery, storage, gates)."""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field

from bulletin.api.base import ApiModel


class SecretKeyRef(ApiModel):
    """A key of a Secret in the ReportSchedule's namespace."""

    name: Annotated[str, Field(min_length=1, max_length=253, description="Secret name.")]
    key: Annotated[str, Field(min_length=1, max_length=253, description="Key in the Secret.")]


class SecretRef(ApiModel):
    """A Secret in the ReportSchedule's namespace."""

    name: Annotated[str, Field(min_length=1, max_length=253, description="Secret name.")]


Address = Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")]


class EmailDelivery(ApiModel):
    """Send the report by email over SMTP."""

    smtp_secret_ref: Annotated[
        SecretRef,
        Field(description="Secret with keys host, port, and optionally username, password,"
              ' security ("starttls", "tls" or "none"; default starttls) and from.'),
    ]
    to: Annotated[list[Address], Field(min_length=1, max_length=100, description="Recipients.")]
    cc: Annotated[list[Address], Field(max_length=100, description="Cc recipients.")] = []
    bcc: Annotated[list[Address], Field(max_length=100, description="Bcc recipients.")] = []
    from_name: Annotated[
        str | None, Field(max_length=200, description='Display name of the sender.')
    ] = None
    reply_to: Annotated[Address | None, Field(description="Reply-To address.")] = None
    subject: Annotated[
        str | None,
        Field(max_length=998, description="Subject (Jinja2); default the title and period."),
    ] = None


class Delivery(ApiModel):
    """Where the report goes. Set at least one target."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.email)",
                    "message": "spec.delivery: set at least one target, e.g. email",
                }
            ]
        }
    )

    email: Annotated[EmailDelivery | None, Field(description="Email over SMTP.")] = None
