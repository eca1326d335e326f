"""MySQL/MariaDB sources against a real MariaDB server: the period is bound in the schedule's
time zone, column types reach CSV/XLSX/PDF as for PostgreSQL, and tenant SQL runs read-only
(even past the parser wall, sqlguard) under the statement timeout."""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from bulletin import sqlguard
from bulletin.query import QueryError, QueryLimits, run_query
from devstack.mariadb import MariaDB
from pypdf import PdfReader
from report_support import build, make_spec

# AT's weekly period in Europe/Berlin: 2026-01-05 00:00 .. 2026-01-12 00:00 local.
ROWS = """
DROP TABLE IF EXISTS usage_events;
CREATE TABLE usage_events (day DATE, at_local DATETIME, at_utc TIMESTAMP NULL,
  user_name VARCHAR(40), requests INT, cost DECIMAL(10, 2), paid BOOLEAN);
SET time_zone = '+00:00';
INSERT INTO usage_events VALUES
  ('2026-01-04', '2026-01-04 23:30:00', '2026-01-04 22:30:00', 'early', 1, 1.00, 1),
  ('2026-01-05', '2026-01-05 00:00:00', '2026-01-04 23:00:00', 'alice', 120, 1234.50, 1),
  ('2026-01-11', '2026-01-11 23:59:00', '2026-01-11 22:59:00', 'bob', 7, 0.25, 0),
  ('2026-01-12', '2026-01-12 00:00:00', '2026-01-11 23:00:00', 'late', 1, 1.00, 1);
"""


@pytest.fixture
def usage(mariadb: MariaDB) -> str:
    mariadb.execute(ROWS)
    return mariadb.url


@pytest.fixture
def server_wall_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the parser wall (bulletin.sqlguard): what the database itself refuses."""
    monkeypatch.setattr(sqlguard, "check", lambda sql, backend: None)


@pytest.mark.parametrize("column", ["at_local", "at_utc"])
def test_the_period_is_bound_in_the_schedules_time_zone(usage: str, column: str,
                                                        tmp_path: Path) -> None:
    """DATETIME holds local wall-clock times, TIMESTAMP instants: both select the same week."""
    spec = make_spec(
        datasets=[{"name": "usage", "query": "SELECT day, user_name, requests, cost, paid"
                   f" FROM usage_events WHERE {column} >= :period_start"
                   f" AND {column} < :period_end ORDER BY day"}],
        formats=["csv", "xlsx", "pdf"],
        report={"summaryDataset": None, "columns": {
            "usage": [{"name": "cost", "type": "money", "currency": "EUR"},
                      {"name": "paid", "type": "boolean"}]}})
    built = build(tmp_path, spec, db_url=usage)
    assert built.datasets == {"usage": 2}
    rows = list(csv.reader((tmp_path / "usage.csv").open()))
    assert rows == [["day", "user_name", "requests", "cost", "paid"],
                    ["2026-01-05", "alice", "120", "1234.50", "true"],
                    ["2026-01-11", "bob", "7", "0.25", "false"]]
    sheet = openpyxl.load_workbook(tmp_path / "weekly-usage.xlsx")["usage"]
    first = [c.value for c in sheet[2]]
    assert first[:4] == [dt.datetime(2026, 1, 5), "alice", 120, 1234.5]
    assert sheet["A2"].number_format != "General" and "€" in sheet["D2"].number_format
    text = "".join(page.extract_text() for page in PdfReader(tmp_path / "weekly-usage.pdf").pages)
    assert "€1,234.50" in text and "alice" in text and "early" not in text


def test_values_keep_their_database_types(usage: str) -> None:
    params = {"period_start": dt.datetime(2026, 1, 5, tzinfo=dt.UTC)}
    with run_query(usage, "SELECT day, at_local, requests, cost FROM usage_events"
                   " WHERE user_name = 'alice'", params, "Europe/Berlin") as result:
        assert result.columns == ["day", "at_local", "requests", "cost"]
        assert list(result.rows) == [(dt.date(2026, 1, 5), dt.datetime(2026, 1, 5), 120,
                                      Decimal("1234.50"))]


@pytest.mark.parametrize(("zone", "expected"), [("Europe/Berlin", "Europe/Berlin"),
                                                ("America/New_York", "-05:00")])
def test_a_zone_the_server_lacks_becomes_its_offset(usage: str, zone: str, expected: str
                                                    ) -> None:
    params = {"period_start": dt.datetime(2026, 1, 5, tzinfo=ZoneInfo(zone))}
    with run_query(usage, "SELECT @@session.time_zone", params, zone) as result:
        assert list(result.rows) == [(expected,)]


@pytest.mark.parametrize("sql", ["INSERT INTO usage_events (user_name) VALUES ('x')",
                                 "UPDATE usage_events SET requests = 0",
                                 "CREATE TABLE sneaky (n int)"])
@pytest.mark.usefixtures("server_wall_only")
def test_writes_fail_with_a_clear_message(usage: str, mariadb: MariaDB, sql: str) -> None:
    with pytest.raises(QueryError, match="Bulletin runs queries read-only"), \
            run_query(usage, sql, {}, "UTC") as result:
        list(result.rows)
    assert mariadb.execute("SELECT COUNT(*), SUM(requests) FROM usage_events").split() == [
        "4", "129"]
    assert "sneaky" not in mariadb.execute("SHOW TABLES")


def test_the_statement_timeout_interrupts_the_query(usage: str) -> None:
    with pytest.raises(QueryError, match=r"statement timeout of 1s"
                       r" \(spec\.source\.statementTimeoutSeconds\).*max_statement_time"), \
            run_query(usage, "SELECT SLEEP(5)", {}, "UTC", QueryLimits(statement_timeout=1)
                      ) as result:
        list(result.rows)
