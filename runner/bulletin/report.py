"""Build a report: run each dataset's query once, streaming its rows into every requested format
(CSV, XLSX, a disk spool for the PDF), then render the PDF and the email.

Heavy libraries load only for the formats that need them: WeasyPrint for PDF, matplotlib for
charts (PDF and the HTML email). CSV and XLSX need neither.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bulletin.api.report import Chart, Format
from bulletin.api.spec import Dataset, ReportScheduleSpec
from bulletin.period import Period, compute
from bulletin.query import QueryError, QueryLimits, run_query
from bulletin.render.charts import ChartError, ChartSeries, default_chart, series_for
from bulletin.render.columns import ColumnInfo, Formatter, resolve_columns, unknown_columns
from bulletin.render.kpis import Kpi, compute_kpis
from bulletin.render.mail import (
    TEXT_ROWS,
    EmailContent,
    InlineImage,
    TextTable,
    render_email,
    text_table,
)
from bulletin.render.spool import BATCH, SpoolWriter
from bulletin.render.templates import CUSTOM_KEYS, TemplateFailure, Templates

if TYPE_CHECKING:  # imported lazily at run time: only the formats a run needs
    from bulletin.render.csv import CsvOutput
    from bulletin.render.xlsx import Workbook

__all__ = ["Artifact", "BuiltReport", "EmailContent", "InlineImage", "Kpi", "ReportError",
           "build_report"]

Progress = Callable[[str], None]
PROGRESS_EVERY = 100_000  # rows between progress messages
CONTENT_TYPES = {
    "csv": "text/csv",
    "zip": "application/zip",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}


class ReportError(RuntimeError):
    """The report could not be built; the message is fit for users (status, Events)."""


@dataclass
class Artifact:
    """A produced file, attached to the email."""

    path: Path
    format: str  # csv, xlsx or pdf (a zip of CSV files is "csv")
    content_type: str


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


@dataclass
class _Collected:
    """What one pass over a dataset kept."""

    dataset: Dataset
    columns: list[ColumnInfo]
    rows: int = 0
    head: list[tuple[Any, ...]] = field(default_factory=list)
    spool: SpoolWriter | None = None
    series: list[ChartSeries] = field(default_factory=list)


def build_report(spec: ReportScheduleSpec, *, schedule_name: str, namespace: str, period: Period,
                 db_url: str | None, outdir: Path, templates_dir: Path | None,
                 sample: Mapping[str, Any] | None = None,
                 progress: Progress | None = None) -> BuiltReport:
    """Query, render every format of ``spec.formats`` into ``outdir``, and compose the email.

    ``sample`` replaces the database: ``{"datasets": {name: rows}, "previous": {name: rows}}``
    where rows are a list of mappings (column -> value), or ``{"columns": [...], "rows":
    iterable of sequences}``. Raises ReportError.
    """
    try:
        return _Builder(spec, schedule_name, namespace, period, db_url, outdir, templates_dir,
                        sample, progress).build()
    except TemplateFailure as exc:
        raise ReportError(str(exc)) from exc
    except ChartError as exc:
        raise ReportError(f"spec.report.charts: {exc}") from exc


class _Builder:
    def __init__(self, spec: ReportScheduleSpec, schedule_name: str, namespace: str,
                 period: Period, db_url: str | None, outdir: Path, templates_dir: Path | None,
                 sample: Mapping[str, Any] | None, progress: Progress | None) -> None:
        self.spec, self.report = spec, spec.report
        self.schedule_name, self.namespace, self.period = schedule_name, namespace, period
        self.db_url, self.sample = db_url, sample
        self.outdir = outdir
        self.progress = progress or (lambda _message: None)
        self.formats = set(spec.formats)
        self.tz = ZoneInfo(spec.schedule.time_zone)
        self.formatter = Formatter(language=self.report.language, tz=self.tz)
        self.templates = Templates(templates_dir)
        self.title = self.report.title or schedule_name
        self.html_body = Format.HTML in self.formats or self.templates.is_custom("body.html")
        self.visual = Format.PDF in self.formats or self.html_body
        self.summary = self.report.summary_dataset
        tables = [d for d in spec.datasets if d.name != self.summary]
        self.main = tables[0].name if tables else None

    def build(self) -> BuiltReport:
        self._check()
        self.outdir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".spool-", dir=self.outdir) as spool_dir:
            collected, artifacts, book, sheets = self._collect(Path(spool_dir))
            kpis = self._kpis(collected)
            if book is not None:
                self._summary_sheet(book, collected, kpis, sheets)
                book.close()
                artifacts.append(Artifact(book.path, "xlsx", CONTENT_TYPES["xlsx"]))
            charts = self._draw([s for c in collected for s in c.series])
            context = self._context(collected, kpis, artifacts)
            pages = None
            if Format.PDF in self.formats:
                pdf = self.outdir / f"{self.schedule_name}.pdf"
                pages = self._pdf(pdf, collected, context, charts)
                artifacts.append(Artifact(pdf, "pdf", CONTENT_TYPES["pdf"]))
        email = self._email(collected, context, charts)
        datasets = {c.dataset.name: c.rows for c in collected}
        return BuiltReport(artifacts=artifacts, email=email, rows=sum(datasets.values()),
                           bytes=sum(a.path.stat().st_size for a in artifacts),
                           datasets=datasets, kpis=kpis, pages=pages)

    def _check(self) -> None:
        """Fail fast on references to unknown datasets and on broken custom templates."""
        names = [d.name for d in self.spec.datasets]
        if self.summary and self.summary not in names:
            raise ReportError(f"spec.report.summaryDataset: no dataset {self.summary!r}"
                              f" (datasets: {', '.join(names)})")
        for chart in self.report.charts:
            if chart.dataset not in names:
                raise ReportError(f"spec.report.charts: no dataset {chart.dataset!r}"
                                  f" (datasets: {', '.join(names)})")
        for name in CUSTOM_KEYS:
            if self.templates.is_custom(name):
                self.templates.check(name)
        if self.sample is None and not self.db_url:
            raise ReportError("no database URL: check spec.source.connectionSecretRef")

    # -- one streaming pass per dataset -------------------------------------------------------

    def _collect(self, spool_dir: Path) -> tuple[
            list[_Collected], list[Artifact], Workbook | None, dict[str, list[str]]]:
        from bulletin.render.csv import CsvOutput

        names = [d.name for d in self.spec.datasets]
        csv_out = (CsvOutput(self.outdir, self.schedule_name, names, self.report.csv_bom,
                             self.report.csv_formula_escaping)
                   if Format.CSV in self.formats else None)
        book: Workbook | None = None
        if Format.XLSX in self.formats:
            from bulletin.render.xlsx import Workbook

            book = Workbook(self.outdir / f"{self.schedule_name}.xlsx", title=self.title,
                            tz=self.tz, formatter=self.formatter)
        collected = []
        sheets: dict[str, list[str]] = {}
        try:
            for dataset in self.spec.datasets:
                found = self._pass(dataset, spool_dir, csv_out, book, sheets)
                collected.append(found)
                self.progress(f"{dataset.name}: {found.rows:,} rows")
        finally:
            if csv_out is not None:
                csv_out.close()
        artifacts = []
        if csv_out is not None:
            artifacts += [Artifact(p, "csv", CONTENT_TYPES[p.suffix[1:]]) for p in csv_out.paths]
        return collected, artifacts, book, sheets

    def _pass(self, dataset: Dataset, spool_dir: Path, csv_out: CsvOutput | None,
              book: Workbook | None, sheets: dict[str, list[str]]) -> _Collected:
        declared = (self.report.columns or {}).get(dataset.name)
        with self._rows(dataset, self.period.params(), previous=False) as (names, rows):
            missing = unknown_columns(names, declared)
            if missing:
                raise ReportError(f"spec.report.columns[{dataset.name}]: the query returns no"
                                  f" column(s) {', '.join(missing)} (it returns"
                                  f" {', '.join(names)})")
            found = _Collected(dataset, resolve_columns(names, declared))
            if Format.PDF in self.formats and dataset.name != self.summary:
                found.spool = SpoolWriter(spool_dir / f"{dataset.name}.pickle",
                                          self.report.pdf_row_limit)
            charts = [c for c in self.report.charts if c.dataset == dataset.name]
            if self.visual:
                found.series = [series_for(c, found.columns) for c in charts]
            with self._sinks(dataset, found, csv_out, book, sheets) as sinks:
                self._stream(rows, found, sinks)
        if found.spool is not None:
            found.spool.close()
        return found

    @contextmanager
    def _sinks(self, dataset: Dataset, found: _Collected, csv_out: CsvOutput | None,
               book: Workbook | None, sheets: dict[str, list[str]]
               ) -> Iterator[list[Callable[[list[Any]], None]]]:
        sinks: list[Callable[[list[Any]], None]] = []
        xlsx = None
        if book is not None:
            from bulletin.render.xlsx import DatasetSheets

            xlsx = DatasetSheets(book, dataset.name, found.columns)
            sinks.append(xlsx.write)
        if found.spool is not None:
            sinks.append(found.spool.write)
        if csv_out is None:
            yield sinks
        else:
            with csv_out.dataset(dataset.name, found.columns) as writer:
                sinks.insert(0, writer.write)
                yield sinks
        if xlsx is not None:
            xlsx.close()
            sheets[dataset.name] = xlsx.names

    def _stream(self, rows: Iterator[tuple[Any, ...]], found: _Collected,
                sinks: Sequence[Callable[[list[Any]], None]]) -> None:
        columns = found.columns
        unresolved = [i for i, c in enumerate(columns) if c.type is None]
        head_limit = self._head_limit(found)
        next_report = PROGRESS_EVERY
        while True:
            try:
                batch = list(islice(rows, BATCH))
            except QueryError as exc:
                raise ReportError(f"dataset {found.dataset.name!r}: query failed: {exc}") from exc
            if not batch:
                break
            if unresolved:
                for i in unresolved:
                    for row in batch:
                        if row[i] is not None:
                            columns[i].observe(row[i])
                            break
                unresolved = [i for i in unresolved if columns[i].type is None]
            for sink in sinks:
                sink(batch)
            if len(found.head) < head_limit:
                found.head.extend(batch[: head_limit - len(found.head)])
            if found.rows == 0:
                self._default_chart(found)
            for series in found.series:
                series.add(batch)
            found.rows += len(batch)
            if found.rows >= next_report:
                self.progress(f"{found.dataset.name}: {found.rows:,} rows…")
                next_report += PROGRESS_EVERY

    def _head_limit(self, found: _Collected) -> int:
        if found.dataset.name == self.summary:
            return 1
        return max(TEXT_ROWS, self.report.table_rows if self.html_body else 0)

    def _default_chart(self, found: _Collected) -> None:
        """The built-in chart, on the main dataset, when the manifest declares none."""
        if self.report.charts or not self.visual or found.dataset.name != self.main:
            return
        chart: Chart | None = default_chart(found.dataset.name, found.columns)
        if chart is not None:
            found.series.append(series_for(chart, found.columns))

    @contextmanager
    def _rows(self, dataset: Dataset, params: Mapping[str, Any], *, previous: bool
              ) -> Iterator[tuple[list[str], Iterator[tuple[Any, ...]]]]:
        """The dataset's columns and rows, from the database or the sample data."""
        if self.sample is not None:
            yield _sample_rows(self.sample, dataset.name, previous)
            return
        assert self.db_url is not None
        try:
            with run_query(self.db_url, dataset.query, params, self.spec.schedule.time_zone,
                           QueryLimits.of(self.spec.source)) as result:
                yield result.columns, result.rows
        except QueryError as exc:
            raise ReportError(f"dataset {dataset.name!r}: query failed: {exc}") from exc

    # -- KPIs, charts, context ----------------------------------------------------------------

    def _kpis(self, collected: Sequence[_Collected]) -> list[Kpi]:
        summary = next((c for c in collected if c.dataset.name == self.summary), None)
        if summary is None:
            return []
        before = compute(self.spec.period_kind(), self.period.start, self.tz)
        with self._rows(summary.dataset, before.params(), previous=True) as (_names, rows):
            try:
                previous = next(rows, None)
            except QueryError as exc:
                raise ReportError(f"dataset {summary.dataset.name!r} (previous period): query"
                                  f" failed: {exc}") from exc
        current = summary.head[0] if summary.head else None
        return compute_kpis(summary.columns, current, previous, self.formatter)

    def _draw(self, series: Sequence[ChartSeries]) -> list[Any]:
        if not series:
            return []
        from bulletin.render.charts import draw

        drawn = []
        for n, one in enumerate(series):
            chart = draw(one, self.formatter, svg=Format.PDF in self.formats, png=self.html_body)
            chart.cid = f"chart-{n + 1}@bulletin"
            drawn.append(chart)
        self.progress(f"charts: {len(drawn)} drawn")
        return drawn

    def _context(self, collected: Sequence[_Collected], kpis: list[Kpi],
                 artifacts: Sequence[Artifact]) -> dict[str, Any]:
        period = self.period
        fmt = self.formatter
        attachments = [a.path.name for a in artifacts]
        if Format.PDF in self.formats:
            attachments.append(f"{self.schedule_name}.pdf")
        widest = max((len(c.columns) for c in collected if c.dataset.name != self.summary),
                     default=0)
        return {
            "title": self.title,
            "language": self.report.language,
            "schedule": self.schedule_name,
            "namespace": self.namespace,
            "time_zone": self.spec.schedule.time_zone,
            "period": {"label": _label(period.start, period.end),
                       "start": period.start.isoformat(), "end": period.end.isoformat(),
                       "previous_label": _label(period.previous_start, period.previous_end),
                       "previous_start": period.previous_start.isoformat(),
                       "previous_end": period.previous_end.isoformat()},
            "generated_at": datetime.now(UTC).astimezone(self.tz).strftime("%Y-%m-%d %H:%M %Z"),
            "kpis": kpis,
            "kpi_columns": _kpi_columns(len(kpis)),
            "datasets": [{"name": c.dataset.name, "label": _label_of(c.dataset.name),
                          "rows": c.rows, "rows_text": fmt.number(c.rows, 0)} for c in collected],
            "attachments": attachments,
            "labels": {"page_of": "page {page} of {pages}"},
            "landscape": widest > 6,
            "charts": [],
            "tables": [],
            "text_tables": [self._text_table(c) for c in collected
                            if c.dataset.name != self.summary],
        }

    def _text_table(self, found: _Collected) -> TextTable:
        return text_table(_label_of(found.dataset.name), found.columns, found.head, found.rows,
                          self.formatter)

    # -- PDF and email ------------------------------------------------------------------------

    def _pdf(self, path: Path, collected: Sequence[_Collected], context: dict[str, Any],
             charts: Sequence[Any]) -> int:
        from bulletin.render.pdf import TableSource, render_pdf

        full = [n for n in context["attachments"] if not n.endswith(".pdf")]
        sources = []
        for found in collected:
            if found.dataset.name == self.summary:
                continue
            shown = found.spool.count if found.spool else 0
            note = None
            if found.rows > shown:
                where = (f"The full data is in {' and '.join(full)} (attached)." if full else
                         "The full data is not attached: add csv or xlsx to spec.formats.")
                note = (f"Showing the first {self.formatter.number(shown, 0)} of "
                        f"{self.formatter.number(found.rows, 0)} rows. {where}")
            sources.append(TableSource(
                name=found.dataset.name, label=_label_of(found.dataset.name),
                columns=found.columns, total=found.rows, shown=shown,
                spool=found.spool.path if found.spool else None, note=note))
        pdf_context = {**context, "charts": [c for c in charts if c.svg]}
        pages = render_pdf(path, templates=self.templates, context=pdf_context, tables=sources,
                           formatter=self.formatter, progress=self.progress)
        self.progress(f"pdf: {pages} pages")
        return pages

    def _email(self, collected: Sequence[_Collected], context: dict[str, Any],
               charts: Sequence[Any]) -> EmailContent:
        tables = []
        if self.html_body:
            from bulletin.render.pdf import TableView

            limit = self.report.table_rows
            for found in collected:
                if found.dataset.name == self.summary:
                    continue
                fmt = self.formatter.row_formatter(found.columns)
                tables.append(TableView(
                    name=found.dataset.name, label=_label_of(found.dataset.name),
                    columns=found.columns, rows=[fmt(r) for r in found.head[:limit]],
                    total=found.rows, shown=min(limit, found.rows), note=None,
                    numeric=[c.numeric for c in found.columns],
                    total_text=self.formatter.number(found.rows, 0)))
        email_charts = [c for c in charts if c.png]
        images = [InlineImage(cid=c.cid, data=c.png, filename=f"chart-{n + 1}.png", alt=c.alt)
                  for n, c in enumerate(email_charts)]
        return render_email(self.templates, {**context, "tables": tables, "charts": email_charts},
                            html=self.html_body, images=images)

    def _summary_sheet(self, book: Workbook, collected: Sequence[_Collected], kpis: Sequence[Kpi],
                       sheets: Mapping[str, list[str]]) -> None:
        """The XLSX Summary sheet: the report, its period, KPIs and rows per dataset."""
        from bulletin.api.report import ColumnType

        headers = ["Item", "Value", "Previous period", "Change", "Change %"]
        sheet = book.sheet("Summary", [ColumnInfo(h, label=h) for h in headers], first=True,
                           autofilter=False)
        sheet.widths = [30, 22, 22, 16, 12]
        cell = book.cell
        ratio = ColumnInfo("ratio", type=ColumnType.PERCENT)
        period = self.period
        rows = [
            [cell("Report", None), cell(self.title, None)],
            [cell("Period", None), cell(_label(period.start, period.end), None),
             cell(_label(period.previous_start, period.previous_end), None)],
            [cell("Time zone", None), cell(self.spec.schedule.time_zone, None)],
            [cell("Generated", None),
             cell(datetime.now(UTC).astimezone(self.tz).replace(tzinfo=None), None)],
            [],
        ]
        summary = next((c for c in collected if c.dataset.name == self.summary), None)
        columns = {c.name: c for c in summary.columns} if summary else {}
        for kpi in kpis:
            column = columns[kpi.name]
            rows.append([cell(kpi.label, None), cell(kpi.value, column),
                         cell(kpi.previous, column),
                         cell(kpi.change, column), cell(kpi.ratio, ratio)])
        if kpis:
            rows.append([])
        for found in collected:
            rows.append([cell(f"Rows in {found.dataset.name}", None), cell(found.rows, None),
                         cell("sheet " + ", ".join(sheets.get(found.dataset.name, [])), None)])
        sheet.write_cells(rows)
        sheet.close()


