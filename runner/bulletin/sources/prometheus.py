"""Rows from a Prometheus range query (spec.source.prometheus, datasets with `promql`).

The query runs over the period: evaluated at period start + step, ..., period end (each row at
the end of its step), in pieces of at most MAX_POINTS steps (Prometheus refuses more per
series). Rows are ``time`` (in the schedule's time zone), one column per label (sorted; a label
named time or value becomes label_time or label_value), and ``value`` (a float; NaN and
infinities are empty), ordered by time, then labels.

The URL is tenant input: every connection goes through the operator's network policy (the
caller passes bulletin.deliver.netguard.guarded_client as ``connect``), no redirect is
followed, and only Prometheus' own error text (from its JSON error reply) ever reaches a
message, never another reply body.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

from bulletin.api.delivery import SecretKeyRef
from bulletin.api.errors import Reason, SourceError
from bulletin.api.podenv import PROMETHEUS_HEADERS, PROMETHEUS_URL
from bulletin.api.prometheus import DEFAULT_STEP, step_delta
from bulletin.api.spec import ReportScheduleSpec
from bulletin.runconfig import RunConfig

MAX_POINTS = 11_000  # Prometheus' limit of points per series in one range query
MAX_BYTES = 32 * 1024 * 1024  # most JSON read per dataset: ~1.5M points, ~400 MB parsed
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
USER_AGENT = "bulletin/0.1 (+https://bulletin.dev)"


class PrometheusError(SourceError):
    """The query failed; the message names the host and, if Prometheus said, why."""

    run_reason = Reason.PROMQL_FAILED


def parse_headers(text: str) -> dict[str, str]:
    """Headers from a Secret value: one ``Name: value`` per line; blank lines are skipped."""
    headers: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep or not _HEADER_NAME.match(name.strip()):
            raise PrometheusError(
                f"spec.source.prometheus.headersSecretRef: line {number} is not `Name: value`")
        headers[name.strip()] = value.strip()
    return headers


Connect = Callable[[RunConfig], Any]  # an httpx.Client under the run's network policy


def from_spec(spec: ReportScheduleSpec, config: RunConfig, connect: Connect
              ) -> Prometheus | None:
    """The run's Prometheus (None without spec.source.prometheus); headers from the run's
    config, connections from ``connect(config)``."""
    source = spec.source.prometheus
    if source is None:
        return None
    url = source.url or _secret_value(config, PROMETHEUS_URL, source.url_secret_ref,
                                      "urlSecretRef")
    headers: dict[str, str] = {}
    if source.headers_secret_ref is not None:
        headers = parse_headers(_secret_value(config, PROMETHEUS_HEADERS, source.headers_secret_ref,
                                              "headersSecretRef"))
    return Prometheus(url, connect, headers, config, spec.source.statement_timeout_seconds,
                      spec.source.connect_timeout_seconds)


def _secret_value(config: RunConfig, var: str, ref: SecretKeyRef | None, field: str) -> str:
    """The value of Secret key ``ref`` (the pod's variable ``var``), or why it is missing."""
    assert ref is not None, "the model requires the reference"
    if var not in config.values:
        raise PrometheusError(f"Secret {ref.name!r} has no key {ref.key!r}"
                              f" (spec.source.prometheus.{field})")
    return config.values[var]


@dataclass
class Prometheus:
    """A Prometheus HTTP API as a run uses it: base URL (from the spec, or from the Secret
    that holds the headers too), how to connect, headers, timeouts and the network policy (the
    run pod's environment)."""

    url: str
    connect: Connect
    headers: dict[str, str] = field(default_factory=dict)
    config: RunConfig = field(default_factory=RunConfig)
    query_timeout: int = 300
    connect_timeout: int = 10

    def rows(self, promql: str, step: str | None, start: datetime, end: datetime,
             tz: tzinfo) -> tuple[list[str], Iterator[tuple[Any, ...]]]:
        """Columns and rows of ``promql`` over [start, end] (see the module docstring)."""
        delta = step_delta(step or DEFAULT_STEP)
        if delta < timedelta(seconds=1):
            raise PrometheusError(f"step {step} is shorter than 1s")
        points = (end - start) // delta
        if points < 1:
            raise PrometheusError(f"step {step or DEFAULT_STEP} is longer than the period")
        results: list[dict[str, Any]] = []
        with self.connect(self.config) as client:
            size = 0
            for first in range(1, points + 1, MAX_POINTS):
                last = min(first + MAX_POINTS - 1, points)
                reply, read = self._get(client, promql, start + first * delta,
                                        start + last * delta, delta)
                size += read
                if size > MAX_BYTES:
                    raise PrometheusError(f"the replies exceed {MAX_BYTES // 2**20} MiB: use a"
                                          " longer step or aggregate (sum by ...)")
                results.extend(_matrix(reply))
        return matrix_rows(results, tz)

    def _get(self, client: Any, promql: str, start: datetime, end: datetime,
             step: timedelta) -> tuple[Any, int]:
        import httpx

        url, host = _query_url(self.url)
        params = {"query": promql, "start": f"{start.timestamp():.3f}",
                  "end": f"{end.timestamp():.3f}", "step": f"{step.total_seconds():g}",
                  "timeout": f"{self.query_timeout}s"}
        timeout = httpx.Timeout(self.query_timeout + 5, connect=self.connect_timeout)
        try:
            with client.stream("GET", url, params=params, timeout=timeout, follow_redirects=False,
                               headers={"Accept": "application/json", "User-Agent": USER_AGENT,
                                        **self.headers}) as response:
                body = _read(response)
        except httpx.TimeoutException as exc:
            raise PrometheusError(f"Prometheus ({host}): timed out ({type(exc).__name__};"
                                  " spec.source.connectTimeoutSeconds,"
                                  " statementTimeoutSeconds)") from exc
        except httpx.HTTPError as exc:
            raise PrometheusError(f"Prometheus ({host}): {type(exc).__name__}") from exc
        except PrometheusError:
            raise
        except Exception as exc:  # the network policy's refusal (netguard.AddressRefused)
            raise PrometheusError(f"Prometheus ({host}): {exc}") from None
        reply = _json(body)
        if response.status_code == 200 and isinstance(reply, dict) and (
                reply.get("status") == "success"):
            return reply, len(body)
        if isinstance(reply, dict) and reply.get("status") == "error":
            said = f"{reply.get('errorType', 'error')}: {reply.get('error', '')}"[:1000]
            raise PrometheusError(f"Prometheus ({host}) refused the query"
                                  f" (HTTP {response.status_code}): {said}")
        what = "redirect (redirects are not followed)" if response.is_redirect else (
            "not a Prometheus API reply" if response.status_code == 200 else "no Prometheus"
            " error reply")
        raise PrometheusError(f"Prometheus ({host}): HTTP {response.status_code}, {what};"
                              " check the URL of spec.source.prometheus")


def _query_url(base: str) -> tuple[str, str]:
    """The query_range URL under ``base`` and its host; a URL that is not one is refused
    without echoing it (from a Secret, it may hold a token)."""
    import httpx

    url = base.strip().rstrip("/") + "/api/v1/query_range"
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise PrometheusError("the URL of spec.source.prometheus (url or urlSecretRef) is not"
                              " an http(s) URL with a host, e.g. http://prometheus:9090")
    return url, parsed.host


def _read(response: Any) -> bytes:
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_BYTES:
            raise PrometheusError(f"the reply exceeds {MAX_BYTES // 2**20} MiB: use a longer"
                                  " step or aggregate (sum by ...)")
        chunks.append(chunk)
    return b"".join(chunks)


def _json(body: bytes) -> Any:
    import json

    try:
        return json.loads(body)
    except ValueError:
        return None


def _matrix(reply: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The series of a query_range reply (or of its ``data``)."""
    data = reply.get("data", reply)
    if not isinstance(data, Mapping) or data.get("resultType") != "matrix" or not isinstance(
            data.get("result"), list):
        raise PrometheusError("expected a range query reply (resultType matrix)")
    return list(data["result"])


def matrix_rows(series: list[dict[str, Any]], tz: tzinfo
                ) -> tuple[list[str], Iterator[tuple[Any, ...]]]:
    """Columns and rows of matrix ``series`` ({"metric": labels, "values": [[t, "v"], ...]})."""
    labels = sorted({name for s in series for name in (s.get("metric") or {})})
    if any("histograms" in s and not s.get("values") for s in series):
        raise PrometheusError("the query returns native histograms: wrap it in"
                              " histogram_quantile(), histogram_count() or histogram_sum()")
    points: list[tuple[float, tuple[str, ...], float | None]] = []
    for s in series:
        metric = s.get("metric") or {}
        key = tuple(str(metric.get(name, "")) for name in labels)
        points += [(float(t), key, _value(v)) for t, v in s.get("values") or ()]
    points.sort(key=lambda p: (p[0], p[1]))
    columns = ["time", *(f"label_{n}" if n in ("time", "value") else n for n in labels),
               "value"]
    rows = ((datetime.fromtimestamp(t, tz), *key, value) for t, key, value in points)
    return columns, rows


def _value(text: Any) -> float | None:
    value = float(text)
    return value if math.isfinite(value) else None


def saved_rows(sample: Mapping[str, Any], tz: tzinfo
                ) -> tuple[list[str], Iterator[tuple[Any, ...]]]:
    """Rows of a saved query_range reply (the JSON Prometheus answers, or its ``data``)."""
    return matrix_rows(_matrix(sample), tz)
