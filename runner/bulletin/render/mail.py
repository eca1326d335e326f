"""The email: subject, plain-text body, optional HTML body with charts as inline (CID) images."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bulletin.render.columns import ColumnInfo, Formatter
from bulletin.render.templates import Templates

TEXT_ROWS = 10  # rows per table in the plain-text body
TEXT_CELL = 24  # widest cell in the plain-text body


@dataclass
class InlineImage:
    """An image the HTML body shows as ``<img src="cid:{cid}">``."""

    cid: str
    data: bytes
    filename: str
    alt: str
    content_type: str = "image/png"


@dataclass
class EmailContent:
    """What the email says; attachments are the report's artifacts."""

    subject: str
    text: str
    html: str | None = None
    inline_images: list[InlineImage] = field(default_factory=list)


@dataclass
class TextTable:
    """A table laid out in monospace lines for the plain-text body."""

    label: str
    total_text: str
    shown: int
    lines: list[str]


def text_table(label: str, columns: Sequence[ColumnInfo], rows: Sequence[Sequence[Any]],
               total: int, formatter: Formatter) -> TextTable:
    """The first rows as aligned text, numbers right-aligned."""
    shown = list(rows[:TEXT_ROWS])
    cells = [[_clip(formatter.format(c, r[i])) for i, c in enumerate(columns)] for r in shown]
    header = [_clip(c.label) for c in columns]
    widths = [max([len(header[i]), *(len(r[i]) for r in cells)]) for i in range(len(columns))]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if c.numeric else v.ljust(w)
                         for v, w, c in zip(values, widths, columns, strict=True)).rstrip()

    lines = [line(header), "  ".join("-" * w for w in widths)] + [line(r) for r in cells]
    return TextTable(label=label, total_text=formatter.number(total, 0), shown=len(shown),
                     lines=lines if shown else [])


def _clip(text: str) -> str:
    return text if len(text) <= TEXT_CELL else text[: TEXT_CELL - 1] + "…"


def one_line(text: str) -> str:
    """A header-safe single line (no CR/LF), at most 998 characters."""
    return " ".join(text.split())[:998]


def render_email(templates: Templates, context: Mapping[str, Any], *, html: bool,
                 images: Sequence[InlineImage]) -> EmailContent:
    """The report's subject (subject.txt), text.txt and, if ``html``, body.html. Delivery may
    replace the subject with spec.delivery.email.subject."""
    return EmailContent(
        subject=one_line(templates.render("subject.txt", context)),
        text=templates.render("text.txt", context),
        html=templates.render("body.html", context) if html else None,
        inline_images=list(images) if html else [],
    )
