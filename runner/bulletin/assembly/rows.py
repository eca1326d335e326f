"""Rows collection: one streaming pass per dataset, from the database or sample data, into
every sink a run asked for (CSV, XLSX, the PDF spool), keeping a head and chart series."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import tzinfo
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bulletin.api.report import Chart, Format
from bulletin.api.spec import Dataset
from bulletin.assembly.plan import CONTENT_TYPES, Artifact, Collected, Plan, ReportError
from bulletin.query import QueryError, QueryLimits, run_query
from bulletin.render.charts import default_chart, series_for
from bulletin.render.columns import resolve_columns, unknown_columns
from bulletin.render.mail import TEXT_ROWS
from bulletin.render.spool import BATCH, SpoolWriter

if TYPE_CHECKING:  # imported lazily at run time: only the formats a run needs
    from bulletin.render.csv import CsvOutput
    from bulletin.render.xlsx import Workbook

PROGRESS_EVERY = 100_000  # rows between progress messages
Sink = Callable[[list[Any]], None]


@contextmanager
def dataset_rows(plan: Plan, dataset: Dataset, params: Mapping[str, Any], *, previous: bool
                 ) -> Iterator[tuple[list[str], Iterator[tuple[Any, ...]]]]:
    """The dataset's columns and rows, from the database or the sample data."""
    if plan.sample is not None:
        columns, rows = sample_rows(plan.sample, dataset.name, previous, plan.tz)
        yield columns, _matching(columns, rows, plan.params)
        return
    if dataset.promql is not None:
        columns, rows = promql_rows(plan, dataset, params)
        yield columns, _matching(columns, rows, plan.params)
        return
    assert plan.db_url is not None and dataset.query is not None
    try:
        with run_query(plan.db_url, dataset.query, {**params, **plan.params},
                       plan.period.time_zone,
                       QueryLimits.of(plan.spec.source)) as result:
            yield result.columns, result.rows
    except QueryError as exc:  # also one raised while the caller reads the rows
        when = " (previous period)" if previous else ""
        raise QueryError(f"dataset {dataset.name!r}{when}: query failed: {exc}") from exc


def _matching(columns: Sequence[str], rows: Iterator[tuple[Any, ...]],
              params: Mapping[str, Any]) -> Iterator[tuple[Any, ...]]:
    """Sample rows for a burst recipient: those whose columns named like a parameter hold
    its value (as text, since sample files and databases type values differently)."""
    checks = [(columns.index(k), str(v)) for k, v in params.items() if k in columns]
    return (r for r in rows if all(str(r[i]) == v for i, v in checks))


def promql_rows(plan: Plan, dataset: Dataset, params: Mapping[str, Any]
                ) -> tuple[list[str], Iterator[tuple[Any, ...]]]:
    """The dataset's PromQL over the period in ``params``, from spec.source.prometheus."""
    from bulletin.sources.prometheus import PrometheusError

    assert plan.prometheus is not None and dataset.promql is not None
    try:
        columns, rows = plan.prometheus.rows(dataset.promql, dataset.step,
                                             params["period_start"], params["period_end"],
                                             plan.tz)
    except PrometheusError as exc:
        raise PrometheusError(f"dataset {dataset.name!r}: PromQL failed: {exc}") from exc
    unmatched = [k for k in plan.params if k not in columns]
    if unmatched:  # PromQL binds no parameters: a burst narrows its rows by label instead
        raise ReportError(f"dataset {dataset.name!r}: a burst recipient's rows are those whose"
                          f" labels equal their parameters, but the result has no label"
                          f" {', '.join(unmatched)} (keep it, e.g. sum by ({unmatched[0]}))")
    return columns, rows


def collect(plan: Plan, spool_dir: Path) -> tuple[
        list[Collected], list[Artifact], Workbook | None, dict[str, list[str]]]:
    """One pass over every dataset: what each kept, the CSV artifacts, the open workbook and
    the sheet names per dataset."""
    from bulletin.render.csv import CsvOutput

    report = plan.report
    names = [d.name for d in plan.spec.datasets]
    csv_out = (CsvOutput(plan.outdir, plan.schedule_name, names, report.csv_bom,
                         report.csv_formula_escaping)
               if Format.CSV in plan.formats else None)
    book: Workbook | None = None
    if Format.XLSX in plan.formats:
        from bulletin.render.xlsx import Workbook

        book = Workbook(plan.outdir / f"{plan.schedule_name}.xlsx", title=plan.title,
                        tz=plan.tz, formatter=plan.formatter)
    collected = []
    sheets: dict[str, list[str]] = {}
    try:
        for dataset in plan.spec.datasets:
            found = _pass(plan, dataset, spool_dir, csv_out, book, sheets)
            collected.append(found)
            plan.progress(f"{dataset.name}: {found.rows:,} rows")
    finally:
        if csv_out is not None:
            csv_out.close()
    artifacts = []
    if csv_out is not None:
        artifacts += [Artifact(p, "csv", CONTENT_TYPES[p.suffix[1:]]) for p in csv_out.paths]
    return collected, artifacts, book, sheets


