"""The Prometheus source (spec.source.prometheus) and the step of a PromQL dataset."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import ConfigDict, Field, model_validator

from bulletin.api.base import ApiModel
from bulletin.api.delivery import SecretKeyRef

# A Prometheus duration as the step of a range query: 30s, 5m, 1h, 1d, 1w, or 1h30m.
STEP_PATTERN = r"^([0-9]+(ms|s|m|h|d|w))+$"
_UNITS = {"ms": timedelta(milliseconds=1), "s": timedelta(seconds=1),
          "m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1),
          "w": timedelta(weeks=1)}
DEFAULT_STEP = "1h"
URL_PATTERN = r"^https?://[^\s/?#]+[^\s?#]*$"


def step_delta(step: str) -> timedelta:
    """The length of a step such as ``1h30m``."""
    return sum((int(n) * _UNITS[u] for n, u in re.findall(r"([0-9]+)(ms|s|m|h|d|w)", step)),
               timedelta())


SAME_SECRET = ("spec.source.prometheus.headersSecretRef: headers go only to the URL of their own"
               " Secret: set urlSecretRef to a key of the same Secret (name it in both)")
ONE_URL = "spec.source.prometheus: set exactly one of url or urlSecretRef"


class PrometheusSource(ApiModel):
    """A Prometheus-compatible HTTP API (Prometheus, Thanos, Mimir, VictoriaMetrics) that
    datasets with `promql` query over the report period. Credentials travel only to the URL
    named in their own Secret: headersSecretRef needs urlSecretRef in the same Secret."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [
        {"rule": "has(self.url) != has(self.urlSecretRef)", "message": ONE_URL},
        {"rule": "!has(self.headersSecretRef) || (has(self.urlSecretRef)"
                 " && self.headersSecretRef.name == self.urlSecretRef.name)",
         "message": SAME_SECRET}]})

    url: Annotated[
        str | None,
        Field(min_length=1, max_length=2048, pattern=URL_PATTERN,
              description="Base URL of the Prometheus HTTP API, without /api/v1, e.g."
              " http://prometheus.monitoring.svc:9090, for a Prometheus that needs no"
              " credentials. Private and cluster addresses must be allowed by the operator"
              " (allowPrivateNetworks), as for webhooks."),
    ] = None
    url_secret_ref: Annotated[
        SecretKeyRef | None,
        Field(description="Secret key holding the base URL, e.g."
              " https://mimir.example.com/prometheus: set it instead of url when queries need"
              " headers (headersSecretRef in the same Secret)."),
    ] = None
    headers_secret_ref: Annotated[
        SecretKeyRef | None,
        Field(description="Key of the urlSecretRef Secret holding HTTP headers sent with every"
              " query, one `Name: value` per line, e.g. `Authorization: Bearer <token>` or"
              " `X-Scope-OrgID: team-a`. They are sent only to the URL of that Secret, and"
              " never logged or shown in status."),
    ] = None

    @model_validator(mode="after")
    def _credentials_with_their_url(self) -> PrometheusSource:
        if (self.url is None) == (self.url_secret_ref is None):
            raise ValueError(ONE_URL)
        headers, url = self.headers_secret_ref, self.url_secret_ref
        if headers is not None and (url is None or headers.name != url.name):
            raise ValueError(SAME_SECRET)
        return self


Step = Annotated[str, Field(max_length=32, pattern=STEP_PATTERN)]
STEP_DESCRIPTION = (
    "Resolution of a `promql` dataset: one row per series every step, e.g. 5m, 1h or 1d"
    " (default 1h). Each row is evaluated at the end of its step (period start + step, ...,"
    " period end), so increase(m[1d]) with step 1d gives one row per day of the period.")
