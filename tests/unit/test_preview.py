"""`bulletin preview` on the README's example: files written, the email as it would be sent."""

from __future__ import annotations

import email
import re
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest
from bulletin.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ["-f", str(ROOT / "examples" / "weekly-usage.yaml"),
           "--sample", str(ROOT / "examples" / "weekly-usage.sample.yaml"),
           "--at", "2026-01-12T09:00:00+01:00"]


def test_preview_of_the_readme_example(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["preview", *EXAMPLE, "-o", str(out), "--formats", "csv,xlsx,pdf,html"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["chart-1.png", "email.eml", "email.html", "email.txt", "usage.csv",
                     "weekly-usage.pdf", "weekly-usage.xlsx"]
    page = (out / "email.html").read_text()
    assert 'src="chart-1.png"' in page and "cid:" not in page  # opens in a browser as sent
    progress = capsys.readouterr().err
    assert "usage: 35 rows" in progress and re.search(r"pdf: \d+ pages", progress)

    msg = email.message_from_bytes((out / "email.eml").read_bytes(), policy=default)
    assert isinstance(msg, EmailMessage)
    assert msg["To"] == "team@example.com"
    assert msg["Subject"] == "weekly-usage: 2026-01-05 \u2013 2026-01-11"
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None and "Usage: 35 rows, the first 10:" in text.get_content()
    assert html is not None and '<html lang="en">' in html.get_content()
    related = [p for p in msg.walk() if p.get("Content-ID")]
    assert len(related) == 1 and related[0].get_content_type() == "image/png"
    assert f'src="cid:{related[0]["Content-ID"].strip("<>")}"' in html.get_content()
    attached = sorted(str(p.get_filename()) for p in msg.iter_attachments())
    assert attached == ["usage.csv", "weekly-usage.pdf", "weekly-usage.xlsx"]

    summary = (out / "email.txt").read_text()
    assert summary.startswith("To: team@example.com\nSubject: weekly-usage: 2026-01-05")
    assert "  weekly-usage.pdf (application/pdf, " in summary


def test_preview_uses_the_manifest_formats(tmp_path: Path) -> None:
    assert main(["preview", *EXAMPLE, "-o", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["email.eml", "email.txt", "usage.csv"]
    assert (tmp_path / "usage.csv").read_text().startswith(
        "day,user_name,requests,cost\n2026-01-05,alice,160,1.92\n")


def test_preview_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = ["-f", str(ROOT / "examples" / "weekly-usage.yaml"), "-o", str(tmp_path)]
    assert main(["preview", *manifest]) == 2
    assert "give --data-url URL or --sample FILE" in capsys.readouterr().err
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: ReportSchedule\nspec: {formats: [doc]}\n")
    assert main(["preview", "-f", str(broken), "-o", str(tmp_path), "--sample", "x"]) == 2
    assert "spec.datasets: Field required" in capsys.readouterr().err
    sample = tmp_path / "sample.yaml"
    sample.write_text("datasets: {other: []}\n")
    assert main(["preview", *manifest, "--sample", str(sample)]) == 1
    assert "the run would fail: sample data has no dataset 'usage'" in capsys.readouterr().err


def test_the_period_comes_from_the_sample_whatever_the_date(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No --at: the example sample names its week (period: 2026-W02), and the header, the
    subject and the rows agree on it on any day."""
    assert main(["preview", *EXAMPLE[:4], "-o", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "analytics/weekly-usage: period 2026-01-05..2026-01-11 (Europe/Berlin)" in err
    assert "warning" not in err
    msg = email.message_from_bytes((tmp_path / "email.eml").read_bytes(), policy=default)
    assert msg["Subject"] == "weekly-usage: 2026-01-05 \u2013 2026-01-11"


def test_rows_outside_the_period_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sample = tmp_path / "sample.json"  # JSON: the dates are strings
    sample.write_text('{"datasets": {"usage": [{"day": "2026-01-05", "user_name": "a",'
                      ' "requests": 1, "cost": 1.0}, {"day": "2026-01-13", "user_name": "b",'
                      ' "requests": 2, "cost": 2.0}]}}')
    args = ["preview", "-f", EXAMPLE[1], "--sample", str(sample), "-o", str(tmp_path / "o")]
    assert main([*args, "--at", "2026-01-19T09:00:00+01:00"]) == 0
    err = capsys.readouterr().err
    assert "period 2026-01-12..2026-01-18" in err
    assert ("bulletin preview: warning: 1 of 2 sample rows of 'usage' (day: 2026-01-05 to"
            " 2026-01-05) fall outside the period 2026-01-12..2026-01-18") in err
    # --at wins over the sample's period, and the mismatch is named
    assert main(["preview", *EXAMPLE[:4], "--at", "2026-03-02T09:00:00+01:00", "-o",
                 str(tmp_path / "p")]) == 0
    assert "35 of 35 sample rows of 'usage' (day: 2026-01-05 to 2026-01-11) fall outside the" \
           " period 2026-02-23..2026-03-01" in capsys.readouterr().err
    sample.write_text('{"period": "2026-W60", "datasets": {"usage": []}}')
    assert main(args) == 2
    assert "sample.json: period '2026-W60'" in capsys.readouterr().err