def _pass(plan: Plan, dataset: Dataset, spool_dir: Path, csv_out: CsvOutput | None,
          book: Workbook | None, sheets: dict[str, list[str]]) -> Collected:
    declared = (plan.report.columns or {}).get(dataset.name)
    with dataset_rows(plan, dataset, plan.period.params(), previous=False) as (names, rows):
        missing = unknown_columns(names, declared)
        if missing:
            raise ReportError(f"spec.report.columns[{dataset.name}]: the query returns no"
                              f" column(s) {', '.join(missing)} (it returns"
                              f" {', '.join(names)})")
        found = Collected(dataset, resolve_columns(names, declared))
        if Format.PDF in plan.formats and dataset.name != plan.summary:
            found.spool = SpoolWriter(spool_dir / f"{dataset.name}.pickle",
                                      plan.report.pdf_row_limit)
        charts = [c for c in plan.report.charts if c.dataset == dataset.name]
        if plan.visual:
            found.series = [series_for(c, found.columns) for c in charts]
        with _sinks(dataset, found, csv_out, book, sheets) as sinks:
            _stream(plan, rows, found, sinks)
    if found.spool is not None:
        found.spool.close()
    return found


@contextmanager
def _sinks(dataset: Dataset, found: Collected, csv_out: CsvOutput | None,
           book: Workbook | None, sheets: dict[str, list[str]]) -> Iterator[list[Sink]]:
    sinks: list[Sink] = []
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


def _stream(plan: Plan, rows: Iterator[tuple[Any, ...]], found: Collected,
            sinks: Sequence[Sink]) -> None:
    columns = found.columns
    unresolved = [i for i, c in enumerate(columns) if c.type is None]
    head_limit = _head_limit(plan, found)
    next_report = PROGRESS_EVERY
    while True:
        batch = list(islice(rows, BATCH))  # a QueryError gets its dataset from dataset_rows
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
            _default_chart(plan, found)
        for series in found.series:
            series.add(batch)
        found.rows += len(batch)
        if found.rows >= next_report:
            plan.progress(f"{found.dataset.name}: {found.rows:,} rows…")
            next_report += PROGRESS_EVERY


def _head_limit(plan: Plan, found: Collected) -> int:
    if found.dataset.name == plan.summary:
        return 1
    return max(TEXT_ROWS, plan.report.table_rows if plan.html_body else 0)


def _default_chart(plan: Plan, found: Collected) -> None:
    """The built-in chart, on the main dataset, when the manifest declares none."""
    if plan.report.charts or not plan.visual or found.dataset.name != plan.main:
        return
    chart: Chart | None = default_chart(found.dataset.name, found.columns)
    if chart is not None:
        found.series.append(series_for(chart, found.columns))


def sample_rows(sample: Mapping[str, Any], name: str, previous: bool, tz: tzinfo
                ) -> tuple[list[str], Iterator[tuple[Any, ...]]]:
    """Columns and rows of dataset ``name`` in sample data (see build_report)."""
    section = sample.get("previous" if previous else "datasets") or {}
    if not previous and name not in section:
        raise ReportError(f"sample data has no dataset {name!r}"
                          f" (it has {', '.join(section) or 'none'})")
    records = section.get(name) or []
    if isinstance(records, Mapping) and "prometheus" in records:
        from bulletin.sources.prometheus import PrometheusError, saved_rows

        try:
            return saved_rows(records["prometheus"], tz)
        except (PrometheusError, TypeError, ValueError) as exc:
            raise ReportError(f"sample data for {name!r}: prometheus: {exc}") from exc
    if isinstance(records, Mapping) and "columns" in records:
        return list(records["columns"]), (tuple(r) for r in records.get("rows") or ())
    if not isinstance(records, list) or not all(isinstance(r, Mapping) for r in records):
        raise ReportError(f"sample data for {name!r}: expected a list of mappings"
                          " (column: value), or a mapping with columns and rows")
    columns: list[str] = []
    for record in records:
        columns.extend(k for k in record if k not in columns)
    return columns, (tuple(r.get(c) for c in columns) for r in records)
