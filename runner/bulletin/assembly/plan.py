"""What every part of building one report shares: the spec's choices, and what a dataset pass
collected."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bulletin.api.errors import RenderError
from bulletin.api.report import Format
from bulletin.api.spec import Dataset, ReportScheduleSpec
from bulletin.period import Period
from bulletin.render.charts import ChartSeries
from bulletin.render.columns import ColumnInfo, Formatter
from bulletin.render.pdf import Progress
from bulletin.render.spool import SpoolWriter
from bulletin.render.templates import templates_for

if TYPE_CHECKING:
    from bulletin.sources.prometheus import Prometheus

CONTENT_TYPES = {
    "csv": "text/csv",
    "zip": "application/zip",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}


class ReportError(RenderError):
    """The report could not be built; the message is fit for users (status, Events)."""


@dataclass
class Artifact:
    """A produced file, attached to the email."""

    path: Path
    format: str  # csv, xlsx or pdf (a zip of CSV files is "csv")
    content_type: str


@dataclass
class Collected:
    """What one pass over a dataset kept."""

    dataset: Dataset
    columns: list[ColumnInfo]
    rows: int = 0
    head: list[tuple[Any, ...]] = field(default_factory=list)
    spool: SpoolWriter | None = None
    series: list[ChartSeries] = field(default_factory=list)


class Plan:
    """One report's settings, derived once from the spec."""

    def __init__(self, spec: ReportScheduleSpec, schedule_name: str, namespace: str,
                 period: Period, db_url: str | None, outdir: Path, templates_dir: Path | None,
                 sample: Mapping[str, Any] | None, progress: Progress | None,
                 params: Mapping[str, Any] | None = None) -> None:
        self.spec, self.report = spec, spec.report
        self.params: Mapping[str, Any] = params or {}  # a burst recipient's parameters
        self.schedule_name, self.namespace, self.period = schedule_name, namespace, period
        self.db_url, self.sample = db_url, sample
        self.prometheus: Prometheus | None = None  # spec.source.prometheus, set by build_report
        self.outdir = outdir
        self.progress: Progress = progress or (lambda _message: None)
        self.formats = set(spec.formats)
        self.tz = period.tz
        self.formatter = Formatter(language=self.report.language, tz=self.tz)
        self.templates = templates_for(templates_dir)
        self.title = self.report.title or schedule_name
        self.html_body = Format.HTML in self.formats or self.templates.is_custom("body.html")
        self.visual = Format.PDF in self.formats or self.html_body
        self.summary = self.report.summary_dataset
        tables = [d for d in spec.datasets if d.name != self.summary]
        self.main = tables[0].name if tables else None

    def tables(self, collected: list[Collected]) -> list[Collected]:
        """The datasets shown as tables (all but the summary dataset)."""
        return [c for c in collected if c.dataset.name != self.summary]


def period_label(start: datetime, end: datetime) -> str:
    """A period for people: first and last day joined by an en dash (the end is exclusive)."""
    return Period(start, end, start, end).label().replace("..", " \u2013 ")


def dataset_label(name: str) -> str:
    """A dataset name for people: ``daily_usage`` -> ``Daily usage``."""
    return name.replace("-", " ").replace("_", " ").capitalize()
