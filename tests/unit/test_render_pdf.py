"""PDF output: text, page numbers, repeated headers and PDF/UA tags, read back with pdfplumber
and pypdf; chunked rendering is joined into one consistent document."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pdfplumber
import pytest
from bulletin.render import pdf as pdf_module
from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject
from report_support import build, make_spec, sample


def structure(path: Path) -> tuple[Counter[str], list[Any], list[str], PdfReader]:
    """Counts of structure types, the /TH elements and the figures' /Alt texts."""
    reader = PdfReader(path)
    counts: Counter[str] = Counter()
    headers: list[Any] = []
    alts: list[str] = []
    trailer: Any = reader.trailer
    stack: list[Any] = [trailer["/Root"]["/StructTreeRoot"].raw_get("/K")]
    while stack:
        node = stack.pop().get_object()
        if isinstance(node, ArrayObject):
            stack.extend(node)
            continue
        if not isinstance(node, DictionaryObject) or "/S" not in node:
            continue
        kind = str(node["/S"])
        counts[kind] += 1
        if kind == "/TH":
            headers.append(node)
        if kind == "/Figure" and "/Alt" in node:
            alts.append(str(node["/Alt"]))
        kids = node.raw_get("/K") if "/K" in node else None
        if kids is not None and not isinstance(kids, int):
            stack.append(kids)
    return counts, headers, alts, reader


def page_texts(path: Path) -> list[str]:
    with pdfplumber.open(path) as doc:
        return [page.extract_text() or "" for page in doc.pages]


@pytest.fixture(scope="module")
def report_pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pdf")
    spec = make_spec(formats=["pdf", "xlsx"])
    built = build(out, spec, sample=sample(rows=90))
    assert built.pages is not None and built.pages >= 2
    return out / "weekly-usage.pdf"


def test_pdf_text_has_title_kpis_chart_caption_and_numbered_pages(report_pdf: Path) -> None:
    texts = page_texts(report_pdf)
    first = texts[0]
    assert "Weekly usage" in first
    assert "Period 2026-01-05 \u2013 2026-01-11 (Europe/Berlin)" in first
    assert "€99.50" in first and "▼ down 9.5" in first
    assert "Line chart, Requests by day" in first
    for n, text in enumerate(texts, start=1):
        assert f"page {n} of {len(texts)}" in text
        assert "Day User name Requests Cost" in text  # the header repeats on every page
    assert "2026-01-11 alice 106 9.00" in "\n".join(texts)


def test_pdf_is_tagged_with_language_title_headings_and_table_headers(report_pdf: Path) -> None:
    counts, headers, alts, reader = structure(report_pdf)
    root: Any = reader.trailer["/Root"]
    assert bool(root["/MarkInfo"]["/Marked"])
    assert root["/Lang"] == "en"
    assert root["/ViewerPreferences"]["/DisplayDocTitle"]
    assert reader.metadata is not None and reader.metadata.title == "Weekly usage"
    assert counts["/H1"] == 1 and counts["/H2"] >= 2
    assert counts["/Table"] >= 1 and counts["/TR"] > 90 and counts["/TD"] >= 90 * 4
    assert headers and {h["/A"]["/Scope"] for h in headers} == {"/Column"}
    assert alts and alts[0].startswith("Line chart, Requests by day")
    assert b"pdfuaid" in root["/Metadata"].get_data()


def test_large_tables_render_in_chunks_joined_into_one_document(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pdf_module, "CHUNK_ROWS", 30)
    spec = make_spec(formats=["pdf", "csv"], report={"pdfRowLimit": 100})
    built = build(tmp_path, spec, sample=sample(rows=130))
    path = tmp_path / "weekly-usage.pdf"
    texts = page_texts(path)
    assert built.pages == len(texts) >= 4
    for n, text in enumerate(texts, start=1):
        assert f"page {n} of {len(texts)}" in text
    everything = "\n".join(texts)
    assert "Usage (continued)" in everything
    assert ("Showing the first 100 of 130 rows. The full data is in weekly-usage.zip "
            "(attached).") in everything
    shown = re.findall(r"^2026-01-\d\d (?:alice|bob|chen) (\d+) ", everything, re.M)
    assert [int(v) for v in shown] == list(range(100, 200))  # each row once, in order
    counts, headers, _alts, reader = structure(path)
    assert counts["/Document"] == 1 and counts["/H1"] == 1 and counts["/Table"] >= 4
    ids = [str(h["/ID"]) for h in headers]
    assert len(ids) == len(set(ids))
    root: Any = reader.trailer["/Root"]
    keys = set(root["/StructTreeRoot"]["/ParentTree"]["/Nums"][::2])
    assert {page["/StructParents"] for page in reader.pages} <= keys
    assert root["/Lang"] == "en"


def test_joined_pdf_is_about_the_size_of_one_pass(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The join writes compressed object streams: the structure elements of a tagged table
    written plain made the joined file several times the one-pass size."""
    spec = make_spec(formats=["pdf"], report={"pdfRowLimit": 400})
    build(tmp_path / "one", spec, sample=sample(rows=400))
    monkeypatch.setattr(pdf_module, "CHUNK_ROWS", 100)
    built = build(tmp_path / "chunked", spec, sample=sample(rows=400))
    one, chunked = (tmp_path / part / "weekly-usage.pdf" for part in ("one", "chunked"))
    assert built.pages is not None and built.pages >= len(PdfReader(one).pages) >= 4
    assert chunked.stat().st_size <= 1.2 * one.stat().st_size
    assert b"/ObjStm" in chunked.read_bytes()
