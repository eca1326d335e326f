"""PDF, ~500 pages: build_report (chunked rendering, streamed join, "page X of Y" stamped)
against rendering the same chunk HTML raw with WeasyPrint (HTML(string=...).write_pdf per chunk,
tagged the same way, no join), and the file size against one WeasyPrint pass over the whole
report. Goals: time <= 1.3x the raw chunks, size <= 1.2x one pass, peak RSS <= 400 MB.

One pass over a long table grows worse than linearly in WeasyPrint (100 pages take minutes and
most of a GB), so the size comparison renders --size-rows rows both ways: the same HTML, ours
still in several chunks. Times are CPU seconds of the one-threaded child (wall seconds are
shown too): on a shared machine they measure the work, not the neighbours."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _common import REPORT, child

OURS = """
import pickle
import bulletin.render.pdf as pdf
if {whole}:
    pdf.CHUNK_ROWS = 10 ** 9  # one WeasyPrint document
captured = []
original = pdf._html
def capture(templates, html, base_url):
    captured.append(html)
    return original(templates, html, base_url)
pdf._html = capture
from _rows import COLUMNS, rows
cpu = time.process_time()
built, seconds = run(spec(["pdf"], pdfRowLimit=1_000_000),
                     {{"usage": {{"columns": COLUMNS[:{width}], "rows": rows({n}, {width})}}}},
                     {out!r})
chunks = captured if len(captured) == 1 else captured[:len(captured) // 2]  # then the stamps
Path({html!r}).write_bytes(pickle.dumps(chunks))
print(json.dumps({{"run": seconds, "cpu": time.process_time() - cpu, "rss_mb": rss(),
                  "pages": built.pages, "chunks": len(chunks),
                  "size": (Path({out!r}) / "bench.pdf").stat().st_size}}))
"""

RAW = """
import json, pickle, resource, time
from pathlib import Path
import weasyprint
chunks = pickle.loads(Path({html!r}).read_bytes())
t, cpu = time.perf_counter(), time.process_time()
for n, html in enumerate(chunks):
    weasyprint.HTML(string=html).write_pdf({out!r} + f"-{{n}}.pdf", pdf_variant="pdf/ua-1")
print(json.dumps({{"run": time.perf_counter() - t, "cpu": time.process_time() - cpu,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def ours(tmp: Path, name: str, rows: int, width: int, whole: bool = False) -> dict:
    out, html = tmp / name, tmp / f"{name}.html.pickle"
    return child(REPORT + OURS.format(whole=whole, n=rows, width=width, out=str(out),
                                      html=str(html))) | {"html": html}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=22_000, help="about 45 rows per page")
    parser.add_argument("--size-rows", type=int, default=2_200,
                        help="rows for the size comparison against one WeasyPrint pass")
    parser.add_argument("--width", type=int, default=6)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-pdf-") as name:
        tmp = Path(name)
        big = ours(tmp, "ours", args.rows, args.width)
        raw = child(RAW.format(html=str(big["html"]), out=str(tmp / "raw")))
        small = ours(tmp, "small", args.size_rows, args.width)
        single = ours(tmp, "single", args.size_rows, args.width, whole=True)
    ratio = big["cpu"] / raw["cpu"]
    size_ratio = small["size"] / single["size"]
    mb = 1024 * 1024
    print(f"ours: {big['pages']} pages in {big['chunks']} chunks, {big['run']:.0f}s, "
          f"{big['size'] / mb:.1f} MB, peak {big['peak_mb']:.0f} MB; the same chunks raw: "
          f"{raw['run']:.0f}s (CPU {big['cpu']:.0f}s against {raw['cpu']:.0f}s). "
          f"Size at {small['pages']} pages: ours {small['size'] / mb:.2f} MB "
          f"({small['chunks']} chunks), one pass {single['size'] / mb:.2f} MB "
          f"({single['run']:.0f}s, peak {single['peak_mb']:.0f} MB)")
    print(f"BENCH pdf_500_pages ratio={ratio:.2f} goal=<=1.3 size_ratio={size_ratio:.2f} "
          f"size_goal=<=1.2 pages={big['pages']} ours_s={big['cpu']:.0f} raw_s={raw['cpu']:.0f} "
          f"size_mb={big['size'] / mb:.1f} size_pages={small['pages']} "
          f"ours_size_mb={small['size'] / mb:.2f} single_mb={single['size'] / mb:.2f} "
          f"rss_mb={big['peak_mb']:.0f} rss_goal=<=400")


if __name__ == "__main__":
    main()
