"""The parser wall (bulletin.sqlguard): per dialect, one read-only query passes and everything
else is refused with a message that says what, before any connection is made."""

from __future__ import annotations

import pytest
from bulletin.query import QueryRefused, run_query
from bulletin.sqlguard import ONE_QUERY, UnsafeQuery, check

PG, MARIA, MYSQL, SQLITE, OTHER = "postgresql", "mariadb", "mysql", "sqlite", "oracle"

ACCEPTED = [
    (PG, "SELECT day::date AS day, sum(n) FROM usage WHERE at >= :period_start"
         " AND at < :period_end GROUP BY 1 ORDER BY 1"),
    (PG, "WITH weekly AS (SELECT date_trunc('week', at)::date AS week, count(*) AS n FROM t"
         " GROUP BY 1) SELECT week, n, sum(n) OVER (ORDER BY week) AS running FROM weekly"),
    (PG, "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3)"
         " SELECT * FROM r"),
    (PG, "SELECT :period_start::date AS start, CAST(:period_end AS date) AS stop"),
    (PG, "SELECT count(*) FILTER (WHERE ok) AS good, '{\"a\":1}'::jsonb -> 'a' AS a FROM t"),
    (PG, "-- weekly usage\nSELECT 1 AS n /* why */;"),
    (PG, "SELECT 1 AS n;  -- trailing comment\n"),
    (PG, "VALUES (1, 'a'), (2, 'b')"),
    (PG, "SELECT 1 UNION SELECT 2 EXCEPT SELECT 3"),
    (PG, "(SELECT 1) UNION ALL (SELECT 2)"),
    (PG, "TABLE usage"),
    (PG, "SELECT pg_sleep(1), current_setting('TimeZone')"),
    (PG, "SELECT 'set_config(1); DROP TABLE t' AS text, $$ INTO $$ AS d"),
    (PG, "SELECT substring(name FROM 1 FOR 3) FROM t WHERE name ILIKE '%x%'"),
    (MARIA, "SELECT DATE_FORMAT(d, '%Y-%m') AS month, SUM(cost) FROM t"
            " WHERE d >= :period_start - INTERVAL 1 DAY GROUP BY 1"),
    (MARIA, "SELECT `user`, SLEEP(0) FROM t # a comment\n"),
    (MARIA, "SELECT 1 --x\n"),  # MySQL reads `--x` as minus minus x, and so does sqlglot
    (MYSQL, "WITH a AS (SELECT 1 AS n) SELECT n, ROW_NUMBER() OVER (ORDER BY n) FROM a"),
    (SQLITE, "SELECT date(:period_start, '+1 day'), strftime('%W', d) FROM t LIMIT 5"),
    (OTHER, "SELECT 1 FROM dual WHERE d >= :period_start"),
]

