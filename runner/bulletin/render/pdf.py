"""PDF output with WeasyPrint: a tagged PDF (PDF/UA-1) from the report.html template.

Small reports render in one go. Larger ones render in chunks of at most ``chunk_rows`` table
rows, each its own WeasyPrint document written to a temporary file and released; the chunks are
then joined by streaming (bulletin.render.pdfjoin), and "page X of Y" is stamped on every page
once Y is known. Peak memory is that of one chunk, whatever the page count.
"""

from __future__ import annotations

import gc
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from bulletin.render.columns import ColumnInfo, Formatter
from bulletin.render.fetch import template_fetcher
from bulletin.render.spool import read_spool
from bulletin.render.templates import TemplateFailure, Templates, builtin_dir

PDF_VARIANT = "pdf/ua-1"
CHUNK_ROWS = 1000
Progress = Callable[[str], None]


@dataclass
class TableSource:
    """A dataset's rows for the PDF: the spooled first ``shown`` of ``total`` rows."""

    name: str
    label: str
    columns: list[ColumnInfo]
    total: int
    shown: int
    spool: Path | None
    note: str | None = None  # said under the table, e.g. where the rest of the data is


@dataclass
class TableView:
    """A table (or a part of one) as report.html sees it."""

    name: str
    label: str
    columns: list[ColumnInfo]
    rows: Iterable[list[str]]
    total: int
    shown: int
    note: str | None
    continued: bool = False  # an earlier part was in a previous chunk
    ends: bool = True  # the table's last part
    numeric: list[bool] = field(default_factory=list)
    widths: list[float] = field(default_factory=list)  # percent of the table width
    total_text: str = ""  # total, formatted


def column_widths(columns: Sequence[ColumnInfo], sample: Sequence[Sequence[str]]) -> list[float]:
    """Column widths in percent from the header and the longest values of ``sample``, so the
    table can use the fixed layout (much faster in WeasyPrint than the automatic one)."""
    wanted = []
    for i, column in enumerate(columns):
        longest = max((len(row[i]) for row in sample), default=0)
        wanted.append(min(max(longest, len(column.label), 4), 40) + 2)
    total = sum(wanted) or 1
    return [round(100 * w / total, 2) for w in wanted]


def _formatted(source: TableSource, formatter: Formatter) -> Iterator[list[str]]:
    if source.spool is None:
        return iter(())
    fmt = formatter.row_formatter(source.columns)
    return (fmt(row) for row in islice(read_spool(source.spool), source.shown))


def plan_chunks(tables: Sequence[TableSource], formatter: Formatter,
                chunk_rows: int) -> list[list[TableView]]:
    """Tables split so that no chunk holds more than ``chunk_rows`` rows."""
    chunks: list[list[TableView]] = [[]]
    used = 0
    for source in tables:
        widths = column_widths(source.columns, list(islice(_formatted(source, formatter), 200)))
        rows = _formatted(source, formatter)
        numeric = [c.numeric for c in source.columns]
        start = 0
        while True:
            if used >= chunk_rows and source.shown > start:
                chunks.append([])
                used = 0
            take = min(source.shown - start, chunk_rows - used)
            chunks[-1].append(TableView(
                name=source.name, label=source.label, columns=source.columns,
                rows=islice(rows, take), total=source.total, shown=source.shown,
                note=source.note, continued=start > 0, ends=start + take >= source.shown,
                numeric=numeric, widths=widths, total_text=formatter.number(source.total, 0)))
            start += take
            used += take
            if start >= source.shown:
                break
    return chunks


def tag_table_headers(document: Any, pdf: Any) -> None:
    """WeasyPrint finisher: give every /TH structure element a /Scope (Column in a THead)."""
    objects = pdf.objects

    def parent(obj: Any) -> Any:
        reference = obj.get("P")
        return objects[int(reference.split()[0])] if isinstance(reference, bytes) else {}

    for obj in objects:
        if isinstance(obj, dict) and obj.get("S") == "/TH" and isinstance(obj.get("A"), dict):
            row = parent(obj)
            obj["A"]["Scope"] = "/Column" if parent(row).get("S") == "/THead" else "/Row"


