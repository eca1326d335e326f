"""Runner cold start, CSV only: process start until the CSV is written (build_report on a SQLite
database), against `python -c "import <only what it needs>"`: the standard library parts, the
database layer, Jinja2 for the email, the API models every run validates the spec with, and
sqlglot, whose parser checks every query before it runs (issue 19's read-only wall).
Goal: ratio <= 1.3, and neither WeasyPrint nor openpyxl (nor matplotlib) imported."""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT

NEEDED = "import csv, sqlite3, zoneinfo, sqlalchemy, jinja2, sqlglot, bulletin.api.spec"

RUN = """
import json, sys
from datetime import datetime, UTC
from pathlib import Path
from bulletin.api.spec import ReportScheduleSpec
from bulletin.period import compute
from bulletin.report import build_report
from bulletin.schedule import zone
spec = ReportScheduleSpec.model_validate({{
    "schedule": {{"daily": {{"at": "09:00"}}, "timeZone": "Europe/Berlin"}},
    "source": {{"connectionSecretRef": {{"name": "db", "key": "url"}}}},
    "datasets": [{{"name": "usage", "query": "SELECT * FROM usage"}}], "formats": ["csv"],
    "delivery": {{"email": {{"smtpSecretRef": {{"name": "s"}}, "to": ["a@b.c"]}}}}}})
period = compute(spec.period_kind(), datetime.now(UTC), zone(spec.schedule))
built = build_report(spec, schedule_name="s", namespace="n", period=period,
                     db_url={url!r}, outdir=Path({out!r}), templates_dir=None)
heavy = [m for m in ("weasyprint", "openpyxl", "matplotlib") if m in sys.modules]
print(json.dumps({{"heavy": heavy, "rows": built.rows}}))
"""


def timed(args: list[str]) -> tuple[float, str]:
    env = {"PYTHONPATH": str(ROOT / "runner"), "PATH": "/usr/bin:/bin"}
    start = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, check=True, env=env)
    return time.perf_counter() - start, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "data.db"
        with sqlite3.connect(db) as conn:
            conn.execute("CREATE TABLE usage (day TEXT, user_name TEXT, requests INT)")
            conn.executemany("INSERT INTO usage VALUES (?, ?, ?)",
                             [(f"2026-01-{d:02d}", f"user-{u}", d * u) for d in range(1, 8)
                              for u in range(5)])
        code = RUN.format(url=f"sqlite:///{db}", out=tmp)
        ours, base, heavy = [], [], None
        for _ in range(args.runs):  # interleaved, so background load hits both alike
            seconds, out = timed([sys.executable, "-c", code])
            ours.append(seconds)
            heavy = json.loads(out.splitlines()[-1])["heavy"]
            base.append(timed([sys.executable, "-c", NEEDED])[0])
    ours_s, base_s = statistics.median(ours), statistics.median(base)
    print(f"CSV run: {ours_s:.2f}s; `python -c \"{NEEDED}\"`: {base_s:.2f}s (medians of "
          f"{args.runs}); heavy modules imported: {heavy or 'none'}")
    print(f"BENCH cold_start ratio={ours_s / base_s:.2f} goal=<=1.3 ours_s={ours_s:.3f} "
          f"baseline_s={base_s:.3f} heavy_imports={','.join(heavy or []) or 'none'}")


if __name__ == "__main__":
    main()
