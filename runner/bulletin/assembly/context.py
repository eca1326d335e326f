"""The template context every output renders from: period, KPIs, datasets, attachments,
and the charts drawn once for the PDF (SVG) and the email (PNG)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from bulletin.api.report import Format
from bulletin.assembly.plan import (
    Artifact,
    Collected,
    Plan,
    dataset_label,
    period_label,
)
from bulletin.assembly.rows import dataset_rows
from bulletin.period import compute
from bulletin.render.charts import ChartSeries
from bulletin.render.kpis import Kpi, compute_kpis
from bulletin.render.mail import text_table


def kpis(plan: Plan, collected: Sequence[Collected]) -> list[Kpi]:
    """The summary dataset's KPIs, compared with the previous period (queried here)."""
    summary = next((c for c in collected if c.dataset.name == plan.summary), None)
    if summary is None:
        return []
    before = compute(plan.spec.period_kind(), plan.period.start, plan.tz)
    with dataset_rows(plan, summary.dataset, before.params(), previous=True) as (_names, rows):
        previous = next(rows, None)  # a QueryError gets its dataset from dataset_rows
    current = summary.head[0] if summary.head else None
    return compute_kpis(summary.columns, current, previous, plan.formatter)


def draw(plan: Plan, series: Sequence[ChartSeries]) -> list[Any]:
    """Every chart, as SVG for the PDF and PNG for the email as the formats need."""
    if not series:
        return []
    from bulletin.render.charts import draw as draw_chart

    drawn = []
    for n, one in enumerate(series):
        chart = draw_chart(one, plan.formatter, svg=Format.PDF in plan.formats,
                           png=plan.html_body)
        chart.cid = f"chart-{n + 1}@bulletin"
        drawn.append(chart)
    plan.progress(f"charts: {len(drawn)} drawn")
    return drawn


def kpi_columns(count: int) -> int:
    """KPI tiles per row in the email: all of up to four, else rows of three or four."""
    if count <= 4:
        return max(count, 1)
    return 3 if count % 3 == 0 else 4


def template_context(plan: Plan, collected: list[Collected], kpis: list[Kpi],
                     artifacts: Sequence[Artifact]) -> dict[str, Any]:
    """The variables of report.html, body.html and subject.txt."""
    period, fmt = plan.period, plan.formatter
    attachments = [a.path.name for a in artifacts]
    if Format.PDF in plan.formats:
        attachments.append(f"{plan.schedule_name}.pdf")
    widest = max((len(c.columns) for c in plan.tables(collected)), default=0)
    return {
        "title": plan.title,
        "language": plan.report.language,
        "schedule": plan.schedule_name,
        "namespace": plan.namespace,
        "time_zone": plan.period.time_zone,
        "period": {"label": period_label(period.start, period.end),
                   "start": period.start.isoformat(), "end": period.end.isoformat(),
                   "previous_label": period_label(period.previous_start, period.previous_end),
                   "previous_start": period.previous_start.isoformat(),
                   "previous_end": period.previous_end.isoformat()},
        "generated_at": datetime.now(UTC).astimezone(plan.tz).strftime("%Y-%m-%d %H:%M %Z"),
        "kpis": kpis,
        "kpi_columns": kpi_columns(len(kpis)),
        "datasets": [{"name": c.dataset.name, "label": dataset_label(c.dataset.name),
                      "rows": c.rows, "rows_text": fmt.number(c.rows, 0)} for c in collected],
        "attachments": attachments,
        "labels": {"page_of": "page {page} of {pages}"},
        "landscape": widest > 6,
        "charts": [],
        "tables": [],
        "text_tables": [text_table(dataset_label(c.dataset.name), c.columns, c.head, c.rows,
                                   fmt) for c in plan.tables(collected)],
    }
