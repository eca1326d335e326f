"""Run-now requests: an annotation token, with optional one-off overrides."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated

from pydantic import Field, ValidationError

from bulletin.api.base import ApiModel
from bulletin.api.delivery import Address
from bulletin.api.spec import GROUP

RUN_REQUEST_ANNOTATION = f"{GROUP}/run-requested-at"
RUN_OPTIONS_ANNOTATION = f"{GROUP}/run-options"


class RunOptions(ApiModel):
    """Overrides for one run-now request (annotation bulletin.dev/run-options, JSON)."""

    period: Annotated[
        str | None,
        Field(max_length=64, description="Report on this period instead: 2026-10, 2026-W43,"
              " 2026-10-05 or 2026-10-01..2026-10-15 (a backfill)."),
    ] = None
    to: Annotated[
        list[Address] | None,
        Field(max_length=20, description="Send only to these addresses, by email only"
              " (a test send); other targets are skipped."),
    ] = None


def read_options(annotations: Mapping[str, str]) -> RunOptions:
    """The run options in ``annotations``; ValueError with a readable message if malformed."""
    raw = annotations.get(RUN_OPTIONS_ANNOTATION)
    if not raw:
        return RunOptions()
    try:
        return RunOptions.model_validate(json.loads(raw))
    except (json.JSONDecodeError, ValidationError) as exc:
        raise ValueError(
            f"annotation {RUN_OPTIONS_ANNOTATION} must be JSON like"
            f' {{"period": "2026-10", "to": ["me@example.com"]}}: {exc}'
        ) from exc
