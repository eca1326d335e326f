"""Issue 19's attacks on report queries, against the real PostgreSQL and MariaDB servers.

1. MariaDB ran DDL/DML through `SET STATEMENT tx_read_only=0 FOR …` despite the read-only
   transaction: the parser wall refuses it, and the targeted table is still there, unchanged.
2. A query switched its own timeout off (PostgreSQL set_config before a later fetch, MariaDB
   SET STATEMENT max_statement_time=0): the parser wall refuses both, and past that wall the
   watchdog still cancels the query on the server a little after the limit.
3. docs/security.md's read-only users hold on their own: past both walls, the servers refuse.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from bulletin import sqlguard
from bulletin.api.policy import Gates
from bulletin.api.spec import ReportScheduleSpec
from bulletin.gates import GateError, check_assertions
from bulletin.query import FETCH_ROWS, QueryError, QueryLimits, QueryRefused, run_query
from devstack.mariadb import MariaDB
from devstack.ports import HOST
from devstack.postgres import Postgres
from report_support import build, make_spec
from support import wait_for

LIMIT = QueryLimits(statement_timeout=2)
SLEEP = 30  # seconds: far past the limit, so a run that ends sooner was cancelled
TIMEOUT = r"statement timeout of 2s \(spec\.source\.statementTimeoutSeconds\)"
APP = "bulletin-guard-test"  # the attack's connection, as pg_stat_activity names it
# set_config runs while the first fetch computes its rows; the rows after it sleep in a later
# FETCH, which starts under statement_timeout=0.
PG_BYPASS = (f"SELECT set_config('statement_timeout', '0', false) AS s,"
             f" pg_sleep(CASE WHEN n > {FETCH_ROWS} THEN {SLEEP} ELSE 0 END) AS z"
             f" FROM generate_series(1, {FETCH_ROWS + 1}) AS n")
MARIA_BYPASS = f"SET STATEMENT max_statement_time=0 FOR SELECT SLEEP({SLEEP}) AS z"


@pytest.fixture
def server_wall_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the parser wall (bulletin.sqlguard): what the server and the watchdog do."""
    monkeypatch.setattr(sqlguard, "check", lambda sql, backend: None)


def _drain(url: str, sql: str, limits: QueryLimits = LIMIT) -> list[tuple[object, ...]]:
    with run_query(url, sql, {}, "UTC", limits) as result:
        return list(result.rows)


def _spec(name: str, query: str) -> ReportScheduleSpec:
    return make_spec(source={"connectionSecretRef": {"name": "db", "key": "url"},
                             "statementTimeoutSeconds": 2},
                     datasets=[{"name": name, "query": query}],
                     report={"summaryDataset": None, "columns": None})


# MariaDB ---------------------------------------------------------------------------------------

@pytest.fixture
def victim(mariadb: MariaDB) -> Iterator[str]:
    mariadb.execute("DROP TABLE IF EXISTS guard_sneaky; DROP TABLE IF EXISTS guard_victim;"
                    " CREATE TABLE guard_victim (n INT); INSERT INTO guard_victim VALUES (1),"
                    " (2), (3)")
    yield "guard_victim"
    mariadb.execute("DROP TABLE IF EXISTS guard_sneaky; DROP TABLE IF EXISTS guard_victim")


@pytest.mark.parametrize("statement", ["CREATE TABLE guard_sneaky (n INT)",
                                       "DROP TABLE guard_victim",
                                       "DELETE FROM guard_victim",
                                       "INSERT INTO guard_victim VALUES (4)",
                                       "UPDATE guard_victim SET n = 0"])
def test_set_statement_cannot_lift_read_only(mariadb: MariaDB, victim: str, statement: str
                                             ) -> None:
    with pytest.raises(QueryError) as caught:
        _drain(mariadb.url, f"SET STATEMENT tx_read_only=0 FOR {statement}")
    tables = mariadb.execute("SHOW TABLES").split()  # the admin's own connection
    assert victim in tables and "guard_sneaky" not in tables
    assert mariadb.execute(f"SELECT COUNT(*), SUM(n) FROM {victim}").split() == ["3", "6"]
    assert isinstance(caught.value, QueryRefused)
    assert str(caught.value).startswith("refused SET STATEMENT ("), caught.value


def test_the_refusal_names_the_dataset(mariadb: MariaDB, victim: str, tmp_path: Path) -> None:
    spec = _spec("sales", f"SET STATEMENT tx_read_only=0 FOR DROP TABLE {victim}")
    with pytest.raises(QueryError, match=r"^dataset 'sales': query failed: refused SET"
                       r" STATEMENT \(a report query is one read-only statement"):
        build(tmp_path, spec, db_url=mariadb.url)
    assert victim in mariadb.execute("SHOW TABLES").split()


def _maria_sleeping(mariadb: MariaDB) -> int:
    return int(mariadb.execute(
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE COMMAND = 'Query'"
        f" AND INFO LIKE '%SLEEP({SLEEP})%' AND ID <> CONNECTION_ID()").strip())


def test_mariadb_timeout_bypass_is_refused(mariadb: MariaDB) -> None:
    started = time.monotonic()
    with pytest.raises(QueryRefused, match=r"^refused SET STATEMENT"):
        _drain(mariadb.url, MARIA_BYPASS)
    assert time.monotonic() - started < SLEEP
    assert _maria_sleeping(mariadb) == 0


@pytest.mark.usefixtures("server_wall_only")
def test_mariadb_timeout_bypass_is_cancelled_from_outside(mariadb: MariaDB) -> None:
    started = time.monotonic()
    with pytest.raises(QueryError, match=rf"^cancelled after the {TIMEOUT}"):
        _drain(mariadb.url, MARIA_BYPASS)
    assert time.monotonic() - started < SLEEP
    wait_for(lambda: _maria_sleeping(mariadb) == 0, "the killed SLEEP to leave the server",
             timeout=10)


