"""KPIs: the summary dataset's single row, compared with the same query for the previous period."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bulletin.api.report import ColumnType
from bulletin.render.columns import ColumnInfo, Formatter, to_number


@dataclass
class Kpi:
    """One key figure with its change against the previous period."""

    name: str
    label: str
    value: Any
    previous: Any
    change: float | None  # value - previous, for numeric KPIs
    ratio: float | None  # change / |previous|, when previous is not zero
    direction: str | None  # "up", "down", "flat", or None when not comparable
    value_text: str
    previous_text: str
    change_text: str  # e.g. "▲ up 12.5 %"
    trend_text: str  # e.g. "▲ up 12.5 % from 1,200"


def compute_kpis(columns: Sequence[ColumnInfo], current: Sequence[Any] | None,
                 previous: Sequence[Any] | None, formatter: Formatter) -> list[Kpi]:
    """KPIs for each column of the summary row (empty when the query returned no row)."""
    if current is None:
        return []
    kpis = []
    for i, column in enumerate(columns):
        value = current[i]
        before = previous[i] if previous is not None and i < len(previous) else None
        kpis.append(_kpi(column, value, before, formatter))
    return kpis


def _kpi(column: ColumnInfo, value: Any, before: Any, formatter: Formatter) -> Kpi:
    kpi = Kpi(name=column.name, label=column.label, value=value, previous=before, change=None,
              ratio=None, direction=None, value_text=formatter.format(column, value) or "\u2013",
              previous_text=formatter.format(column, before) or "none", change_text="",
              trend_text="")
    now, then = to_number(value), to_number(before)
    if not column.numeric or now is None:
        if before is not None:
            kpi.trend_text = f"previously {kpi.previous_text}"
        return kpi
    if then is None:
        kpi.change_text = kpi.trend_text = "no previous value"
        return kpi
    kpi.change = float(now) - float(then)
    if then:
        kpi.ratio = kpi.change / abs(float(then))
    kpi.direction = "up" if kpi.change > 0 else "down" if kpi.change < 0 else "flat"
    if kpi.direction == "flat":
        kpi.change_text = "no change"
        kpi.trend_text = f"no change from {kpi.previous_text}"
        return kpi
    arrow = "▲ up" if kpi.direction == "up" else "▼ down"
    if column.kind is ColumnType.PERCENT:
        amount = formatter.number(abs(kpi.change) * 100, column.places()) + " pts"
    elif kpi.ratio is not None:
        amount = formatter.number(abs(kpi.ratio) * 100, 1) + "\u00a0%"
    else:
        amount = formatter.format(column, abs(kpi.change))
    kpi.change_text = f"{arrow} {amount}"
    kpi.trend_text = f"{kpi.change_text} from {kpi.previous_text}"
    return kpi
