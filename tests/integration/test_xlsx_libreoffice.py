"""LibreOffice (headless) opens the report's XLSX and shows every sheet with its number formats.
Needs soffice: apt-get install --no-install-recommends libreoffice-calc-nogui."""

from __future__ import annotations

import csv
import shutil
import subprocess
from pathlib import Path

from report_support import build, make_spec

# CSV filter: comma, double quotes, UTF-8, from line 1, cells as shown, every sheet (-1).
CSV_FILTER = "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,true,false,false,-1"


def test_libreoffice_shows_the_sheets_as_formatted(tmp_path: Path) -> None:
    soffice = shutil.which("soffice")
    assert soffice, "needs LibreOffice: apt-get install libreoffice-calc-nogui"
    build(tmp_path, make_spec(formats=["xlsx"]))
    out = tmp_path / "out"
    result = subprocess.run(
        [soffice, "--headless", f"-env:UserInstallation={(tmp_path / 'profile').as_uri()}",
         "--convert-to", CSV_FILTER, "--outdir", str(out), str(tmp_path / "weekly-usage.xlsx")],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr

    def sheet(name: str) -> list[list[str]]:
        with (out / f"weekly-usage-{name}.csv").open(encoding="utf-8") as f:
            return list(csv.reader(f))

    usage = sheet("usage")
    assert usage[0] == ["Day", "User name", "Requests", "Cost"]
    assert usage[1:3] == [["2026-01-05", "alice", "100", "0.00"],
                          ["2026-01-06", "bob", "101", "1.50"]]
    assert len(usage) == 13
    assert sheet("totals") == [["Requests", "Cost", "Users"], ["1,200", "€99.50", "3"]]
    summary = {row[0]: row[1:] for row in sheet("Summary") if row and row[0]}
    assert summary["Requests"] == ["1,200", "1,000", "200", "20.0%"]
    assert summary["Cost"] == ["€99.50", "€110.00", "-€10.50", "-9.5%"]
    assert summary["Rows in usage"][:2] == ["12", "sheet usage"]