def render_pdf(path: Path, *, templates: Templates, context: Mapping[str, Any],
               tables: Sequence[TableSource], formatter: Formatter,
               chunk_rows: int | None = None, progress: Progress | None = None) -> int:
    """Render report.html to ``path`` in chunks of ``chunk_rows`` (default CHUNK_ROWS) table
    rows; returns the page count."""
    from weasyprint.urls import FatalURLFetchingError

    try:
        return _render(path, templates, context, tables, formatter, chunk_rows, progress)
    except FatalURLFetchingError as exc:
        raise TemplateFailure(f"template report.html: {exc}") from None


def _html(templates: Templates, html: str, base_url: str | None) -> Any:
    """A WeasyPrint document source that may load only data: URIs and template files."""
    import weasyprint

    roots = [root for root in (templates.custom, builtin_dir()) if root is not None]
    return weasyprint.HTML(string=html, base_url=base_url, url_fetcher=template_fetcher(roots))


def _render(path: Path, templates: Templates, context: Mapping[str, Any],
            tables: Sequence[TableSource], formatter: Formatter, chunk_rows: int | None,
            progress: Progress | None) -> int:
    chunks = plan_chunks(tables, formatter, chunk_rows or CHUNK_ROWS)
    base_url = str(templates.custom or "") or None
    if len(chunks) == 1:
        html = templates.render("report.html", {**context, "tables": chunks[0],
                                                "chunk": _chunk(0, 1)})
        document = _html(templates, html, base_url).render()
        document.write_pdf(path, pdf_variant=PDF_VARIANT, finisher=tag_table_headers)
        return len(document.pages)
    with tempfile.TemporaryDirectory(prefix="bulletin-pdf-", dir=path.parent) as tmp:
        parts: list[tuple[Path, int]] = []
        for n, views in enumerate(chunks):
            html = templates.render("report.html", {**context, "tables": views,
                                                    "chunk": _chunk(n, len(chunks))})
            document = _html(templates, html, base_url).render()
            part = Path(tmp) / f"chunk-{n}.pdf"
            document.write_pdf(part, pdf_variant=PDF_VARIANT, finisher=tag_table_headers)
            parts.append((part, len(document.pages)))
            del document, html
            gc.collect()
            if progress:
                progress(f"pdf: chunk {n + 1} of {len(chunks)} rendered, "
                         f"{sum(p for _, p in parts)} pages so far")
        total = sum(pages for _, pages in parts)
        _join(path, parts, total, templates, context, Path(tmp), progress)
        return total


def _chunk(number: int, count: int) -> dict[str, Any]:
    return {"number": number, "first": number == 0, "last": number == count - 1,
            "stamped": count > 1}


def _join(path: Path, parts: Sequence[tuple[Path, int]], total: int, templates: Templates,
          context: Mapping[str, Any], tmp: Path, progress: Progress | None) -> None:
    """Join the chunks, stamping "page X of Y" rendered from pagenumbers.html."""
    from bulletin.render.pdfjoin import PdfJoiner

    joiner = PdfJoiner(path)
    first = 1
    for n, (part, pages) in enumerate(parts):
        labels = [context["labels"]["page_of"].format(page=first + i, pages=total)
                  for i in range(pages)]
        html = templates.render("pagenumbers.html", {**context, "page_labels": labels})
        overlay = tmp / f"numbers-{n}.pdf"
        _html(templates, html, None).write_pdf(overlay)
        joiner.add(part, overlay)
        part.unlink()
        overlay.unlink()
        first += pages
        if progress:
            progress(f"pdf: joined {first - 1} of {total} pages")
    joiner.close(title=str(context.get("title", "")))
