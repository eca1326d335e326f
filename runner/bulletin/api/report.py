"""How a report looks: formats, column types, KPIs, charts and templates (spec.report)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from bulletin.api.base import DNS_LABEL, OBJECT_NAME, ApiModel


class Format(StrEnum):
    """An output format of a report."""

    CSV = "csv"
    XLSX = "xlsx"
    PDF = "pdf"
    HTML = "html"


class ColumnType(StrEnum):
    """How a column's values are rendered in every format."""

    TEXT = "text"
    INTEGER = "integer"
    NUMBER = "number"
    MONEY = "money"
    PERCENT = "percent"
    DATE = "date"
    DATETIME = "datetime"
    BOOLEAN = "boolean"


class Column(ApiModel):
    """Type and label of a result column; columns not listed are typed from the database."""

    name: Annotated[str, Field(min_length=1, max_length=256, description="Column name.")]
    type: Annotated[ColumnType | None, Field(description="Value type; default inferred.")] = None
    label: Annotated[str | None, Field(max_length=256, description="Header text.")] = None
    currency: Annotated[
        str | None,
        Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code for money columns, e.g. EUR."),
    ] = None
    decimals: Annotated[
        int | None, Field(ge=0, le=10, description="Decimal places for numbers.")
    ] = None


class ChartKind(StrEnum):
    """A chart type."""

    BAR = "bar"
    LINE = "line"
    PIE = "pie"


class Chart(ApiModel):
    """A chart drawn from a dataset."""

    kind: Annotated[ChartKind, Field(description="bar, line or pie.")]
    dataset: Annotated[str, Field(pattern=DNS_LABEL, description="Dataset to plot.")]
    x: Annotated[str, Field(min_length=1, max_length=256,
                            description="Column for the x axis (or pie labels).")]
    y: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=256)]],
        Field(min_length=1, max_length=8, description="Value column(s) to plot."),
    ]
    title: Annotated[str | None, Field(max_length=200, description="Chart title.")] = None


class ConfigMapRef(ApiModel):
    """A ConfigMap in the ReportSchedule's namespace."""

    name: Annotated[str, Field(min_length=1, max_length=253, pattern=OBJECT_NAME,
                               description="ConfigMap name.")]


class Report(ApiModel):
    """Presentation of the report. Everything is optional: the built-in template is used."""

    title: Annotated[
        str | None, Field(max_length=200, description="Report title; default the schedule name.")
    ] = None
    language: Annotated[
        str, Field(pattern=r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$",
                   description="BCP 47 document language, e.g. en or de-CH.")
    ] = "en"
    columns: Annotated[
        dict[str, Annotated[list[Column], Field(max_length=200)]] | None,
        Field(max_length=20, description="Column types per dataset name; other columns are"
              " typed from the DB."),
    ] = None
    summary_dataset: Annotated[
        str | None,
        Field(pattern=DNS_LABEL,
              description="Dataset whose single row holds the KPIs, compared with the previous"
              " period (the same query run for :previous_start..:previous_end)."),
    ] = None
    charts: Annotated[
        list[Chart], Field(max_length=10, description="Charts in the PDF and HTML email.")
    ] = []
    table_rows: Annotated[
        int, Field(ge=1, le=1000, description="Rows per table in the HTML email (top N).")
    ] = 20
    pdf_row_limit: Annotated[
        int,
        Field(ge=1, le=1_000_000,
              description="Above this many rows a PDF shows the first rows and points to the"
              " XLSX/CSV for the rest."),
    ] = 5000
    csv_bom: Annotated[
        bool, Field(description="Write CSV as UTF-8 with BOM, for Excel.")
    ] = False
    csv_formula_escaping: Annotated[
        bool,
        Field(description="Prefix CSV text cells that start with =, +, -, @, tab or CR with"
              " ' so spreadsheets show them instead of running them as formulas (CSV"
              " injection). Numbers stay numbers. Default on; turn off only for machine"
              " consumers that need the raw text."),
    ] = True
    template_config_map_ref: Annotated[
        ConfigMapRef | None,
        Field(description="ConfigMap with custom Jinja2 templates: report.html (PDF/HTML),"
              " subject.txt and body.html (email). Missing keys use the built-ins."),
    ] = None
