"""The run archive's query for 90 days of an hourly schedule (issue 21: under 100 ms).

A real PostgreSQL (tests/devstack, on loopback) holds 90 days of hourly runs (2,160) of the
schedule asked for and of --others schedules beside it (each run a realistic record: an email
and an archive delivery, recipients, object keys). Ours: bulletin.archive's Archive.runs of
the schedule since 90 days ago, newest first, every record parsed back into the status
models (what the console's and the plugin's history show). Raw: psycopg's plain SELECT of
the same rows in the same order on one open connection (ours keeps one in its pool), the
JSON left as text. One warm-up each, then --runs
timed runs, alternating; medians. Goal: ours under 100 ms.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "runner")]

from bulletin.archive.store import Archive  # noqa: E402
from devstack.postgres import Postgres  # noqa: E402

RUNS_90D = 90 * 24
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _entry(name: str, n: int) -> dict[str, Any]:
    start = NOW - timedelta(hours=n, minutes=-1)
    stamp = start.strftime("%Y-%m-%dT%H:%M:%SZ")
    key = f"team-a/{name}/2026/05/{name}-{n:05d}/sales.csv"
    return {"runId": f"{name}-{n:05d}", "trigger": "Scheduled", "scheduledTime": stamp,
            "startTime": stamp, "endTime": (start + timedelta(seconds=42)).strftime(
                "%Y-%m-%dT%H:%M:%SZ"), "periodStart": stamp, "periodEnd": stamp,
            "result": "Succeeded", "rows": 1200 + n, "bytes": 64_000 + n,
            "recipients": ["team@example.com", "lead@example.com"],
            "deliveries": [{"target": "archive", "state": "Sent", "attempts": 1,
                            "objectKeys": [key]},
                           {"target": "email", "state": "Sent", "attempts": 1,
                            "recipients": ["team@example.com", "lead@example.com"]}]}


def _fill(archive: Archive, others: int) -> None:
    for name in ["hourly", *(f"other-{i}" for i in range(others))]:
        rows = [_entry(name, n) for n in range(RUNS_90D)]
        for first in range(0, len(rows), 500):
            archive.write("team-a", name, rows[first:first + 500], now=NOW)
    with archive.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE bulletin_runs")


def _raw(conn: Any, since: datetime) -> int:
    rows = conn.execute(
        "SELECT record, object_keys FROM bulletin_runs WHERE namespace = %s AND schedule = %s"
        " AND start_time >= %s ORDER BY start_time DESC, run_id DESC",
        ("team-a", "hourly", since.replace(tzinfo=None))).fetchall()
    return len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--others", type=int, default=20, help="other schedules' runs beside")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bulletin-bench-pg-", dir="/tmp"))
    root.chmod(0o755)
    server = Postgres(root / "cluster").start()
    try:
        archive = Archive(server.url)
        archive.create()
        _fill(archive, args.others)
        since = NOW - timedelta(days=90)
        import psycopg

        conn = psycopg.connect(server.url)  # one connection, as ours keeps one in its pool
        ours_ms, raw_ms, count = [], [], 0
        for n in range(args.runs + 1):
            begin = time.perf_counter()
            count = len(archive.runs("team-a", "hourly", since, limit=RUNS_90D))
            middle = time.perf_counter()
            raw = _raw(conn, since)
            end = time.perf_counter()
            assert count == raw == RUNS_90D, (count, raw)
            if n:  # the first is the warm-up
                ours_ms.append((middle - begin) * 1000)
                raw_ms.append((end - middle) * 1000)
        ours, base = statistics.median(ours_ms), statistics.median(raw_ms)
        print(f"BENCH archive_90d ratio={ours / base:.2f} goal=ms<100 ms={ours:.1f}"
              f" raw_ms={base:.1f} runs={count}")
        conn.close()
        archive.engine.dispose()
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