def _label(start: datetime, end: datetime) -> str:
    """A period for people: first and last day joined by an en dash (the end is exclusive)."""
    return Period(start, end, start, end).label().replace("..", " \u2013 ")


def _kpi_columns(count: int) -> int:
    """KPI tiles per row in the email: all of up to four, else rows of three or four."""
    if count <= 4:
        return max(count, 1)
    return 3 if count % 3 == 0 else 4


def _label_of(name: str) -> str:
    return name.replace("-", " ").replace("_", " ").capitalize()


def _sample_rows(sample: Mapping[str, Any], name: str, previous: bool
                 ) -> tuple[list[str], Iterator[tuple[Any, ...]]]:
    """Columns and rows of dataset ``name`` in sample data (see build_report)."""
    section = sample.get("previous" if previous else "datasets") or {}
    if not previous and name not in section:
        raise ReportError(f"sample data has no dataset {name!r}"
                          f" (it has {', '.join(section) or 'none'})")
    records = section.get(name) or []
    if isinstance(records, Mapping) and "columns" in records:
        return list(records["columns"]), (tuple(r) for r in records.get("rows") or ())
    if not isinstance(records, list) or not all(isinstance(r, Mapping) for r in records):
        raise ReportError(f"sample data for {name!r}: expected a list of mappings"
                          " (column: value), or a mapping with columns and rows")
    columns: list[str] = []
    for record in records:
        columns.extend(k for k in record if k not in columns)
    return columns, (tuple(r.get(c) for c in columns) for r in records)
