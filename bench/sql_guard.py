"""SQL guard: what the parser wall (bulletin.sqlguard) adds to a dataset query. A weekly report's
query (a CTE, a join, a window function, bound period parameters) on a SQLite table of --rows
rows: ours is the guard's check plus the query through SQLAlchemy, the raw baseline the same
query without the check. Medians of --runs. Goal: ratio <= 1.2 on a query this small (SQLite,
in-process: a database server's round trips make the share smaller still). The whole
bulletin.query.run_query (guard, read-only session, watchdog, streaming) is printed too."""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "runner")]

from bulletin import sqlguard  # noqa: E402
from bulletin.query import run_query  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

QUERY = """
WITH daily AS (
  SELECT u.day, t.name AS team, sum(u.requests) AS requests
  FROM usage u JOIN teams t ON t.id = u.team_id
  WHERE u.day >= :period_start AND u.day < :period_end
  GROUP BY u.day, t.name
)
SELECT day, team, requests,
       sum(requests) OVER (PARTITION BY team ORDER BY day) AS running_total
FROM daily ORDER BY day, team
"""
PARAMS = {"period_start": "2026-01-05", "period_end": "2026-01-12"}


def _database(path: Path, rows: int) -> str:
    url = f"sqlite:///{path}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE teams (id INTEGER PRIMARY KEY, name TEXT)"))
        conn.execute(text("CREATE TABLE usage (day TEXT, team_id INTEGER, requests INTEGER)"))
        conn.execute(text("INSERT INTO teams VALUES (1, 'a'), (2, 'b'), (3, 'c')"))
        conn.execute(text("INSERT INTO usage VALUES (:day, :team, :n)"), [
            {"day": f"2026-01-{5 + i % 7:02d}", "team": 1 + i % 3, "n": i % 100}
            for i in range(rows)])
    engine.dispose()
    return url


def _raw(url: str) -> float:
    start = time.perf_counter()
    engine = create_engine(url)
    with engine.connect() as conn:
        found = conn.execute(text(QUERY), PARAMS).fetchall()
    engine.dispose()
    assert found
    return time.perf_counter() - start


def _ours(url: str) -> float:
    start = time.perf_counter()
    sqlguard.check(QUERY, "sqlite")
    return time.perf_counter() - start + _raw(url)


def _run_query(url: str) -> float:
    start = time.perf_counter()
    with run_query(url, QUERY, PARAMS, "UTC") as result:
        assert list(result.rows)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = _database(Path(tmp) / "bench.db", args.rows)
        _raw(url), _ours(url), _run_query(url)  # warm every path (imports, page cache)
        raw = statistics.median(_raw(url) for _ in range(args.runs))
        ours = statistics.median(_ours(url) for _ in range(args.runs))
        whole = statistics.median(_run_query(url) for _ in range(args.runs))
    print(f"BENCH sql_guard ratio={ours / raw:.2f} goal=<=1.2 rows={args.rows}"
          f" ours_ms={ours * 1000:.1f} raw_ms={raw * 1000:.1f}"
          f" run_query_ms={whole * 1000:.1f}")


if __name__ == "__main__":
    main()
