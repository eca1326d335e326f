"""Data gates: reasons to skip delivery (empty data, too few rows, a failed assertion)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bulletin.api.errors import SourceError
from bulletin.api.policy import Gates
from bulletin.query import QueryError, QueryLimits, run_query


class GateError(SourceError):
    """An assertion query that could not run (a configuration problem, not a skip)."""


def check_assertions(
    gates: Gates, url: str, params: Mapping[str, Any], time_zone: str,
    limits: QueryLimits | None = None,
) -> str | None:
    """The reason to skip if an assertion does not hold; None when all hold. Assertions run
    read-only within ``limits`` (default: QueryLimits())."""
    for assertion in gates.assertions:
        try:
            with run_query(url, assertion.query, params, time_zone, limits) as result:
                first = next(iter(result.rows), None)
        except QueryError as exc:
            raise GateError(f"assertion {assertion.name!r}: query failed: {exc}") from exc
        if first is None or not first or not first[0]:
            got = "no rows" if not first else repr(first[0])
            return f"assertion {assertion.name!r} does not hold (got {got})"
    return None


def check_rows(gates: Gates, rows: Mapping[str, int]) -> str | None:
    """The reason to skip given the rows per dataset; None when delivery should go ahead."""
    if gates.skip_if_empty and not any(rows.values()):
        return "every dataset is empty (gates.skipIfEmpty)"
    for rule in gates.min_rows:
        have = rows.get(rule.dataset, 0)
        if have < rule.min:
            return (f"dataset {rule.dataset!r} has {have} rows, fewer than {rule.min}"
                    " (gates.minRows)")
    return None
