"""XLSX output through XlsxWriter in constant_memory mode (rows stream to disk; memory stays
flat): typed cells, number formats, a frozen bold header, autofilter and column widths."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from bulletin.api.report import ColumnType
from bulletin.render.columns import CURRENCY_SYMBOLS, ColumnInfo, Formatter

if TYPE_CHECKING:
    from xlsxwriter.format import Format
    from xlsxwriter.worksheet import Worksheet

MAX_ROWS = 1_048_576  # rows per sheet, header included
SAMPLE_ROWS = 100  # rows looked at for column widths
_NUMBERS = (int, float, Decimal)

Put = Callable[[int, int, Any], Any]  # writes one non-NULL value at (row, column)


class Cell(NamedTuple):
    """A value and the column it is formatted as (see :meth:`Workbook.cell`)."""

    value: Any
    column: ColumnInfo | None


def number_format(column: ColumnInfo) -> str | None:
    """The Excel number format of a column, or None for text and booleans."""
    kind, places = column.kind, column.places()
    decimals = "." + "0" * places if places else ""
    if kind in (ColumnType.INTEGER, ColumnType.NUMBER):
        return "#,##0" + decimals
    if kind is ColumnType.PERCENT:
        return "0" + decimals + "%"
    if kind is ColumnType.MONEY:
        code = column.currency
        symbol = CURRENCY_SYMBOLS.get(code or "")
        if symbol:
            return f'"{symbol}"#,##0{decimals};-"{symbol}"#,##0{decimals}'
        return f'#,##0{decimals} "{code}"' if code else "#,##0" + decimals
    if kind is ColumnType.DATE:
        return "yyyy-mm-dd"
    if kind is ColumnType.DATETIME:
        return "yyyy-mm-dd hh:mm"
    return None


class Workbook:
    """An .xlsx file written sheet by sheet; call :meth:`close` to finish it."""

    def __init__(self, path: Path, title: str = "", tz: dt.tzinfo | None = None,
                 formatter: Formatter | None = None) -> None:
        import xlsxwriter

        self.path, self.tz = path, tz
        self.formatter = formatter or Formatter()
        self._book = xlsxwriter.Workbook(str(path), {
            "constant_memory": True, "remove_timezone": True, "tmpdir": str(path.parent),
            "strings_to_formulas": False, "strings_to_urls": False})
        self._book.set_properties({"title": title, "author": "Bulletin"})
        self._formats: dict[str, Format] = {}
        self.bold = self._book.add_format({"bold": True})
        self._first: list[Worksheet] = []  # sheets to move to the front on close

    def style(self, code: str) -> Format:
        """The (shared) cell format of a number format code."""
        if code not in self._formats:
            self._formats[code] = self._book.add_format({"num_format": code})
        return self._formats[code]

    def unique_name(self, wanted: str) -> str:
        """A valid sheet name (31 characters, no []:*?/\\), unique in the workbook."""
        base = re.sub(r"[\[\]:*?/\\]", "_", wanted)[:31] or "Sheet"
        taken = {s.name.lower() for s in self._book.worksheets()}
        name, n = base, 2
        while name.lower() in taken:
            suffix = f" ({n})"
            name, n = base[: 31 - len(suffix)] + suffix, n + 1
        return name

    def cell(self, value: Any, column: ColumnInfo | None) -> Cell:
        """One cell for :meth:`Sheet.write_cells`, formatted as ``column`` (or by its type)."""
        return Cell(value, column)

    def sheet(self, name: str, columns: Sequence[ColumnInfo], *, first: bool = False,
              autofilter: bool = True) -> Sheet:
        """Start a sheet; ``first`` puts it before the others."""
        worksheet = self._book.add_worksheet(self.unique_name(name))
        if first:
            self._first.append(worksheet)
        return Sheet(self, worksheet, list(columns), autofilter)

    def put(self, worksheet: Worksheet, column: ColumnInfo | None) -> Put:
        """The writer of one column's non-NULL values: typed by the column, else by value."""
        kind = column.type if column else None
        if kind is ColumnType.TEXT:
            string = worksheet.write_string
            return lambda r, c, v: string(r, c, v if v.__class__ is str else str(v))
        if kind is ColumnType.BOOLEAN:
            boolean = worksheet.write_boolean
            return lambda r, c, v: boolean(r, c, bool(v))
        generic = self._generic(worksheet)
        if kind is None or column is None:
            return generic
        code = number_format(column)
        style = self.style(code) if code else None
        if kind in (ColumnType.DATE, ColumnType.DATETIME):
            moment, tz = worksheet.write_datetime, self.tz

            def put_moment(r: int, c: int, v: Any) -> Any:
                if isinstance(v, dt.datetime) and v.tzinfo is not None and tz is not None:
                    v = v.astimezone(tz)  # shown in the report's time zone
                if isinstance(v, dt.date):
                    return moment(r, c, v, style)
                return generic(r, c, v)

            return put_moment
        number = worksheet.write_number

        def put_number(r: int, c: int, v: Any) -> Any:
            if v.__class__ in _NUMBERS:
                try:
                    return number(r, c, v, style)
                except (TypeError, ValueError):  # NaN and infinities have no Excel number
                    pass
            return generic(r, c, v)

        return put_number

    def _generic(self, worksheet: Worksheet) -> Put:
        date, time = self.style("yyyy-mm-dd"), self.style("yyyy-mm-dd hh:mm")
        tz = self.tz

        def put(r: int, c: int, v: Any) -> Any:
            if isinstance(v, bool):
                return worksheet.write_boolean(r, c, v)
            if isinstance(v, _NUMBERS):
                try:
                    return worksheet.write_number(r, c, v)
                except (TypeError, ValueError):
                    pass
            elif isinstance(v, dt.datetime):
                if v.tzinfo is not None and tz is not None:
                    v = v.astimezone(tz)
                return worksheet.write_datetime(r, c, v, time)
            elif isinstance(v, dt.date):
                return worksheet.write_datetime(r, c, v, date)
            return worksheet.write_string(r, c, str(v))

        return put

    def close(self) -> None:
        """Put the ``first`` sheets in front and write the file."""
        sheets = self._book.worksheets()
        if self._first:
            # XlsxWriter writes sheets in creation order and has no move API; reordering its
            # list before close is safe while sheets hold no cross-sheet references.
            sheets[:] = self._first + [s for s in sheets if s not in self._first]
            for index, worksheet in enumerate(sheets):
                worksheet.index = index
        self._book.close()


