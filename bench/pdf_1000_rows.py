"""PDF, a 1,000-row report: build_report (PDF only: data, chart, template, tagged PDF/UA) against
raw weasyprint.HTML(string=...).write_pdf() on the same HTML, tagged the same way (pdf/ua-1).
Library imports happen before the clock starts on both sides (cold start is its own benchmark);
each side runs --repeat times, alternating, and the best time counts. Goal: ratio <= 1.2. The
raw untagged time is shown too."""

from __future__ import annotations

import argparse
from typing import Any

from _common import REPORT, child

OURS = """
import weasyprint
import matplotlib.pyplot
captured = []
original = weasyprint.HTML
def capture(*args, **kwargs):
    captured.append(kwargs.get("string", ""))
    return original(*args, **kwargs)
weasyprint.HTML = capture
from _rows import COLUMNS, rows
built, seconds = run(spec(["pdf"], pdfRowLimit=5000),
                     {{"usage": {{"columns": COLUMNS[:{width}], "rows": rows({n}, {width})}}}},
                     {out!r})
Path({html!r}).write_text(captured[0])
print(json.dumps({{"run": seconds, "rss_mb": rss(), "pages": built.pages,
                  "renders": len(captured)}}))
"""

RAW = """
import json, resource, time
from pathlib import Path
import weasyprint
html = Path({html!r}).read_text()
t = time.perf_counter()
weasyprint.HTML(string=html).write_pdf({out!r}{options})
print(json.dumps({{"run": time.perf_counter() - t,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--width", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    html = "/tmp/bench-report.html"
    runs: dict[str, list[dict[str, Any]]] = {"ours": [], "tagged": [], "plain": []}
    for _ in range(args.repeat):
        runs["ours"].append(child(REPORT + OURS.format(
            n=args.rows, width=args.width, out="/tmp/bench-pdf-ours", html=html)))
        runs["tagged"].append(child(RAW.format(html=html, out="/tmp/bench-raw.pdf",
                                               options=", pdf_variant='pdf/ua-1'")))
        runs["plain"].append(child(RAW.format(html=html, out="/tmp/bench-raw-plain.pdf",
                                              options="")))
    ours, tagged, plain = (min(runs[k], key=lambda r: r["run"]) for k in ("ours", "tagged",
                                                                            "plain"))
    assert ours["renders"] == 1, "a 1,000-row report renders in one piece"
    ratio = ours["run"] / tagged["run"]
    print(f"build_report: {ours['run']:.2f}s ({ours['pages']} pages, {ours['peak_mb']:.0f} MB); "
          f"raw tagged: {tagged['run']:.2f}s; raw untagged: {plain['run']:.2f}s")
    print(f"BENCH pdf_1000_rows ratio={ratio:.2f} goal=<=1.2 rows={args.rows} "
          f"pages={ours['pages']} ours_s={ours['run']:.2f} raw_tagged_s={tagged['run']:.2f} "
          f"raw_untagged_s={plain['run']:.2f} ratio_vs_untagged={ours['run'] / plain['run']:.2f} "
          f"ours_rss_mb={ours['peak_mb']:.0f} raw_rss_mb={tagged['peak_mb']:.0f}")


if __name__ == "__main__":
    main()
