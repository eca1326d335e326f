"""The PDF is valid PDF/UA-1 by veraPDF, also when rendered in chunks and joined
(render/pdfjoin.py). tests/validators/verapdf.sh fetches veraPDF (cached)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from bulletin.render import pdf as pdf_module
from pypdf import PdfWriter
from report_support import build, make_spec, sample

SCRIPT = Path(__file__).resolve().parents[1] / "validators" / "verapdf.sh"


@pytest.fixture(scope="module")
def verapdf() -> Path:
    found = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=900)
    assert found.returncode == 0, f"tests/validators/verapdf.sh failed:\n{found.stderr}"
    return Path(found.stdout.strip().splitlines()[-1])


def validate(verapdf: Path, pdf: Path) -> str:
    """veraPDF's one-line verdict (PASS/FAIL) for PDF/UA-1, with the failed rules."""
    result = subprocess.run([str(verapdf), "--flavour", "ua1", "--format", "text", "--verbose",
                             str(pdf)], capture_output=True, text=True, timeout=300)
    assert result.stdout.strip(), result.stderr
    return result.stdout


def test_chunked_and_joined_pdf_is_pdf_ua1(verapdf: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pdf_module, "CHUNK_ROWS", 30)
    spec = make_spec(formats=["pdf"], report={"pdfRowLimit": 100, "charts": [
        {"kind": "line", "dataset": "usage", "x": "day", "y": ["requests"]}]})
    built = build(tmp_path, spec, sample=sample(rows=130))
    assert built.pages is not None and built.pages >= 4  # several chunks, joined
    verdict = validate(verapdf, tmp_path / "weekly-usage.pdf")
    assert verdict.startswith("PASS "), verdict


def test_single_piece_pdf_is_pdf_ua1(verapdf: Path, tmp_path: Path) -> None:
    build(tmp_path, make_spec(formats=["pdf"]), sample=sample(rows=20))
    verdict = validate(verapdf, tmp_path / "weekly-usage.pdf")
    assert verdict.startswith("PASS "), verdict


def test_the_validator_rejects_an_untagged_pdf(verapdf: Path, tmp_path: Path) -> None:
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.write(tmp_path / "plain.pdf")
    assert validate(verapdf, tmp_path / "plain.pdf").startswith("FAIL ")
