"""Bursting (spec.delivery.burst): one report per recipient, the recipients from a dataset."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import Field

from bulletin.api.base import DNS_LABEL, ApiModel

MAX_BURST_RECIPIENTS = 1000


class Burst(ApiModel):
    """One report per recipient, each with only their rows ("bursting").

    The rows of the burst dataset are the recipients: the address column holds the email
    address and every other column is a parameter. Every other dataset runs once per recipient
    with those parameters bound by name (a column region is :region in the queries; values are
    bound, never pasted into the SQL), and the recipient gets their own report by email. A
    burst delivers by email only: webhooks, Slack, Teams and storage are refused with it, since
    every recipient's report holds rows only they may see. Each recipient gets the report at
    most once per run, also when the run is retried; status counts recipients Sent, Failed and
    Skipped (by the data gates, e.g. gates.skipIfEmpty) instead of listing them.
    """

    dataset: Annotated[
        str,
        Field(pattern=DNS_LABEL, max_length=63,
              description="Name of the dataset whose rows are the recipients (one of"
              " spec.datasets; it is not part of the reports)."),
    ]
    address_column: Annotated[
        str,
        Field(min_length=1, max_length=63, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
              description="Column of the burst dataset with the email address (default"
              " email). Every other column is a query parameter of the same name."),
    ] = "email"
    password_column: Annotated[
        str | None,
        Field(min_length=1, max_length=63, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
              description="Column of the burst dataset with each recipient's password for"
              " spec.protection (not a query parameter); where it is empty,"
              " protection.passwordSecretRef's password, else the recipient fails."),
    ] = None
    max_recipients: Annotated[
        int,
        Field(ge=1, le=MAX_BURST_RECIPIENTS,
              description="Most recipients a run may have (default 500, at most"
              f" {MAX_BURST_RECIPIENTS}); a burst dataset with more rows fails the run before"
              " anything is sent."),
    ] = 500


BURST_TARGETS = ("spec.delivery.burst sends email only (every report holds one recipient's"
                 " rows): remove webhooks, slack, teams and storage, or remove burst")
BURST_ADDRESSES = ("spec.delivery.burst takes the recipients from its dataset: leave"
                   " email.to, cc and bcc empty")
NO_RECIPIENTS = "spec.delivery.email.to: set at least one recipient (or set delivery.burst)"
# CEL rules of spec.delivery (admission), the same checks as burst_error.
BURST_RULES: list[dict[str, Any]] = [
    {
        "rule": "has(self.burst) || !has(self.email)"
        " || (has(self.email.to) && size(self.email.to) > 0)",
        "message": NO_RECIPIENTS,
    },
    {
        "rule": "!has(self.burst) || (has(self.email) && !has(self.slack)"
        " && !has(self.teams) && !has(self.storage)"
        " && (!has(self.webhooks) || size(self.webhooks) == 0))",
        "message": BURST_TARGETS,
    },
    {
        "rule": "!has(self.burst) || !has(self.email)"
        " || ((!has(self.email.to) || size(self.email.to) == 0)"
        " && (!has(self.email.cc) || size(self.email.cc) == 0)"
        " && (!has(self.email.bcc) || size(self.email.bcc) == 0))",
        "message": BURST_ADDRESSES,
    },
]


def burst_error(burst: bool, *, email: Sequence[str] | None, copies: bool, others: bool
                ) -> str | None:
    """What is wrong with spec.delivery's targets: ``email`` is email.to (None without email),
    ``copies`` whether cc or bcc are set, ``others`` whether any other target is."""
    if not burst:
        return NO_RECIPIENTS if email is not None and not email else None
    if email is None or others:
        return BURST_TARGETS
    return BURST_ADDRESSES if email or copies else None
