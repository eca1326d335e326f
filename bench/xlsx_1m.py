"""XLSX, 1M rows x 10 columns: the report engine (build_report, XLSX only) against a raw
XlsxWriter constant_memory loop over the same rows. Goal: faster, RSS <= 100 MB.

--all also measures openpyxl (write-only) and rustpy-xlsxwriter, if installed, on the same rows:
the numbers behind writing SpreadsheetML directly (see bulletin/render/xlsx.py)."""

from __future__ import annotations

import argparse
import importlib.util

from _common import REPORT, child

RAW = """
import json, resource, time
import xlsxwriter
from _rows import COLUMNS, rows
t = time.perf_counter()
book = xlsxwriter.Workbook({out!r}, {{"constant_memory": True, "remove_timezone": True}})
sheet = book.add_worksheet("usage")
sheet.write_row(0, 0, COLUMNS[:{width}])
for r, row in enumerate(rows({n}, {width}), start=1):
    sheet.write_row(r, 0, row)
book.close()
print(json.dumps({{"run": time.perf_counter() - t,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""

OPENPYXL = """
import json, resource, time
import openpyxl
from _rows import COLUMNS, rows
t = time.perf_counter()
book = openpyxl.Workbook(write_only=True)
sheet = book.create_sheet("usage")
sheet.append(COLUMNS[:{width}])
for row in rows({n}, {width}):
    sheet.append([v.replace(tzinfo=None) if hasattr(v, "tzinfo") else v for v in row])
book.save({out!r})
print(json.dumps({{"run": time.perf_counter() - t,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""

RUSTPY = """
import json, resource, time
from rustpy_xlsxwriter import FastExcel
from _rows import COLUMNS, rows
cols = COLUMNS[:{width}]
t = time.perf_counter()
records = ({{c: (v.replace(tzinfo=None) if hasattr(v, "tzinfo") else v)
             for c, v in zip(cols, row)}} for row in rows({n}, {width}))
FastExcel({out!r}).sheet("usage", records).save()
print(json.dumps({{"run": time.perf_counter() - t,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""

OURS = """
from _rows import COLUMNS, rows
built, seconds = run(spec(["xlsx"]), {{"usage": {{"columns": COLUMNS[:{width}],
                                                 "rows": rows({n}, {width})}}}}, {out!r})
assert built.rows == {n}
print(json.dumps({{"run": seconds, "rss_mb": rss()}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--width", type=int, default=10)
    parser.add_argument("--all", action="store_true", help="also openpyxl and rustpy-xlsxwriter")
    args = parser.parse_args()
    n, width = args.rows, args.width
    ours = child(REPORT + OURS.format(n=n, width=width, out="/tmp/bench-xlsx_1m"))
    raw = child(RAW.format(n=n, width=width, out="/tmp/bench-raw.xlsx"))
    extra = ""
    if args.all:
        others = {"openpyxl": OPENPYXL, "rustpy_xlsxwriter": RUSTPY}
        for name, code in others.items():
            if importlib.util.find_spec(name):
                found = child(code.format(n=n, width=width, out=f"/tmp/bench-{name}.xlsx"))
                print(f"{name}: {found['run']:.2f}s, {found['peak_mb']:.0f} MB")
                extra += f" {name}_s={found['run']:.2f} {name}_rss_mb={found['peak_mb']:.0f}"
    ratio = ours["run"] / raw["run"]
    print(f"raw XlsxWriter constant_memory: {raw['run']:.2f}s, {raw['peak_mb']:.0f} MB; "
          f"build_report: {ours['run']:.2f}s, {ours['peak_mb']:.0f} MB")
    print(f"BENCH xlsx_1m ratio={ratio:.2f} goal=<1.0 rows={n} cols={width} "
          f"raw_s={raw['run']:.2f} ours_s={ours['run']:.2f} raw_rss_mb={raw['peak_mb']:.0f} "
          f"ours_rss_mb={ours['peak_mb']:.0f} rss_goal=<=100{extra}")


if __name__ == "__main__":
    main()
