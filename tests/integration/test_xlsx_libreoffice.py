"""LibreOffice (headless) opens the report's XLSX and shows every sheet with its number formats,
and a protected XLSX only with its password.
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


# A Basic macro that opens a workbook with a password (no --convert-to option takes one) and
# saves its first sheet as CSV; it replaces the fresh profile's empty Standard.Module1.
OPEN_WITH_PASSWORD = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE script:module PUBLIC "-//OpenOffice.org//DTD OfficeDocument 1.0//EN" "module.dtd">
<script:module xmlns:script="http://openoffice.org/2000/script" script:name="Module1"
 script:language="StarBasic">
Sub Convert(src As String, dest As String, pw As String)
  Dim args(1) As New com.sun.star.beans.PropertyValue
  args(0).Name = "Hidden"
  args(0).Value = True
  args(1).Name = "Password"
  args(1).Value = pw
  doc = StarDesktop.loadComponentFromURL(ConvertToURL(src), "_blank", 0, args())
  Dim out(1) As New com.sun.star.beans.PropertyValue
  out(0).Name = "FilterName"
  out(0).Value = "Text - txt - csv (StarCalc)"
  out(1).Name = "FilterOptions"
  out(1).Value = "44,34,76,1,,0,false,true,true"
  doc.storeToURL(ConvertToURL(dest), out())
  doc.close(True)
End Sub
</script:module>
"""


def test_libreoffice_opens_a_protected_xlsx_with_the_password_only(tmp_path: Path) -> None:
    soffice = shutil.which("soffice")
    assert soffice, "needs LibreOffice: apt-get install libreoffice-calc-nogui"
    from bulletin.protect import protect_report

    spec = make_spec(formats=["xlsx"], protection={
        "passwordSecretRef": {"name": "pw", "key": "password"}, "instructions": "Ask."})
    assert spec.protection is not None
    [book] = protect_report(build(tmp_path, spec), spec.protection, "open sesame 7").artifacts
    profile = [f"-env:UserInstallation={(tmp_path / 'profile').as_uri()}"]
    refused = subprocess.run(
        [soffice, "--headless", *profile, "--convert-to", "csv", "--outdir",
         str(tmp_path / "out"), str(book.path)], capture_output=True, text=True, timeout=300)
    assert "source file could not be loaded" in refused.stderr  # no password: not opened
    assert not (tmp_path / "out").exists()
    (tmp_path / "profile" / "user" / "basic" / "Standard" / "Module1.xba").write_text(
        OPEN_WITH_PASSWORD)
    dest = tmp_path / "usage.csv"
    opened = subprocess.run(
        [soffice, "--headless", *profile,
         f'macro:///Standard.Module1.Convert("{book.path}","{dest}","open sesame 7")'],
        capture_output=True, text=True, timeout=300)
    assert opened.returncode == 0, opened.stderr
    with dest.open(encoding="utf-8") as f:
        rows = list(csv.reader(f))
    summary = {row[0]: row[1:] for row in rows if row and row[0]}  # the first sheet
    assert summary["Requests"][:2] == ["1,200", "1,000"]
    assert summary["Cost"][:2] == ["€99.50", "€110.00"]
