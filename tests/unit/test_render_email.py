"""The email body: semantic HTML with inline styles and a language, charts as CID images with
text alternatives, and a plain-text alternative."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest
from bulletin.report import BuiltReport
from report_support import build, make_spec, sample


class Tags(HTMLParser):
    """Start tags with their attributes, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> BuiltReport:
    spec = make_spec(formats=["html", "csv"], report={"tableRows": 5, "language": "de"})
    return build(tmp_path_factory.mktemp("email"), spec, sample=sample(rows=12))


def test_html_body_is_semantic_and_styled_inline(built: BuiltReport) -> None:
    html = built.email.html
    assert html is not None
    parser = Tags()
    parser.feed(html)
    tags = parser.tags
    assert tags[0] == ("html", {"lang": "de"})
    assert "<style" not in html  # mail clients drop style elements: everything is inline
    headers = [a for t, a in tags if t == "th"]
    assert headers and all(a.get("scope") == "col" for a in headers)
    assert all(a.get("style") for t, a in tags if t in ("td", "th", "p", "h1", "h2"))
    assert "<caption" in html and "Usage (first 5 of 12 rows)" in html
    assert html.count("border-bottom:1px solid #dde3ea") == 5 * 4  # top-5 rows, 4 columns
    assert "1.200" in html  # German digit grouping for the KPI


def test_charts_are_inline_png_images_with_alt_text(built: BuiltReport) -> None:
    images = built.email.inline_images
    assert len(images) == 1
    image = images[0]
    assert image.data.startswith(b"\x89PNG") and image.content_type == "image/png"
    parser = Tags()
    parser.feed(built.email.html or "")
    imgs = [a for t, a in parser.tags if t == "img"]
    assert imgs == [{"src": f"cid:{image.cid}", "alt": image.alt, "width": "584",
                     "style": imgs[0]["style"]}]
    assert image.alt.startswith("Line chart, Requests by day, 7 points")


def test_plain_text_alternative(built: BuiltReport) -> None:
    text = built.email.text
    assert text.startswith("Weekly usage\nPeriod 2026-01-05 \u2013 2026-01-11 (Europe/Berlin)")
    assert "- Requests: 1.200 (▲ up 20,0\u00a0% from 1.000)" in text
    assert "Usage: 12 rows, the first 10:" in text
    assert "Attached: weekly-usage.zip." in text
    assert "<" not in text


def test_csv_only_email_has_no_html(tmp_path: Path) -> None:
    built = build(tmp_path, make_spec(formats=["csv"]))
    assert built.email.html is None and built.email.inline_images == []
