"""Burst recipients (spec.delivery.burst): the burst dataset's rows, each an email address and
the parameters its own report's queries bind."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from bulletin.api.burst import MAX_BURST_RECIPIENTS, Burst
from bulletin.api.spec import Dataset, ReportScheduleSpec
from bulletin.assembly.plan import ReportError
from bulletin.assembly.rows import sample_rows
from bulletin.period import Period
from bulletin.query import QueryError, QueryLimits, run_query

PARAMETER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


@dataclass(frozen=True)
class Recipient:
    """One burst recipient: where their report goes and what its queries bind."""

    address: str
    params: dict[str, Any]
    password: str | None = field(default=None, repr=False, compare=False)  # passwordColumn

    @property
    def key(self) -> str:
        """The ledger's key: a short hash of the address (any case) and the parameters."""
        text = json.dumps([self.address.lower(), self.params], sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def burst_of(spec: ReportScheduleSpec) -> tuple[Burst, Dataset]:
    """spec.delivery.burst and its dataset (the spec model guarantees both exist)."""
    burst = spec.delivery.burst
    assert burst is not None
    return burst, next(d for d in spec.datasets if d.name == burst.dataset)


def report_spec(spec: ReportScheduleSpec) -> ReportScheduleSpec:
    """The spec each recipient's report is built from: every dataset but the burst one."""
    burst, _ = burst_of(spec)
    return spec.model_copy(update={"datasets": [d for d in spec.datasets
                                                if d.name != burst.dataset]})


@contextmanager
def _rows(spec: ReportScheduleSpec, dataset: Dataset, period: Period, db_url: str | None,
          sample: Mapping[str, Any] | None
          ) -> Iterator[tuple[list[str], Iterator[tuple[Any, ...]]]]:
    if sample is not None:
        yield sample_rows(sample, dataset.name, previous=False, tz=period.tz)
        return
    if dataset.query is None:
        raise ReportError(f"spec.delivery.burst: dataset {dataset.name!r} must be a query (SQL)"
                          " dataset: the recipients come from its rows")
    assert db_url is not None
    try:
        with run_query(db_url, dataset.query, period.params(), period.time_zone,
                       QueryLimits.of(spec.source)) as result:
            yield result.columns, result.rows
    except QueryError as exc:
        raise QueryError(f"burst dataset {dataset.name!r}: query failed: {exc}") from exc


def _check_columns(burst: Burst, columns: list[str], reserved: set[str]) -> list[str]:
    """The parameter columns; ReportError when the address column is missing or a column
    cannot be a bound parameter."""
    where = f"spec.delivery.burst: dataset {burst.dataset!r}"
    if burst.address_column not in columns:
        raise ReportError(f"{where} returns no column {burst.address_column!r}"
                          f" (addressColumn; it returns {', '.join(columns)})")
    if burst.password_column is not None and burst.password_column not in columns:
        raise ReportError(f"{where} returns no column {burst.password_column!r}"
                          f" (passwordColumn; it returns {', '.join(columns)})")
    params = [c for c in columns if c not in (burst.address_column, burst.password_column)]
    if bad := [c for c in params if not PARAMETER.match(c) or c in reserved]:
        raise ReportError(f"{where}: column(s) {', '.join(map(repr, bad))} cannot be query"
                          " parameters (use letters, digits and _; the period's names are"
                          " taken): rename them with AS")
    return params


def recipients(spec: ReportScheduleSpec, period: Period, db_url: str | None,
               sample: Mapping[str, Any] | None = None) -> list[Recipient]:
    """The run's recipients in the dataset's order, without repeats; ReportError when there are
    more than burst.maxRecipients."""
    burst, dataset = burst_of(spec)
    with _rows(spec, dataset, period, db_url, sample) as (columns, rows):
        params = _check_columns(burst, columns, set(period.params()))
        found = list(islice(rows, burst.max_recipients + 1))  # a QueryError: see _rows
    if len(found) > burst.max_recipients:
        raise ReportError(
            f"spec.delivery.burst: dataset {dataset.name!r} returned more than"
            f" {burst.max_recipients} recipients (maxRecipients); nothing was sent: narrow its"
            f" query or raise maxRecipients (at most {MAX_BURST_RECIPIENTS})")
    out: dict[str, Recipient] = {}
    for row in found:
        values = dict(zip(columns, row, strict=True))
        address = values.pop(burst.address_column)
        password = values.get(burst.password_column) if burst.password_column else None
        recipient = Recipient("" if address is None else str(address).strip(),
                              {k: values[k] for k in params},
                              None if password is None else str(password))
        out.setdefault(recipient.key, recipient)
    return list(out.values())
