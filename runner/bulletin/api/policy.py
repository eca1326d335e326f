"""What happens around a run: data gates, failure notifications, pausing (spec.gates, ...)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from bulletin.api.base import DNS_LABEL, ApiModel
from bulletin.api.delivery import Address, SecretKeyRef


class MinRows(ApiModel):
    """Skip delivery when a dataset has fewer rows than this."""

    dataset: Annotated[str, Field(pattern=DNS_LABEL, description="Dataset name.")]
    min: Annotated[int, Field(ge=1, description="Minimum number of rows.")]


class Assertion(ApiModel):
    """A query whose first column of its first row must be true, or the run is skipped."""

    name: Annotated[str, Field(pattern=DNS_LABEL, max_length=63, description="Assertion name.")]
    query: Annotated[
        str, Field(min_length=1, max_length=8192,
                   description="SQL returning one row, e.g. SELECT count(*) > 0 FROM loads"
                   " WHERE day = :period_start_date. Same bound parameters as datasets.")
    ]


class Gates(ApiModel):
    """Conditions under which a run is Skipped (with the reason) instead of delivered."""

    skip_if_empty: Annotated[
        bool, Field(description="Skip when every dataset is empty.")
    ] = False
    min_rows: Annotated[
        list[MinRows], Field(max_length=20, description="Minimum rows per dataset.")
    ] = []
    assertions: Annotated[
        list[Assertion], Field(max_length=20, description="Queries that must hold first.")
    ] = []


class OnFailure(ApiModel):
    """Tell the owners when a run fails or is only partly delivered."""

    email: Annotated[
        list[Address],
        Field(max_length=20, description="Owners to email, through the SMTP Secret of"
              " spec.delivery.email."),
    ] = []
    webhook_secret_ref: Annotated[
        SecretKeyRef | None,
        Field(description='Secret key with a URL that receives {"text": ...} JSON, e.g. a Slack'
              " or Teams incoming webhook."),
    ] = None


class Notifications(ApiModel):
    """Failure notifications and automatic pausing."""

    on_failure: Annotated[
        OnFailure | None, Field(description="Who hears about failed runs.")
    ] = None
    pause_after_failures: Annotated[
        int,
        Field(ge=0, le=1000,
              description="After this many consecutive failed runs the operator suspends the"
              " CronJob and sets Paused=True (0 never pauses). A successful run-now or a spec"
              " change resumes it; spec is never edited."),
    ] = 5
