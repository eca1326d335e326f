"""What delivery needs from a built report (a Protocol), and a plain report made of files."""

from __future__ import annotations

import html
import mimetypes
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bulletin.deliver.retry import Permanent
from bulletin.period import Period


class ArtifactLike(Protocol):
    """A report file."""

    @property
    def path(self) -> Path: ...
    @property
    def content_type(self) -> str: ...


class InlineImageLike(Protocol):
    """An image the HTML body shows with <img src="cid:...">."""

    @property
    def cid(self) -> str: ...
    @property
    def data(self) -> bytes: ...
    @property
    def content_type(self) -> str: ...


class EmailContentLike(Protocol):
    """The rendered email: subject, plain text and HTML bodies."""

    @property
    def subject(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def html(self) -> str | None: ...
    @property
    def inline_images(self) -> Sequence[InlineImageLike]: ...


class KpiLike(Protocol):
    """A key figure, formatted for display (bulletin.render.kpis.Kpi fits)."""

    @property
    def label(self) -> str: ...
    @property
    def value_text(self) -> str: ...
    @property
    def change_text(self) -> str: ...


class ReportLike(Protocol):
    """What delivery needs from a built report (bulletin.report.BuiltReport fits)."""

    @property
    def artifacts(self) -> Sequence[ArtifactLike]: ...
    @property
    def email(self) -> EmailContentLike: ...
    @property
    def kpis(self) -> Sequence[KpiLike]: ...
    @property
    def rows(self) -> int: ...
    @property
    def datasets(self) -> Mapping[str, int]: ...


@dataclass(frozen=True)
class FileArtifact:
    """A report file with its content type guessed from the name."""

    path: Path
    content_type: str


@dataclass(frozen=True)
class PlainEmail:
    """Email content without inline images."""

    subject: str
    text: str
    html: str | None
    inline_images: Sequence[InlineImageLike] = ()


@dataclass(frozen=True)
class FilesReport:
    """A report that is just files: what the runner has before the report engine is wired."""

    artifacts: Sequence[FileArtifact]
    email: PlainEmail
    rows: int
    datasets: Mapping[str, int] = field(default_factory=dict)
    kpis: Sequence[KpiLike] = ()


def files_report(title: str, period: Period, time_zone: str, files: Sequence[Path],
                 rows: int) -> FilesReport:
    """A FilesReport with a short built-in email: title, period, rows and the files."""
    label = period.label()
    names = ", ".join(p.name for p in files)
    text = (f"{title} for {label} ({time_zone}).\n"
            f"{rows} rows in {len(files)} file(s): {names}.\n")
    body = (f"<html><body><h1>{html.escape(title)}</h1>"
            f"<p>{html.escape(label)} ({html.escape(time_zone)})</p>"
            f"<p>{rows} rows in {len(files)} file(s): {html.escape(names)}.</p></body></html>")
    artifacts = [FileArtifact(p, mimetypes.guess_type(p.name)[0] or "application/octet-stream")
                 for p in files]
    return FilesReport(artifacts=artifacts, email=PlainEmail(f"{title}: {label}", text, body),
                       rows=rows)


def template_vars(*, title: str, namespace: str, schedule: str, run_id: str, period: Period,
                  report: ReportLike) -> dict[str, Any]:
    """Variables of the email subject template."""
    return {
        "title": title, "namespace": namespace, "schedule": schedule, "runId": run_id,
        "period": {"label": period.label(), "start": period.start, "end": period.end},
        "rows": report.rows,
        "kpis": [kpi_doc(k) for k in report.kpis],
    }


def kpi_doc(kpi: KpiLike) -> dict[str, str | None]:
    """A KPI as template variables and webhook JSON: label, value and change (texts)."""
    return {"label": kpi.label, "value": kpi.value_text, "change": kpi.change_text or None}


def render_subject(template: str, variables: Mapping[str, Any]) -> str:
    """Render spec.delivery.email.subject; a template error is a permanent failure."""
    from bulletin.render.templates import TemplateFailure, render_string

    try:
        subject = render_string(template, variables, "spec.delivery.email.subject")
    except TemplateFailure as exc:
        raise Permanent(str(exc)) from exc
    return " ".join(subject.split())[:998]
