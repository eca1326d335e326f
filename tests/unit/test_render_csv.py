"""CSV output: one file per dataset or a zip, typed values, BOM; read back with csv."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from decimal import Decimal
from pathlib import Path

from bulletin.api.report import ColumnType
from bulletin.render.columns import ColumnInfo
from bulletin.render.csv import CsvOutput

ROWS = [
    (1, dt.date(2026, 1, 5), dt.datetime(2026, 1, 5, 9, 30, tzinfo=dt.UTC), True, Decimal("1.20"),
     "Zoë, \"quoted\""),
    (2, None, None, False, None, "line\nbreak"),
]
NAMES = ["id", "day", "seen", "active", "cost", "note"]


def _columns() -> list[ColumnInfo]:
    columns = [ColumnInfo(n) for n in NAMES]
    for column, value in zip(columns, ROWS[0], strict=True):
        column.observe(value)
    return columns


def test_one_dataset_is_a_plain_csv_with_machine_readable_values(tmp_path: Path) -> None:
    out = CsvOutput(tmp_path, "weekly", ["usage"], bom=False)
    with out.dataset("usage", _columns()) as writer:
        writer.write(ROWS)
    out.close()
    assert out.paths == [tmp_path / "usage.csv"]
    raw = out.paths[0].read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode(), newline="")))
    assert rows == [
        NAMES,
        ["1", "2026-01-05", "2026-01-05T09:30:00+00:00", "true", "1.20", 'Zoë, "quoted"'],
        ["2", "", "", "false", "", "line\nbreak"],
    ]


def test_several_datasets_are_zipped_with_bom(tmp_path: Path) -> None:
    out = CsvOutput(tmp_path, "weekly", ["usage", "totals"], bom=True)
    for name in ("usage", "totals"):
        with out.dataset(name, _columns()) as writer:
            writer.write(ROWS[:1])
    out.close()
    assert out.paths == [tmp_path / "weekly.zip"]
    with zipfile.ZipFile(out.paths[0]) as archive:
        assert archive.namelist() == ["usage.csv", "totals.csv"]
        raw = archive.read("totals.csv")
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert rows[0] == NAMES and rows[1][0] == "1"


def test_declared_types_convert_values(tmp_path: Path) -> None:
    columns = [ColumnInfo("when", type=ColumnType.DATE),
               ColumnInfo("flag", type=ColumnType.BOOLEAN)]
    out = CsvOutput(tmp_path, "x", ["d"], bom=False)
    with out.dataset("d", columns) as writer:
        writer.write([(dt.datetime(2026, 1, 5, 23, 0), 1), (None, 0)])
    out.close()
    assert out.paths[0].read_text().splitlines() == ["when,flag", "2026-01-05,true", ",false"]
