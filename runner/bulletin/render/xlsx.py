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

    def put(self, worksheet: Worksheet, row: int, col: int, value: Any,
            column: ColumnInfo | None) -> None:
        """Write one non-NULL value as ``column`` says (by its own type if None), cell by
        cell: for the summary and for rows :meth:`Sheet.write` cannot pass as they are."""
        kind = column.type if column else None
        if kind is ColumnType.TEXT:
            worksheet.write_string(row, col, str(value))
            return
        if kind is ColumnType.BOOLEAN or isinstance(value, bool):
            worksheet.write_boolean(row, col, bool(value))
            return
        code = number_format(column) if column and kind else None
        if isinstance(value, _NUMBERS):
            style = self.style(code) if code and column and column.numeric else None
            try:
                worksheet.write_number(row, col, value, style)
                return
            except (TypeError, ValueError):  # NaN and infinities have no Excel number
                pass
        elif isinstance(value, dt.date):
            if kind not in (ColumnType.DATE, ColumnType.DATETIME):
                code = "yyyy-mm-dd hh:mm" if isinstance(value, dt.datetime) else "yyyy-mm-dd"
            if isinstance(value, dt.datetime) and value.tzinfo is not None and self.tz:
                value = value.astimezone(self.tz)  # shown in the report's time zone
            worksheet.write_datetime(row, col, value, self.style(code or "yyyy-mm-dd"))
            return
        worksheet.write_string(row, col, str(value))

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
    """One worksheet being streamed: header first, rows in order. Each column carries its
    number format, so data rows go to XlsxWriter's write_row as they are."""

    def __init__(self, book: Workbook, worksheet: Worksheet, columns: list[ColumnInfo],
                 autofilter: bool = True) -> None:
        self._book, self._ws = book, worksheet
        self.name = worksheet.name
        self.columns = columns
        self.autofilter = autofilter
        self.widths: list[float] | None = None
        self._sample: list[Sequence[Any]] = []
        self._formats: list[Format | None] = [None] * len(columns)
        self._untyped = list(range(len(columns)))  # columns without a type (nor format) yet
        self._coerce: list[tuple[int, type, Callable[[Any], Any]]] = []
        self._row = 1  # the next row (0-based); row 0 is the header
        for i, column in enumerate(columns):
            worksheet.write_string(0, i, column.label, book.bold)
        worksheet.freeze_panes(1, 0)
        if book.tz is not None:
            worksheet.add_write_handler(dt.datetime, _in_zone(book.tz))

    @property
    def room(self) -> int:
        """Data rows this sheet can still take."""
        return MAX_ROWS - self._row

    def write(self, batch: Sequence[Sequence[Any]]) -> None:
        """Append rows (at most :attr:`room`)."""
        if self._untyped:
            self._type(batch)
        if len(self._sample) < SAMPLE_ROWS:
            self._sample.extend(batch[: SAMPLE_ROWS - len(self._sample)])
        write_row, coerce, row = self._ws.write_row, self._coerce, self._row
        for values in batch:
            for i, kind, convert in coerce:  # text and boolean columns take any value
                value = values[i]
                if value is not None and value.__class__ is not kind:
                    values = [*values]
                    values[i] = convert(value)
            try:
                write_row(row, 0, values)
            except TypeError:  # NaN, infinities, types Excel lacks: cell by cell
                self._write_slowly(row, values)
            row += 1
        self._row = row

    def _type(self, batch: Sequence[Sequence[Any]]) -> None:
        """Type the columns whose first value is in ``batch``; set their formats."""
        for i in self._untyped:
            column = self.columns[i]
            column.observe(next((r[i] for r in batch if r[i] is not None), None))
            kind = column.type
            if kind is ColumnType.TEXT:
                self._coerce.append((i, str, str))
            elif kind is ColumnType.BOOLEAN:
                self._coerce.append((i, bool, bool))
            elif kind is not None:
                code = number_format(column)
                self._formats[i] = self._book.style(code) if code else None
                self._ws.set_column(i, i, None, self._formats[i])
        self._untyped = [i for i in self._untyped if self.columns[i].type is None]

    def _write_slowly(self, row: int, values: Sequence[Any]) -> None:
        for col, (column, value) in enumerate(zip(self.columns, values, strict=False)):
            if value is not None:
                self._book.put(self._ws, row, col, value, column)

    def write_cells(self, rows: Sequence[Sequence[Cell]]) -> None:
        """Append rows of cells from :meth:`Workbook.cell` (an empty row stays blank)."""
        for cells in rows:
            for col, (value, column) in enumerate(cells):
                if value is not None:
                    self._book.put(self._ws, self._row, col, value, column)
            self._row += 1

    def close(self) -> None:
        """Finish the sheet: column widths and the autofilter."""
        widths = self.widths or _widths(self.columns, self._sample, self._book.formatter)
        for i, width in enumerate(widths):
            self._ws.set_column(i, i, width, self._formats[i] if i < len(self._formats) else None)
        if self.columns and self.autofilter:
            self._ws.autofilter(0, 0, self._row - 1, len(self.columns) - 1)


def _in_zone(tz: dt.tzinfo) -> Callable[..., Any]:
    """A write handler showing aware datetimes in ``tz`` (XlsxWriter drops the zone)."""

    def handler(worksheet: Worksheet, row: int, col: int, value: dt.datetime,
                *args: Any) -> Any:
        if value.tzinfo is None:
            return None  # XlsxWriter writes it as usual
        return worksheet.write_datetime(row, col, value.astimezone(tz), *args)

    return handler


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
