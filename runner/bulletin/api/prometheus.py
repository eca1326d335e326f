"""The Prometheus source (spec.source.prometheus) and the step of a PromQL dataset."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import Field

from bulletin.api.base import ApiModel
from bulletin.api.delivery import SecretKeyRef

# A Prometheus duration as the step of a range query: 30s, 5m, 1h, 1d, 1w, or 1h30m.
STEP_PATTERN = r"^([0-9]+(ms|s|m|h|d|w))+$"
_UNITS = {"ms": timedelta(milliseconds=1), "s": timedelta(seconds=1),
          "m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1),
          "w": timedelta(weeks=1)}
DEFAULT_STEP = "1h"


def step_delta(step: str) -> timedelta:
    """The length of a step such as ``1h30m``."""
    return sum((int(n) * _UNITS[u] for n, u in re.findall(r"([0-9]+)(ms|s|m|h|d|w)", step)),
               timedelta())


class PrometheusSource(ApiModel):
    """A Prometheus-compatible HTTP API (Prometheus, Thanos, Mimir, VictoriaMetrics) that
    datasets with `promql` query over the report period."""

    url: Annotated[
        str,
        Field(min_length=1, max_length=2048, pattern=r"^https?://[^\s/?#]+[^\s?#]*$",
              description="Base URL of the Prometheus HTTP API, without /api/v1, e.g."
              " http://prometheus.monitoring.svc:9090 or https://mimir.example.com/prometheus."
              " Private and cluster addresses must be allowed by the operator"
              " (allowPrivateNetworks), as for webhooks."),
    ]
    headers_secret_ref: Annotated[
        SecretKeyRef | None,
        Field(description="Secret key holding HTTP headers sent with every query, one"
              " `Name: value` per line, e.g. `Authorization: Bearer <token>` or"
              " `X-Scope-OrgID: team-a`. The values are never logged or shown in status."),
    ] = None


Step = Annotated[str, Field(max_length=32, pattern=STEP_PATTERN)]
STEP_DESCRIPTION = (
    "Resolution of a `promql` dataset: one row per series every step, e.g. 5m, 1h or 1d"
    " (default 1h). Each row is evaluated at the end of its step (period start + step, ...,"
    " period end), so increase(m[1d]) with step 1d gives one row per day of the period.")