class Sheet:
    """One worksheet being streamed: header first, rows in order."""

    def __init__(self, book: Workbook, worksheet: Worksheet, columns: list[ColumnInfo],
                 autofilter: bool = True) -> None:
        self._book, self._ws = book, worksheet
        self.name = worksheet.name
        self.columns = columns
        self.autofilter = autofilter
        self.widths: list[float] | None = None
        self._sample: list[Sequence[Any]] = []
        self._puts: list[Put] | None = None  # set on the first data row: types are known then
        self._row = 1  # the next row (0-based); row 0 is the header
        for i, column in enumerate(columns):
            worksheet.write_string(0, i, column.label, book.bold)
        worksheet.freeze_panes(1, 0)

    @property
    def room(self) -> int:
        """Data rows this sheet can still take."""
        return MAX_ROWS - self._row

    def write(self, batch: Sequence[Sequence[Any]]) -> None:
        """Append rows (at most :attr:`room`)."""
        if self._puts is None:
            self._puts = [self._book.put(self._ws, c) for c in self.columns]
        if len(self._sample) < SAMPLE_ROWS:
            self._sample.extend(batch[: SAMPLE_ROWS - len(self._sample)])
        puts, row = self._puts, self._row
        for values in batch:
            col = 0
            for put, value in zip(puts, values, strict=False):
                if value is not None:
                    put(row, col, value)
                col += 1
            row += 1
        self._row = row

    def write_cells(self, rows: Sequence[Sequence[Cell]]) -> None:
        """Append rows of cells from :meth:`Workbook.cell` (an empty row stays blank)."""
        for cells in rows:
            for col, (value, column) in enumerate(cells):
                if value is not None:
                    self._book.put(self._ws, column)(self._row, col, value)
            self._row += 1

    def close(self) -> None:
        """Finish the sheet: column widths and the autofilter."""
        widths = self.widths or _widths(self.columns, self._sample, self._book.formatter)
        for i, width in enumerate(widths):
            self._ws.set_column(i, i, width)
        if self.columns and self.autofilter:
            self._ws.autofilter(0, 0, self._row - 1, len(self.columns) - 1)


def _widths(columns: Sequence[ColumnInfo], rows: Sequence[Sequence[Any]],
            formatter: Formatter) -> list[float]:
    widths: list[float] = []
    for i, column in enumerate(columns):
        longest = max([len(formatter.format(column, r[i])) for r in rows if i < len(r)],
                      default=0)
        widths.append(min(max(longest, len(column.label) + 3, 8) + 2, 60))
    return widths


class DatasetSheets:
    """A dataset's sheet, continued on "name (2)" etc. past Excel's row limit."""

    def __init__(self, book: Workbook, name: str, columns: Sequence[ColumnInfo]) -> None:
        self._book, self._name, self._columns = book, name, columns
        self.sheet = book.sheet(name, columns)
        self.names = [self.sheet.name]

    def write(self, batch: Sequence[Sequence[Any]]) -> None:
        while batch:
            room = self.sheet.room
            if room <= 0:
                self.sheet.close()
                self.sheet = self._book.sheet(self._name, self._columns)
                self.names.append(self.sheet.name)
                continue
            self.sheet.write(batch[:room])
            batch = batch[room:]

    def close(self) -> None:
        self.sheet.close()
