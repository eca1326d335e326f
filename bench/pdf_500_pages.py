"""PDF, ~500 pages: peak RSS of build_report (chunked rendering, streamed join) against the same
report rendered by WeasyPrint in one piece, which is stopped at a time or memory cap.
Goal: ours <= 400 MB; the raw figure shows what one piece costs."""

from __future__ import annotations

import argparse

from _common import REPORT, child

RUN = """
import bulletin.render.pdf as pdf
if {whole}:
    pdf.CHUNK_ROWS = 10 ** 9  # one WeasyPrint document: the raw way
from _rows import COLUMNS, rows
built, seconds = run(spec(["pdf"], pdfRowLimit=1_000_000),
                     {{"usage": {{"columns": COLUMNS[:{width}], "rows": rows({n}, {width})}}}},
                     {out!r})
print(json.dumps({{"run": seconds, "rss_mb": rss(), "pages": built.pages}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=22_000, help="about 45 rows per page")
    parser.add_argument("--width", type=int, default=6)
    parser.add_argument("--raw-timeout", type=float, default=45.0)
    parser.add_argument("--raw-cap-mb", type=float, default=3000.0)
    args = parser.parse_args()
    ours = child(REPORT + RUN.format(whole=False, n=args.rows, width=args.width,
                                     out="/tmp/bench-pdf_500_pages"))
    raw = child(REPORT + RUN.format(whole=True, n=args.rows, width=args.width,
                                    out="/tmp/bench-raw"),
                timeout=args.raw_timeout, poll_cap_mb=args.raw_cap_mb)
    raw_state = raw["killed"] or f"finished in {raw['seconds']:.0f}s"
    print(f"chunked: {ours['pages']} pages in {ours['run']:.0f}s, peak {ours['peak_mb']:.0f} MB; "
          f"one piece: peak {raw['peak_mb']:.0f} MB ({raw_state})")
    print(f"BENCH pdf_500_pages ratio={ours['peak_mb'] / max(raw['peak_mb'], 1):.2f} "
          f"goal=ours_rss<=400MB pages={ours['pages']} ours_rss_mb={ours['peak_mb']:.0f} "
          f"ours_s={ours['run']:.0f} raw_rss_mb={raw['peak_mb']:.0f} "
          f"raw={raw_state.replace(' ', '_')}")


if __name__ == "__main__":
    main()
