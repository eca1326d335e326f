"""The PDF's tables (from the spool) and the email's tables, charts and body."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bulletin.assembly.plan import Collected, Plan, dataset_label
from bulletin.render.mail import EmailContent, InlineImage, render_email


def render_pdf(plan: Plan, path: Path, collected: list[Collected], context: dict[str, Any],
               charts: Sequence[Any]) -> int:
    """The PDF at ``path``: the context, the SVG charts and every table; its page count."""
    from bulletin.render.pdf import TableSource
    from bulletin.render.pdf import render_pdf as render

    full = [n for n in context["attachments"] if not n.endswith(".pdf")]
    fmt = plan.formatter
    sources = []
    for found in plan.tables(collected):
        shown = found.spool.count if found.spool else 0
        note = None
        if found.rows > shown:
            where = (f"The full data is in {' and '.join(full)} (attached)." if full else
                     "The full data is not attached: add csv or xlsx to spec.formats.")
            note = (f"Showing the first {fmt.number(shown, 0)} of "
                    f"{fmt.number(found.rows, 0)} rows. {where}")
        sources.append(TableSource(
            name=found.dataset.name, label=dataset_label(found.dataset.name),
            columns=found.columns, total=found.rows, shown=shown,
            spool=found.spool.path if found.spool else None, note=note))
    pdf_context = {**context, "charts": [c for c in charts if c.svg]}
    pages = render(path, templates=plan.templates, context=pdf_context, tables=sources,
                   formatter=fmt, progress=plan.progress)
    plan.progress(f"pdf: {pages} pages")
    return pages


def email_content(plan: Plan, collected: list[Collected], context: dict[str, Any],
                  charts: Sequence[Any]) -> EmailContent:
    """The email body: HTML tables of each dataset's head (when HTML), PNG charts inline."""
    tables = []
    if plan.html_body:
        from bulletin.render.pdf import TableView

        limit = plan.report.table_rows
        for found in plan.tables(collected):
            fmt = plan.formatter.row_formatter(found.columns)
            tables.append(TableView(
                name=found.dataset.name, label=dataset_label(found.dataset.name),
                columns=found.columns, rows=[fmt(r) for r in found.head[:limit]],
                total=found.rows, shown=min(limit, found.rows), note=None,
                numeric=[c.numeric for c in found.columns],
                total_text=plan.formatter.number(found.rows, 0)))
    email_charts = [c for c in charts if c.png]
    images = [InlineImage(cid=c.cid, data=c.png, filename=f"chart-{n + 1}.png", alt=c.alt)
              for n, c in enumerate(email_charts)]
    return render_email(plan.templates, {**context, "tables": tables, "charts": email_charts},
                        html=plan.html_body, images=images)
