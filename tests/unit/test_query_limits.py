"""Report queries are tenant SQL: against a real PostgreSQL they run read-only (even past the
parser wall, sqlguard), the server cancels them at the statement timeout, and connecting gives up
at the connect timeout."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from bulletin import sqlguard
from bulletin.api.policy import Gates
from bulletin.gates import GateError, check_assertions
from bulletin.query import QueryError, QueryLimits, run_query
from devstack.postgres import Postgres
from report_support import build, make_spec

PARAMS = {"period_start": "2026-01-01", "period_end": "2026-01-08"}


@pytest.fixture
def server_wall_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the parser wall (bulletin.sqlguard): what the database itself refuses."""
    monkeypatch.setattr(sqlguard, "check", lambda sql, backend: None)


@pytest.fixture
def table(postgres: Postgres, request: pytest.FixtureRequest) -> str:
    name = "t_" + request.node.name.lower().replace("[", "_").replace("]", "")[:40]
    postgres.execute(f"DROP TABLE IF EXISTS {name}; CREATE TABLE {name} (n int)")
    return name


def _count(postgres: Postgres, table: str) -> int:
    with psycopg.connect(postgres.url) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


def _rows(url: str, sql: str, limits: QueryLimits | None = None) -> list[tuple[object, ...]]:
    with run_query(url, sql, PARAMS, "UTC", limits) as result:
        return list(result.rows)


@pytest.mark.usefixtures("server_wall_only")
def test_a_write_through_a_cte_fails_with_a_clear_message(postgres: Postgres, table: str
                                                          ) -> None:
    with pytest.raises(QueryError, match="Bulletin runs queries read-only"):
        _rows(postgres.url, f"WITH x AS (INSERT INTO {table} VALUES (1) RETURNING n)"
                            " SELECT * FROM x")
    assert _count(postgres, table) == 0


@pytest.mark.parametrize("sql", [
    "SELECT {t}_write() AS n",
    "SELECT nextval('{t}_seq') AS n",
    "SELECT n FROM {t} FOR UPDATE",
])
@pytest.mark.usefixtures("server_wall_only")
def test_writes_hidden_in_a_select_fail(postgres: Postgres, table: str, sql: str) -> None:
    postgres.execute(f"CREATE OR REPLACE FUNCTION {table}_write() RETURNS int AS"
                     f" $$ INSERT INTO {table} VALUES (1) RETURNING n $$ LANGUAGE sql;"
                     f" CREATE SEQUENCE IF NOT EXISTS {table}_seq")
    with pytest.raises(QueryError, match="Bulletin runs queries read-only") as caught:
        _rows(postgres.url, sql.format(t=table))
    assert "read-only transaction" in str(caught.value)
    assert _count(postgres, table) == 0


def test_an_assertion_cannot_write_either(postgres: Postgres, table: str) -> None:
    gates = Gates.model_validate({"assertions": [{"name": "sneaky", "query":
        f"WITH x AS (INSERT INTO {table} VALUES (1) RETURNING n) SELECT true FROM x"}]})
    with pytest.raises(GateError, match="read-only"):
        check_assertions(gates, postgres.url, PARAMS, "UTC")
    assert _count(postgres, table) == 0


def _active_sleeps(postgres: Postgres) -> int:
    with psycopg.connect(postgres.url) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE state = 'active'"
                           " AND query LIKE '%pg_sleep(5)%' AND pid <> pg_backend_pid()"
                           ).fetchone()
    assert row is not None
    return int(row[0])


def test_the_statement_timeout_cancels_the_query_on_the_server(postgres: Postgres) -> None:
    with pytest.raises(QueryError) as caught:
        _rows(postgres.url, "SELECT pg_sleep(5)", QueryLimits(statement_timeout=1))
    message = str(caught.value)
    assert "statement timeout of 1s (spec.source.statementTimeoutSeconds)" in message
    deadline = time.monotonic() + 10
    while _active_sleeps(postgres) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _active_sleeps(postgres) == 0


def test_the_spec_fields_reach_the_query(postgres: Postgres, tmp_path: Path) -> None:
    spec = make_spec(source={"connectionSecretRef": {"name": "db", "key": "url"},
                             "statementTimeoutSeconds": 1},
                     datasets=[{"name": "usage", "query": "SELECT pg_sleep(5) AS slept"}],
                     report={"summaryDataset": None, "columns": None})
    assert (spec.source.statement_timeout_seconds, spec.source.connect_timeout_seconds) == (1, 10)
    with pytest.raises(QueryError, match=r"dataset 'usage': query failed: cancelled by the"
                       r" database after the statement timeout of 1s"):
        build(tmp_path, spec, db_url=postgres.url)


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield int(sock.getsockname()[1])
    sock.close()


def test_the_connect_timeout(silent_server: int) -> None:
    url = f"postgresql://u:p@127.0.0.1:{silent_server}/db"
    with pytest.raises(QueryError, match=r"could not connect within 2s"
                       r" \(spec\.source\.connectTimeoutSeconds\)"):
        _rows(url, "SELECT 1", QueryLimits(connect_timeout=2))


@pytest.mark.usefixtures("server_wall_only")
def test_sqlite_queries_are_read_only_too(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "data.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (n int)")
    with pytest.raises(QueryError, match="read-only"):
        _rows(f"sqlite:///{db}", "INSERT INTO t VALUES (1) RETURNING n")
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)
    assert _rows(f"sqlite:///{db}", "SELECT count(*) FROM t") == [(0,)]


def test_sqlite_queries_are_cancelled_at_the_timeout(tmp_path: Path) -> None:
    """SQLite has no timeout of its own: the watchdog interrupts the query."""
    import sqlite3

    db = tmp_path / "data.db"
    sqlite3.connect(db).close()
    started = time.monotonic()
    with pytest.raises(QueryError, match=r"^cancelled after the statement timeout of 1s"
                       r" \(spec\.source\.statementTimeoutSeconds\): the query was still running"):
        _rows(f"sqlite:///{db}", "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c"
                                 " WHERE n < 1000000000) SELECT count(*) FROM c",
              QueryLimits(statement_timeout=1))
    assert time.monotonic() - started < 30  # counting to 10**9 takes minutes


@pytest.mark.parametrize(("field", "value"), [("statementTimeoutSeconds", 0),
                                              ("statementTimeoutSeconds", 86401),
                                              ("connectTimeoutSeconds", 1),
                                              ("connectTimeoutSeconds", 301)])
def test_the_timeouts_are_bounded(field: str, value: int) -> None:
    with pytest.raises(ValueError, match=field.replace("Seconds", "")[:9]):
        make_spec(source={"connectionSecretRef": {"name": "db", "key": "url"}, field: value})


@pytest.mark.parametrize(("url", "message"), [
    ("not a url s3cret-pw", "is not a URL SQLAlchemy can read"),
    ("postgresql://app:s3cret-pw@db:notaport/app", "is not a URL SQLAlchemy can read"),
    ("oracle+nodriver://app:s3cret-pw@db/app", "oracle+nodriver:// URL, which the runner has no"
     " driver for"),
])
def test_a_database_url_that_cannot_be_used_is_named_without_its_value(url: str,
                                                                        message: str) -> None:
    with pytest.raises(QueryError) as caught, run_query(url, "SELECT 1", {}, "UTC"):
        pass
    assert "spec.source.connectionSecretRef" in str(caught.value)
    assert message in str(caught.value) and "s3cret-pw" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
