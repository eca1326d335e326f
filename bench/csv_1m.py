"""CSV, 1M rows: the report engine (build_report, CSV only) against a raw csv.writer loop over
the same rows. Goal: ratio <= 1.5 and RSS <= baseline + 50 MB."""

from __future__ import annotations

import argparse

from _common import REPORT, child

RAW = """
import csv, json, resource, time
from _rows import COLUMNS, rows
t = time.perf_counter()
with open({out!r}, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(COLUMNS)
    for row in rows({n}, {width}):
        w.writerow(row)
print(json.dumps({{"run": time.perf_counter() - t,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""

OURS = """
from _rows import COLUMNS, rows
built, seconds = run(spec(["csv"]), {{"usage": {{"columns": COLUMNS[:{width}],
                                                "rows": rows({n}, {width})}}}}, {out!r})
assert built.rows == {n}
assert not any(m in sys.modules for m in ("weasyprint", "openpyxl", "matplotlib"))
print(json.dumps({{"run": seconds, "rss_mb": rss()}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--width", type=int, default=10)
    args = parser.parse_args()
    n, width = args.rows, args.width
    raw = child(RAW.format(n=n, width=width, out="/tmp/bench-raw.csv"))
    ours = child(REPORT + OURS.format(n=n, width=width, out="/tmp/bench-csv_1m"))
    ratio = ours["run"] / raw["run"]
    print(f"raw csv.writer: {raw['run']:.2f}s, {raw['peak_mb']:.0f} MB; "
          f"build_report: {ours['run']:.2f}s, {ours['peak_mb']:.0f} MB")
    print(f"BENCH csv_1m ratio={ratio:.2f} goal=<=1.5 rows={n} cols={width} "
          f"raw_s={raw['run']:.2f} ours_s={ours['run']:.2f} raw_rss_mb={raw['peak_mb']:.0f} "
          f"ours_rss_mb={ours['peak_mb']:.0f} rss_goal=<={raw['peak_mb'] + 50:.0f}")


if __name__ == "__main__":
    main()
