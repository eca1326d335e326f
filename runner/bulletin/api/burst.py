"""Bursting (spec.delivery.burst): one report per recipient, the recipients from a dataset."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import ConfigDict, Field, model_validator

from bulletin.api.base import DNS_LABEL, ApiModel

MAX_BURST_RECIPIENTS = 100_000
MAX_SHARDS = 100  # the status keeps one progress entry per shard


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

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [
        {"rule": "!has(self.parallelism) || self.parallelism <= (has(self.shards) ? self.shards"
         " : 1)", "message": "spec.delivery.burst.parallelism: at most shards"}]})

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
              f" {MAX_BURST_RECIPIENTS:,}); a burst dataset with more rows fails the run before"
              " anything is sent."),
    ] = 500
    shards: Annotated[
        int,
        Field(ge=1, le=MAX_SHARDS,
              description="Pods (completions of the run's Indexed Job) the recipients are"
              " spread over by a hash of their key; a failed shard is retried alone"
              " (default 1, at most the chart value burstPolicy.maxShards)."),
    ] = 1
    parallelism: Annotated[
        int,
        Field(ge=1, le=MAX_SHARDS,
              description="Shards that run at once (default 1, at most shards and the chart"
              " value burstPolicy.maxParallelism)."),
    ] = 1

    @model_validator(mode="after")
    def _parallelism(self) -> Burst:
        if self.parallelism > self.shards:
            raise ValueError("spec.delivery.burst.parallelism: at most shards")
        return self


BURST_TARGETS = ("spec.delivery.burst sends by email and to storage only (every report holds"
                 " one recipient's rows): remove webhooks, slack and teams, or remove burst")
BURST_NO_TARGET = "spec.delivery.burst: set email or storage (or both), where each report goes"
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
        "rule": "!has(self.burst) || (!has(self.slack) && !has(self.teams)"
        " && (!has(self.webhooks) || size(self.webhooks) == 0))",
        "message": BURST_TARGETS,
    },
    {
        "rule": "!has(self.burst) || has(self.email) || has(self.storage)",
        "message": BURST_NO_TARGET,
    },
    {
        "rule": "!has(self.burst) || !has(self.email)"
        " || ((!has(self.email.to) || size(self.email.to) == 0)"
        " && (!has(self.email.cc) || size(self.email.cc) == 0)"
        " && (!has(self.email.bcc) || size(self.email.bcc) == 0))",
        "message": BURST_ADDRESSES,
    },
]


def burst_error(burst: bool, *, email: Sequence[str] | None, copies: bool, others: bool,
                storage: bool = False) -> str | None:
    """What is wrong with spec.delivery's targets: ``email`` is email.to (None without email),
    ``copies`` whether cc or bcc are set, ``others`` whether webhooks, Slack or Teams are,
    ``storage`` whether storage is."""
    if not burst:
        return NO_RECIPIENTS if email is not None and not email else None
    if others:
        return BURST_TARGETS
    if email is None:
        return None if storage else BURST_NO_TARGET
    return BURST_ADDRESSES if email or copies else None


class BurstPolicy(ApiModel):
    """What a schedule's spec.delivery.burst may ask for: the chart value burstPolicy."""

    max_shards: Annotated[int, Field(ge=1, le=MAX_SHARDS)] = 10
    max_parallelism: Annotated[int, Field(ge=1, le=MAX_SHARDS)] = 4


def policy_refusal(burst: Burst | None, policy: BurstPolicy) -> str | None:
    """Why ``burst`` asks for more pods than the administrator allows, naming field and fix."""
    if burst is None:
        return None
    for field, asked, most, value in (
            ("shards", burst.shards, policy.max_shards, "maxShards"),
            ("parallelism", burst.parallelism, policy.max_parallelism, "maxParallelism")):
        if asked > most:
            return (f"spec.delivery.burst.{field}: {asked} is above the administrator's limit"
                    f" {most} (chart value burstPolicy.{value}): lower {field} to at most"
                    f" {most}, or ask the administrator to raise the limit")
    return None
