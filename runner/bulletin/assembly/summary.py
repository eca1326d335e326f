"""The XLSX Summary sheet: the report, its period, KPIs and rows per dataset."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bulletin.assembly.plan import Collected, Plan, period_label
from bulletin.render.columns import ColumnInfo
from bulletin.render.kpis import Kpi

if TYPE_CHECKING:
    from bulletin.render.xlsx import Workbook


def summary_sheet(plan: Plan, book: Workbook, collected: Sequence[Collected],
                  kpis: Sequence[Kpi], sheets: Mapping[str, list[str]]) -> None:
    """Write the Summary sheet, first in ``book``."""
    from bulletin.api.report import ColumnType

    headers = ["Item", "Value", "Previous period", "Change", "Change %"]
    sheet = book.sheet("Summary", [ColumnInfo(h, label=h) for h in headers], first=True,
                       autofilter=False)
    sheet.widths = [30, 22, 22, 16, 12]
    cell = book.cell
    ratio = ColumnInfo("ratio", type=ColumnType.PERCENT)
    period = plan.period
    rows = [
        [cell("Report", None), cell(plan.title, None)],
        [cell("Period", None), cell(period_label(period.start, period.end), None),
         cell(period_label(period.previous_start, period.previous_end), None)],
        [cell("Time zone", None), cell(plan.period.time_zone, None)],
        [cell("Generated", None),
         cell(datetime.now(UTC).astimezone(plan.tz).replace(tzinfo=None), None)],
        [],
    ]
    summary = next((c for c in collected if c.dataset.name == plan.summary), None)
    columns = {c.name: c for c in summary.columns} if summary else {}
    for kpi in kpis:
        column = columns[kpi.name]
        rows.append([cell(kpi.label, None), cell(kpi.value, column),
                     cell(kpi.previous, column),
                     cell(kpi.change, column), cell(kpi.ratio, ratio)])
    if kpis:
        rows.append([])
    for found in collected:
        rows.append([cell(f"Rows in {found.dataset.name}", None), cell(found.rows, None),
                     cell("sheet " + ", ".join(sheets.get(found.dataset.name, [])), None)])
    sheet.write_cells(rows)
    sheet.close()
