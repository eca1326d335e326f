"""XLSX output: typed cells, number formats, frozen bold header, autofilter, widths; read back
with openpyxl."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from bulletin.api.report import ColumnType
from bulletin.render import xlsx
from bulletin.render.columns import ColumnInfo
from bulletin.render.xlsx import DatasetSheets, Workbook

BERLIN = ZoneInfo("Europe/Berlin")


def _columns() -> list[ColumnInfo]:
    return [
        ColumnInfo("day", label="Day"),
        ColumnInfo("user", label="User"),
        ColumnInfo("requests", label="Requests"),
        ColumnInfo("cost", type=ColumnType.MONEY, currency="EUR", label="Cost"),
        ColumnInfo("share", type=ColumnType.PERCENT, label="Share"),
        ColumnInfo("seen", label="Seen"),
        ColumnInfo("ok", label="OK"),
        ColumnInfo("latency", label="Latency"),
    ]


ROW = (dt.date(2026, 1, 5), "a & <b>", 120, Decimal("1.44"), 0.25,
       dt.datetime(2026, 1, 5, 8, 30, tzinfo=dt.UTC), True, 12.5)


def _observe(columns: list[ColumnInfo], row: tuple) -> None:
    for column, value in zip(columns, row, strict=True):
        column.observe(value)


def test_cells_are_typed_and_formatted(tmp_path: Path) -> None:
    book = Workbook(tmp_path / "r.xlsx", title="Weekly", tz=BERLIN)
    columns = _columns()
    _observe(columns, ROW)
    sheets = DatasetSheets(book, "usage", columns)
    sheets.write([ROW, (None, " padded ", None, None, None, None, False, float("nan"))])
    sheets.close()
    book.close()

    wb = openpyxl.load_workbook(tmp_path / "r.xlsx")
    assert wb.sheetnames == ["usage"]
    assert wb.properties.title == "Weekly"
    ws = wb["usage"]
    assert [c.value for c in ws[1]] == [c.label for c in columns]
    assert all(c.font.b for c in ws[1])
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == "A1:H3"
    day, user, requests, cost, share, seen, ok, latency = ws[2]
    assert day.value == dt.datetime(2026, 1, 5) and day.number_format == "yyyy-mm-dd"
    assert user.value == "a & <b>" and user.data_type == "s"
    assert requests.value == 120 and requests.number_format == "#,##0"
    assert cost.value == pytest.approx(1.44) and "€" in cost.number_format
    assert share.value == 0.25 and share.number_format == "0.0%"
    assert seen.value == dt.datetime(2026, 1, 5, 9, 30)  # shown in the report's time zone
    assert seen.number_format == "yyyy-mm-dd hh:mm"
    assert ok.value is True
    assert latency.value == 12.5 and latency.number_format == "#,##0.00"
    empty_day, padded, *_rest, not_a_number = ws[3]
    assert empty_day.value is None
    assert padded.value == " padded "
    assert not_a_number.value == "nan"
    assert ws.column_dimensions["B"].width >= len("a & <b>")
    assert 8 <= ws.column_dimensions["A"].width <= 60


def test_summary_sheet_comes_first_and_names_are_valid(tmp_path: Path) -> None:
    book = Workbook(tmp_path / "r.xlsx")
    data = book.sheet("a/b:c*d?e[f]-a-very-long-dataset-name-indeed", [ColumnInfo("x")])
    data.write([(1,)])
    data.close()
    summary = book.sheet("Summary", [ColumnInfo("Item", label="Item")], first=True,
                         autofilter=False)
    summary.write_cells([[book.cell("Rows", None), book.cell(1, None)]])
    summary.close()
    book.close()
    wb = openpyxl.load_workbook(tmp_path / "r.xlsx")
    assert wb.sheetnames == ["Summary", "a_b_c_d_e_f_-a-very-long-datase"]
    assert wb["Summary"].auto_filter.ref is None
    assert [c.value for c in wb["Summary"][2]] == ["Rows", 1]


def test_rows_past_the_sheet_limit_continue_on_a_new_sheet(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xlsx, "MAX_ROWS", 4)
    book = Workbook(tmp_path / "r.xlsx")
    sheets = DatasetSheets(book, "usage", [ColumnInfo("n")])
    sheets.write([(i,) for i in range(7)])
    sheets.close()
    book.close()
    wb = openpyxl.load_workbook(tmp_path / "r.xlsx")
    assert sheets.names == wb.sheetnames == ["usage", "usage (2)", "usage (3)"]
    values = [c.value for ws in wb for (c,) in ws.iter_rows(min_row=2)]
    assert values == list(range(7))


def test_declared_types_win_and_odd_values_fall_back_cell_by_cell(tmp_path: Path) -> None:
    book = Workbook(tmp_path / "r.xlsx", tz=BERLIN)
    columns = [ColumnInfo("zip", type=ColumnType.TEXT, label="ZIP"),
               ColumnInfo("flag", type=ColumnType.BOOLEAN, label="Flag"),
               ColumnInfo("at", label="At"),  # typed by the sheet from its first value
               ColumnInfo("ratio", type=ColumnType.PERCENT, label="Ratio")]
    sheets = DatasetSheets(book, "odd", columns)
    at = dt.datetime(2026, 7, 1, 22, 0, tzinfo=dt.UTC)
    sheets.write([("01067", 1, at, 0.5), (10115, 0, None, float("inf")),
                  (None, None, at, Decimal("0.125"))])
    sheets.close()
    book.close()
    ws = openpyxl.load_workbook(tmp_path / "r.xlsx")["odd"]
    assert [[c.value for c in row] for row in ws.iter_rows(min_row=2)] == [
        ["01067", True, dt.datetime(2026, 7, 2, 0, 0), 0.5],  # summer time in Berlin
        ["10115", False, None, "inf"],
        [None, None, dt.datetime(2026, 7, 2, 0, 0), 0.125]]
    assert ws["C2"].number_format == ws["C4"].number_format == "yyyy-mm-dd hh:mm"
    assert ws["D2"].number_format == ws["D4"].number_format == "0.0%"
    assert ws["A3"].data_type == "s"
    assert columns[2].type is ColumnType.DATETIME