# PostgreSQL ------------------------------------------------------------------------------------

def _pg_active(postgres: Postgres) -> int:
    with psycopg.connect(postgres.url) as conn:  # a connection of its own
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
                           " AND state = 'active'", (APP,)).fetchone()
    assert row is not None
    return int(row[0])


def test_set_config_is_refused(postgres: Postgres) -> None:
    started = time.monotonic()
    with pytest.raises(QueryRefused, match=r"^refused set_config\(\) \(a function with side"):
        _drain(f"{postgres.url}?application_name={APP}", PG_BYPASS)
    assert time.monotonic() - started < SLEEP
    assert _pg_active(postgres) == 0


def test_an_assertion_is_refused_by_name(postgres: Postgres) -> None:
    gates = Gates.model_validate({"assertions": [
        {"name": "fresh", "query": "SELECT set_config('statement_timeout', '0', false) <> ''"}]})
    with pytest.raises(GateError, match=r"^assertion 'fresh': query failed: refused"
                       r" set_config\(\)"):
        check_assertions(gates, postgres.url, {}, "UTC", LIMIT)


def test_a_data_modifying_cte_is_refused(postgres: Postgres) -> None:
    postgres.execute("DROP TABLE IF EXISTS guard_rows; CREATE TABLE guard_rows (n int);"
                     " INSERT INTO guard_rows VALUES (1), (2)")
    with pytest.raises(QueryRefused, match=r"^refused DELETE inside the query"):
        _drain(postgres.url, "WITH d AS (DELETE FROM guard_rows RETURNING n) SELECT * FROM d")
    with psycopg.connect(postgres.url) as conn:
        assert conn.execute("SELECT count(*) FROM guard_rows").fetchone() == (2,)


@pytest.mark.usefixtures("server_wall_only")
def test_postgres_timeout_bypass_is_cancelled_from_outside(postgres: Postgres) -> None:
    started = time.monotonic()
    with pytest.raises(QueryError, match=rf"^cancelled after the {TIMEOUT}"):
        _drain(f"{postgres.url}?application_name={APP}", PG_BYPASS)
    assert time.monotonic() - started < SLEEP
    wait_for(lambda: _pg_active(postgres) == 0, "the cancelled query to leave the server",
             timeout=10)


@pytest.mark.usefixtures("server_wall_only")
def test_the_cancel_names_the_dataset_and_the_limit(postgres: Postgres, tmp_path: Path
                                                    ) -> None:
    with pytest.raises(QueryError, match=rf"^dataset 'slow': query failed: cancelled after"
                       rf" the {TIMEOUT}"):
        build(tmp_path, _spec("slow", PG_BYPASS), db_url=f"{postgres.url}?application_name={APP}")
    wait_for(lambda: _pg_active(postgres) == 0, "the cancelled query to leave the server",
             timeout=10)


# The read-only users of docs/security.md (## Queries) --------------------------------------------

@pytest.mark.usefixtures("server_wall_only")
def test_a_select_only_mariadb_user_stops_set_statement(mariadb: MariaDB, victim: str) -> None:
    """SET STATEMENT tx_read_only=0 lifts MariaDB's read-only transaction; the grant holds."""
    mariadb.execute("CREATE USER IF NOT EXISTS 'guard_reports'@'%' IDENTIFIED BY 'guard-pw';"
                    " GRANT SELECT ON bulletin.* TO 'guard_reports'@'%'")
    url = f"mysql://guard_reports:guard-pw@{HOST}:{mariadb.port}/bulletin"
    assert _drain(url, f"SELECT COUNT(*) FROM {victim}") == [(3,)]
    with pytest.raises(QueryError, match="command denied"):
        _drain(url, f"SET STATEMENT tx_read_only=0 FOR DROP TABLE {victim}")
    assert victim in mariadb.execute("SHOW TABLES").split()


def test_the_documented_postgres_role_reads_and_cannot_write(postgres: Postgres) -> None:
    postgres.execute("DROP TABLE IF EXISTS guard_rows; CREATE TABLE guard_rows (n int);"
                     " INSERT INTO guard_rows VALUES (1), (2)")
    with psycopg.connect(host=HOST, port=postgres.port, user="postgres",
                         password="postgres-admin", dbname="bulletin", autocommit=True) as admin:
        if not admin.execute("SELECT 1 FROM pg_roles WHERE rolname = 'guard_reports'").fetchone():
            admin.execute("CREATE ROLE guard_reports LOGIN PASSWORD 'guard-pw'")
        for grant in ("GRANT CONNECT ON DATABASE bulletin TO guard_reports",
                      "GRANT USAGE ON SCHEMA public TO guard_reports",
                      "GRANT SELECT ON ALL TABLES IN SCHEMA public TO guard_reports",
                      "ALTER DEFAULT PRIVILEGES FOR ROLE bulletin IN SCHEMA public"
                      " GRANT SELECT ON TABLES TO guard_reports",
                      "ALTER ROLE guard_reports SET default_transaction_read_only = on"):
            admin.execute(grant)
    url = f"postgresql://guard_reports:guard-pw@{HOST}:{postgres.port}/bulletin"
    assert _drain(url, "SELECT count(*) FROM guard_rows") == [(2,)]
    with psycopg.connect(url.replace("postgresql://", "postgres://"), autocommit=True) as conn:
        conn.execute("SET default_transaction_read_only = off")  # a session of its own choosing
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM guard_rows")
    with psycopg.connect(postgres.url) as conn:
        assert conn.execute("SELECT count(*) FROM guard_rows").fetchone() == (2,)
