"""Column types: inferred from values, overridden by spec.report.columns, rendered per type."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bulletin.api.report import Column, ColumnType

CURRENCY_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥", "INR": "₹", "CNY": "¥"}
# (thousands separator, decimal mark) by primary language subtag; others use English marks.
SEPARATORS = {
    "de": (".", ","), "es": (".", ","), "it": (".", ","), "nl": (".", ","), "pt": (".", ","),
    "da": (".", ","), "fr": ("\u202f", ","), "sv": ("\u202f", ","), "nb": ("\u202f", ","),
    "fi": ("\u202f", ","), "pl": ("\u202f", ","), "cs": ("\u202f", ","),
}
NUMERIC = frozenset({ColumnType.INTEGER, ColumnType.NUMBER, ColumnType.MONEY, ColumnType.PERCENT})


def infer_type(value: Any) -> ColumnType | None:
    """The column type a database value suggests; None for NULL."""
    if value is None:
        return None
    if isinstance(value, bool):
        return ColumnType.BOOLEAN
    if isinstance(value, int):
        return ColumnType.INTEGER
    if isinstance(value, float | Decimal):
        return ColumnType.NUMBER
    if isinstance(value, dt.datetime):
        return ColumnType.DATETIME
    if isinstance(value, dt.date):
        return ColumnType.DATE
    return ColumnType.TEXT


@dataclass
class ColumnInfo:
    """A result column as every renderer sees it."""

    name: str
    type: ColumnType | None = None  # None until a non-NULL value was seen
    label: str = ""
    currency: str | None = None
    decimals: int | None = None

    @property
    def kind(self) -> ColumnType:
        """The effective type; all-NULL columns are text."""
        return self.type or ColumnType.TEXT

    @property
    def numeric(self) -> bool:
        return self.kind in NUMERIC

    def places(self) -> int:
        """Decimal places shown for this column."""
        if self.decimals is not None:
            return self.decimals
        return {ColumnType.INTEGER: 0, ColumnType.PERCENT: 1}.get(self.kind, 2)

    def observe(self, value: Any) -> None:
        """Infer the type from the first non-NULL value (declared types win)."""
        if self.type is None and value is not None:
            self.type = infer_type(value)


def resolve_columns(names: Sequence[str], declared: Sequence[Column] | None) -> list[ColumnInfo]:
    """Columns of a result with the manifest's overrides applied."""
    overrides = {c.name: c for c in declared or ()}
    found = []
    for name in names:
        spec = overrides.get(name)
        info = ColumnInfo(name=name, label=name.replace("_", " ").capitalize())
        if spec is not None:
            info.type = spec.type
            info.label = spec.label or info.label
            info.currency, info.decimals = spec.currency, spec.decimals
        found.append(info)
    return found


def unknown_columns(names: Sequence[str], declared: Sequence[Column] | None) -> list[str]:
    """Declared column names the query did not return (likely typos)."""
    present = set(names)
    return [c.name for c in declared or () if c.name not in present]


def to_number(value: Any) -> float | int | Decimal | None:
    """A numeric value, or None when ``value`` is not a number."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float | Decimal):
        return value
    if isinstance(value, str):
        try:
            return Decimal(value.strip())
        except ArithmeticError:
            return None
    return None


@dataclass(frozen=True)
class Formatter:
    """Turns values into display text for PDF, HTML and plain text, by column type."""

    language: str = "en"
    tz: dt.tzinfo | None = None

    def separators(self) -> tuple[str, str]:
        return SEPARATORS.get(self.language.split("-")[0].lower(), (",", "."))

    def number(self, value: float | int | Decimal, places: int) -> str:
        """Grouped digits with the language's marks, e.g. 1,234.50 or 1.234,50."""
        thousands, mark = self.separators()
        text = f"{value:,.{places}f}"
        return text.replace(",", "\0").replace(".", mark).replace("\0", thousands)

    def moment(self, value: dt.datetime) -> dt.datetime:
        """An aware datetime in the report's time zone; naive ones are shown as they are."""
        if value.tzinfo is not None and self.tz is not None:
            return value.astimezone(self.tz)
        return value

    def format(self, column: ColumnInfo, value: Any) -> str:
        """``value`` as text for ``column``; NULL is an empty string."""
        if value is None:
            return ""
        kind = column.kind
        if kind is ColumnType.TEXT:
            return str(value)
        if kind is ColumnType.BOOLEAN:
            return "yes" if value else "no"
        if kind is ColumnType.DATETIME and isinstance(value, dt.datetime):
            return self.moment(value).strftime("%Y-%m-%d %H:%M")
        if kind in (ColumnType.DATE, ColumnType.DATETIME) and isinstance(value, dt.date):
            if isinstance(value, dt.datetime):
                value = self.moment(value).date()
            return value.isoformat()
        number = to_number(value)
        if number is None:
            return str(value)
        places = column.places()
        if kind is ColumnType.PERCENT:
            return self.number(Decimal(str(number)) * 100, places) + "\u00a0%"
        if kind is ColumnType.MONEY:
            text = self.number(number, places)
            code = column.currency
            symbol = CURRENCY_SYMBOLS.get(code or "")
            if symbol:
                return f"-{symbol}{text[1:]}" if text.startswith("-") else symbol + text
            return f"{text}\u00a0{code}" if code else text
        return self.number(number, places)

    def row_formatter(self, columns: Sequence[ColumnInfo]) -> Callable[[Sequence[Any]], list[str]]:
        """A function formatting whole rows for ``columns``."""
        pairs = list(enumerate(columns))

        def fmt(row: Sequence[Any]) -> list[str]:
            return [self.format(col, row[i]) for i, col in pairs]

        return fmt
