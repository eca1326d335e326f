"""Build a report: run each dataset's query once, streaming its rows into every requested format
(CSV, XLSX, a disk spool for the PDF), then render the PDF and the email.

Heavy libraries load only for the formats that need them: WeasyPrint for PDF, matplotlib for
charts (PDF and the HTML email). CSV and XLSX need neither. The parts live in bulletin.assembly.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bulletin.api.report import Format
from bulletin.api.spec import ReportScheduleSpec
from bulletin.assembly.context import draw, kpis, template_context
from bulletin.assembly.outputs import email_content, render_pdf
from bulletin.assembly.plan import CONTENT_TYPES, Artifact, Plan, ReportError
from bulletin.assembly.rows import collect
from bulletin.assembly.summary import summary_sheet
from bulletin.period import Period
from bulletin.render.charts import ChartError
from bulletin.render.kpis import Kpi
from bulletin.render.mail import EmailContent
from bulletin.render.pdf import Progress
from bulletin.render.templates import CUSTOM_KEYS

if TYPE_CHECKING:
    from bulletin.sources.prometheus import Prometheus


@dataclass
class BuiltReport:
    """Everything a run produced."""

    artifacts: list[Artifact]
    email: EmailContent
    rows: int
    bytes: int
    datasets: dict[str, int]  # rows per dataset
    kpis: list[Kpi] = field(default_factory=list)
    pages: int | None = None  # of the PDF


def build_report(spec: ReportScheduleSpec, *, schedule_name: str, namespace: str, period: Period,
                 db_url: str | None, outdir: Path, templates_dir: Path | None,
                 sample: Mapping[str, Any] | None = None,
                 progress: Progress | None = None,
                 params: Mapping[str, Any] | None = None,
                 prometheus: Prometheus | None = None) -> BuiltReport:
    """Query, render every format of ``spec.formats`` into ``outdir``, and compose the email.

    ``sample`` replaces the database: ``{"datasets": {name: rows}, "previous": {name: rows}}``
    where rows are a list of mappings (column -> value), or ``{"columns": [...], "rows":
    iterable of sequences}``, or for a promql dataset ``{"prometheus": a saved query_range
    reply}``. ``params`` are bound in every query besides the period's (a burst recipient's);
    sample and PromQL rows are then only those whose columns match them. ``prometheus`` runs
    the promql datasets. Raises a RenderError or a SourceError (bulletin.api.errors).
    """
    plan = Plan(spec, schedule_name, namespace, period, db_url, outdir, templates_dir, sample,
                progress, params)
    plan.prometheus = prometheus
    try:
        return _build(plan)
    except ChartError as exc:
        raise ChartError(f"spec.report.charts: {exc}") from exc


def _build(plan: Plan) -> BuiltReport:
    check(plan)
    plan.outdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".spool-", dir=plan.outdir) as spool_dir:
        collected, artifacts, book, sheets = collect(plan, Path(spool_dir))
        found_kpis = kpis(plan, collected)
        if book is not None:
            summary_sheet(plan, book, collected, found_kpis, sheets)
            book.close()
            artifacts.append(Artifact(book.path, "xlsx", CONTENT_TYPES["xlsx"]))
        charts = draw(plan, [s for c in collected for s in c.series])
        context = template_context(plan, collected, found_kpis, artifacts)
        pages = None
        if Format.PDF in plan.formats:
            pdf = plan.outdir / f"{plan.schedule_name}.pdf"
            pages = render_pdf(plan, pdf, collected, context, charts)
            artifacts.append(Artifact(pdf, "pdf", CONTENT_TYPES["pdf"]))
    email = email_content(plan, collected, context, charts)
    datasets = {c.dataset.name: c.rows for c in collected}
    return BuiltReport(artifacts=artifacts, email=email, rows=sum(datasets.values()),
                       bytes=sum(a.path.stat().st_size for a in artifacts),
                       datasets=datasets, kpis=found_kpis, pages=pages)


def check(plan: Plan) -> None:
    """Fail fast on broken custom templates and missing sources (references between fields
    are the model's: bulletin.api.datasetrefs)."""
    for name in CUSTOM_KEYS:
        if plan.templates.is_custom(name):
            plan.templates.check(name)
    if plan.sample is None and not plan.db_url and any(d.query for d in plan.spec.datasets):
        raise ReportError("no database URL: check spec.source.connectionSecretRef")
    if plan.sample is None and plan.prometheus is None and any(
            d.promql for d in plan.spec.datasets):
        raise ReportError("no Prometheus to query: check spec.source.prometheus")
