"""What delivery needs from a built report (a Protocol), and a plain report made of files."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