# (backend, query, what the message says was refused)
REFUSED = [
    (MARIA, "SET STATEMENT tx_read_only=0 FOR CREATE TABLE x (n int)", "SET STATEMENT"),
    (MARIA, "SET STATEMENT tx_read_only=0 FOR DELETE FROM t", "SET STATEMENT"),
    (MARIA, "set statement max_statement_time=0 for select sleep(12)", "SET STATEMENT"),
    (MYSQL, "SET SESSION max_execution_time = 0", "SET "),
    (PG, "SET statement_timeout = 0", "SET "),
    (PG, "SELECT set_config('statement_timeout', '0', false)", "set_config()"),
    (PG, "SELECT pg_catalog.\"set_config\"('statement_timeout', '0', false)", "set_config()"),
    (PG, "SELECT SET_CONFIG ('statement_timeout', '0', false)", "SET_CONFIG()"),
    (PG, 'SELECT U&"set\\005fconfig"(\'statement_timeout\', \'0\', false)', 'U&"…"'),
    (PG, "SELECT 1; SELECT 2", "2 statements"),
    (PG, "SELECT 1; DROP TABLE t", "2 statements"),
    (PG, "", "0 statements"),
    (PG, "CREATE TABLE t (n int)", "CREATE TABLE"),
    (PG, "DROP TABLE t", "DROP TABLE"),
    (PG, "DELETE FROM t", "DELETE"),
    (PG, "INSERT INTO t VALUES (1)", "INSERT"),
    (PG, "UPDATE t SET n = 1", "UPDATE"),
    (PG, "TRUNCATE t", "TRUNCATE"),
    (PG, "WITH x AS (INSERT INTO t VALUES (1) RETURNING n) SELECT * FROM x", "INSERT inside"),
    (PG, "WITH d AS (DELETE FROM t RETURNING *) SELECT count(*) FROM d", "DELETE inside"),
    (PG, "SELECT * FROM (WITH u AS (UPDATE t SET n = 1 RETURNING n) SELECT n FROM u) s",
     "UPDATE inside"),
    (PG, "SELECT * FROM t FOR UPDATE", "FOR UPDATE"),
    (PG, "SELECT * FROM t FOR NO KEY UPDATE", "FOR UPDATE"),
    (PG, "SELECT * FROM t FOR SHARE", "FOR SHARE"),
    (PG, "SELECT * FROM t FOR KEY SHARE", "FOR SHARE"),
    (PG, "SELECT * INTO copy FROM t", "SELECT … INTO"),
    (PG, "COPY t TO '/tmp/x'", "COPY"),
    (PG, "DO $$ BEGIN PERFORM 1; END $$", "DO"),
    (PG, "CALL p()", "CALL"),
    (PG, "EXPLAIN ANALYZE DELETE FROM t", "EXPLAIN"),
    (PG, "SELECT nextval('s')", "nextval()"),
    (PG, "SELECT setval('s', 1)", "setval()"),
    (PG, "SELECT pg_terminate_backend(1)", "pg_terminate_backend()"),
    (PG, "SELECT pg_cancel_backend(1)", "pg_cancel_backend()"),
    (PG, "SELECT pg_reload_conf()", "pg_reload_conf()"),
    (PG, "SELECT pg_read_file('/etc/passwd')", "pg_read_file()"),
    (PG, "SELECT pg_read_binary_file('/etc/passwd')", "pg_read_binary_file()"),
    (PG, "SELECT * FROM pg_ls_dir('.')", "pg_ls_dir()"),
    (PG, "SELECT pg_stat_file('x')", "pg_stat_file()"),
    (PG, "SELECT lo_import('/etc/passwd')", "lo_import()"),
    (PG, "SELECT lo_export(1, '/tmp/x')", "lo_export()"),
    (PG, "SELECT * FROM dblink('host=x', 'DELETE FROM t') AS r(n int)", "dblink()"),
    (PG, "SELECT pg_advisory_lock(1)", "pg_advisory_lock()"),
    (PG, "SELECT pg_try_advisory_xact_lock(1)", "pg_try_advisory_xact_lock()"),
    (PG, "SELECT pg_notify('c', 'x')", "pg_notify()"),
    (PG, "SELECT txid_current()", "txid_current()"),
    (PG, "SELECT query_to_xml('SELECT set_config(1)', true, true, '')", "query_to_xml()"),
    (MARIA, "SELECT * FROM t LOCK IN SHARE MODE", "FOR SHARE"),
    (MARIA, "SELECT * FROM t FOR UPDATE", "FOR UPDATE"),
    (MARIA, "SELECT * FROM t INTO OUTFILE '/tmp/x'", "INTO OUTFILE"),
    (MARIA, "SELECT * FROM t INTO DUMPFILE '/tmp/x'", "INTO DUMPFILE"),
    (MARIA, "SELECT n INTO @x FROM t", "SELECT … INTO"),
    (MARIA, "LOAD DATA INFILE '/tmp/x' INTO TABLE t", "LOAD DATA"),
    (MARIA, "CALL p()", "CALL"),
    (MARIA, "DO SLEEP(1)", "DO"),
    (MARIA, "HANDLER t OPEN", "HANDLER"),
    (MARIA, "SELECT GET_LOCK('a', 1)", "GET_LOCK()"),
    (MARIA, "SELECT `release_lock`('a')", "release_lock()"),
    (MARIA, "SELECT LOAD_FILE('/etc/passwd')", "LOAD_FILE()"),
    (MARIA, "SELECT BENCHMARK(100000000, MD5('x'))", "BENCHMARK()"),
    (MARIA, "SELECT sys_exec('id')", "sys_exec()"),
    (MARIA, "SELECT NEXT VALUE FOR s", "NEXT VALUE FOR"),
    (MARIA, "SELECT NEXTVAL(s)", "NEXTVAL()"),
    (MARIA, "SELECT /*!50000 GET_LOCK('a', 1) */ 1", "executable comment"),
    (MARIA, "SELECT 1 /*M! , SLEEP(100) */", "executable comment"),
    (MYSQL, "SELECT /*+ SET_VAR(max_execution_time=0) */ SLEEP(100)", "optimizer hint"),
    (MYSQL, "SELECT /*+ MAX_EXECUTION_TIME(0) */ SLEEP(100)", "optimizer hint"),
    (PG, "/*+ Set(statement_timeout 0) */ SELECT pg_sleep(100)", "optimizer hint"),
    (SQLITE, "SELECT load_extension('/tmp/x.so')", "load_extension()"),
    (SQLITE, "ATTACH DATABASE '/tmp/x' AS x", "ATTACH"),
    (SQLITE, "PRAGMA query_only = OFF", "PRAGMA"),
    (SQLITE, "INSERT INTO t VALUES (1) RETURNING n", "INSERT"),
    (OTHER, "SELECT set_config('a', 'b', false)", "set_config()"),
    (OTHER, "MERGE INTO t USING s ON t.n = s.n WHEN MATCHED THEN DELETE", "MERGE"),
    (PG, "SELECT FROM WHERE (", "cannot parse"),
    (PG, "SELECT 'unterminated", "cannot parse"),
]


@pytest.mark.parametrize(("backend", "sql"), ACCEPTED)
def test_one_read_only_query_passes(backend: str, sql: str) -> None:
    check(sql, backend)


@pytest.mark.parametrize(("backend", "sql", "what"), REFUSED)
def test_everything_else_is_refused_naming_what(backend: str, sql: str, what: str) -> None:
    with pytest.raises(UnsafeQuery) as caught:
        check(sql, backend)
    message = str(caught.value)
    assert message.startswith("refused ") and what in message, message
    assert message.endswith(f"{ONE_QUERY})"), message


def test_a_refused_query_never_connects() -> None:
    """run_query refuses before connecting: nothing listens on this URL."""
    with pytest.raises(QueryRefused, match=r"^refused SET STATEMENT \(a report query is one"
                       r" read-only statement: SELECT, WITH … SELECT or VALUES\)$"), \
            run_query("mysql://u:p@127.0.0.1:9/db", "SET STATEMENT tx_read_only=0 FOR DROP"
                      " TABLE t", {}, "UTC"):
        pass
