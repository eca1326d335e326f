"""Data gates, against a real PostgreSQL for assertions."""

from __future__ import annotations

import pytest
from bulletin.api.policy import Gates
from bulletin.gates import GateError, check_assertions, check_rows
from devstack.postgres import Postgres


def test_row_gates() -> None:
    gates = Gates.model_validate({"skipIfEmpty": True, "minRows": [{"dataset": "a", "min": 3}]})
    assert check_rows(gates, {"a": 0, "b": 0}) == "every dataset is empty (gates.skipIfEmpty)"
    assert "dataset 'a' has 2 rows, fewer than 3" in (check_rows(gates, {"a": 2}) or "")
    assert check_rows(gates, {"a": 3}) is None
    assert check_rows(Gates(), {"a": 0}) is None


def test_assertions(postgres: Postgres) -> None:
    params = {"n": 2}
    ok = Gates.model_validate({"assertions": [{"name": "two", "query": "SELECT :n = 2"}]})
    assert check_assertions(ok, postgres.url, params, "UTC") is None
    bad = Gates.model_validate({"assertions": [
        {"name": "fresh", "query": "SELECT false"}, {"name": "never", "query": "SELECT true"}]})
    assert check_assertions(bad, postgres.url, params, "UTC") == (
        "assertion 'fresh' does not hold (got False)")
    empty = Gates.model_validate(
        {"assertions": [{"name": "rows", "query": "SELECT 1 WHERE false"}]})
    assert "got no rows" in (check_assertions(empty, postgres.url, params, "UTC") or "")
    broken = Gates.model_validate({"assertions": [{"name": "oops", "query": "SELECT * FROM nope"}]})
    with pytest.raises(GateError, match='relation "nope" does not exist'):
        check_assertions(broken, postgres.url, params, "UTC")
