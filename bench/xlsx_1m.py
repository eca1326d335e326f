"""XLSX, 1M rows x 10 columns: the report engine (build_report, XLSX only) against the floor,
raw XlsxWriter in constant_memory mode writing the same rows in a plain loop, each in a child
process. Goal: ours <= 1.1x the raw time with the same formatting, peak RSS <= 100 MB.

Times are CPU seconds of the child (all three are single-threaded), steadier than wall time on a
shared machine. The raw loop writes no number formats; "formatted" is the same loop with the
column formats the report writes (thousands separators, dates): the baseline, since the
report must write them (issue 23). ratio_unformatted keeps the plain loop's ratio."""

from __future__ import annotations

import argparse

from _common import REPORT, child

RAW = """
import json, resource, time
import xlsxwriter
from _rows import COLUMNS, rows
t = time.process_time()
book = xlsxwriter.Workbook({out!r}, {{"constant_memory": True, "remove_timezone": True}})
sheet = book.add_worksheet("usage")
for i, code in enumerate({formats!r}[:{width}]):
    if code:
        sheet.set_column(i, i, None, book.add_format({{"num_format": code}}))
sheet.write_row(0, 0, COLUMNS[:{width}])
for r, row in enumerate(rows({n}, {width}), start=1):
    sheet.write_row(r, 0, row)
book.close()
print(json.dumps({{"run": time.process_time() - t,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""

# The number formats build_report gives _rows.COLUMNS (see bulletin.render.xlsx.number_format).
FORMATS = ["#,##0", "yyyy-mm-dd", None, None, "#,##0", "#,##0.00", "#,##0.00", "#,##0.00",
           "yyyy-mm-dd hh:mm", None]

OURS = """
from _rows import COLUMNS, rows
cpu = time.process_time()
built, _wall = run(spec(["xlsx"]), {{"usage": {{"columns": COLUMNS[:{width}],
                                                 "rows": rows({n}, {width})}}}}, {out!r})
assert built.rows == {n}
print(json.dumps({{"run": time.process_time() - cpu, "rss_mb": rss()}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--width", type=int, default=10)
    args = parser.parse_args()
    n, width = args.rows, args.width
    raw = child(RAW.format(n=n, width=width, out="/tmp/bench-raw.xlsx", formats=[]))
    formatted = child(RAW.format(n=n, width=width, out="/tmp/bench-raw.xlsx", formats=FORMATS))
    ours = child(REPORT + OURS.format(n=n, width=width, out="/tmp/bench-xlsx_1m"))
    ratio = ours["run"] / formatted["run"]
    print(f"raw XlsxWriter constant_memory: {raw['run']:.2f}s, {raw['peak_mb']:.0f} MB; "
          f"with formats: {formatted['run']:.2f}s; build_report: {ours['run']:.2f}s, "
          f"{ours['peak_mb']:.0f} MB ({n} rows x {width}, CPU seconds)")
    print(f"BENCH xlsx_1m ratio={ratio:.2f} goal=<=1.1 rss_mb={ours['peak_mb']:.0f} rows={n} "
          f"ours_s={ours['run']:.2f} raw_s={raw['run']:.2f} formatted_s={formatted['run']:.2f} "
          f"ratio_unformatted={ours['run'] / raw['run']:.2f}")


if __name__ == "__main__":
    main()
