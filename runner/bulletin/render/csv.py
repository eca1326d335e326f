"""CSV output, streamed batch by batch: one file per dataset, or one zip entry per dataset."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from bulletin.api.report import ColumnType
from bulletin.render.columns import ColumnInfo

Converter = Callable[[Any], Any]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: str) -> str:
    """``value`` with a leading ``'`` if a spreadsheet would read it as a formula."""
    return "'" + value if value.startswith(FORMULA_START) else value


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _escaped(row: Sequence[Any], numeric: Sequence[bool]) -> list[Any]:
    """Text cells that start like a formula, neutralised. Values typed as numbers (ints,
    Decimals, or numeric text in a numeric column, e.g. -3) stay as they are."""
    out = list(row)
    for i, value in enumerate(out):
        if (value.__class__ is str and value.startswith(FORMULA_START)
                and not (numeric[i] and _is_number(value))):
            out[i] = "'" + value
    return out


_MARKS = tuple("\x00" + c for c in FORMULA_START)


def _suspect(values: list[Any]) -> bool:
    """Whether some text in ``values`` may start like a formula (a fast scan of the column
    joined into one string; false alarms only cost the exact per-cell check)."""
    try:
        joined = "\x00" + "\x00".join(values)
    except TypeError:  # not all text: scan the text values only
        joined = "\x00" + "\x00".join([v for v in values if v.__class__ is str])
    return any(mark in joined for mark in _MARKS)


def neutralise_batch(batch: Sequence[Sequence[Any]], numeric: Sequence[bool]
                     ) -> Sequence[Sequence[Any]]:
    """``batch`` with formula-like text neutralised, column by column; the same object when
    nothing needed it (the common case costs a scan per column, not a check per cell)."""
    if not batch:
        return batch
    if not any(_suspect([row[i] for row in batch]) for i in range(len(numeric))):
        return batch
    return [_escaped(row, numeric) for row in batch]


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def _day(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    return _iso(value)


def _boolean(value: Any) -> Any:
    return "true" if value else "false"


_CONVERTERS: dict[ColumnType, Converter] = {
    ColumnType.DATETIME: _iso,
    ColumnType.DATE: _day,
    ColumnType.BOOLEAN: _boolean,
}


class CsvWriter:
    """Writes typed rows as machine-readable CSV: ISO dates, true/false, plain numbers. With
    ``escape_formulas`` (the default) text that a spreadsheet would run as a formula (=, +, -,
    @, tab, CR first) gets a leading ``'``."""

    def __init__(self, handle: IO[str], columns: Sequence[ColumnInfo],
                 escape_formulas: bool = True) -> None:
        self._writer = csv.writer(handle)
        self._columns = columns
        self._escape = escape_formulas
        self._writer.writerow([neutralise(c.name) if escape_formulas else c.name
                               for c in columns])
        self._plan: list[tuple[int, Converter]] = []
        self._planned_for: tuple[ColumnType | None, ...] = ()
        self.count = 0

    def _converters(self) -> list[tuple[int, Converter]]:
        kinds = tuple(c.type for c in self._columns)
        if kinds != self._planned_for:  # a column's type became known
            self._planned_for = kinds
            self._plan = [(i, _CONVERTERS[k]) for i, k in enumerate(kinds) if k in _CONVERTERS]
        return self._plan

    def write(self, batch: Sequence[Sequence[Any]]) -> None:
        """Write a batch of rows."""
        plan = self._converters()
        if self._escape:
            batch = neutralise_batch(batch, [c.numeric for c in self._columns])
        if plan:
            converted = []
            for row in batch:
                values = list(row)
                for i, fn in plan:
                    if values[i] is not None:
                        values[i] = fn(values[i])
                converted.append(values)
            self._writer.writerows(converted)
        else:
            self._writer.writerows(batch)
        self.count += len(batch)


def csv_handle(path: Path, bom: bool) -> IO[str]:
    """A text handle for a CSV file; ``bom`` writes UTF-8 with a byte order mark, for Excel."""
    return path.open("w", newline="", encoding="utf-8-sig" if bom else "utf-8")


class CsvOutput:
    """CSV files of a run: ``<dataset>.csv`` each, or ``<stem>.zip`` holding them when several."""

    def __init__(self, outdir: Path, stem: str, datasets: Sequence[str], bom: bool,
                 escape_formulas: bool = True) -> None:
        self._outdir, self._bom, self._escape = outdir, bom, escape_formulas
        self._zip: zipfile.ZipFile | None = None
        self.paths: list[Path] = []
        if len(datasets) > 1:
            self.paths.append(outdir / f"{stem}.zip")
            self._zip = zipfile.ZipFile(self.paths[0], "w", zipfile.ZIP_DEFLATED, compresslevel=1)

    @contextmanager
    def dataset(self, name: str, columns: Sequence[ColumnInfo]) -> Iterator[CsvWriter]:
        """A writer for one dataset; datasets are written one after another."""
        if self._zip is None:
            path = self._outdir / f"{name}.csv"
            self.paths.append(path)
            with csv_handle(path, self._bom) as handle:
                yield CsvWriter(handle, columns, self._escape)
            return
        raw = self._zip.open(f"{name}.csv", "w", force_zip64=True)
        with io.TextIOWrapper(raw, encoding="utf-8-sig" if self._bom else "utf-8",
                              newline="") as handle:
            yield CsvWriter(handle, columns, self._escape)

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
