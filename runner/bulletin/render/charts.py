"""Charts: series gathered while rows stream by, drawn with matplotlib (SVG for the PDF, PNG for
email). matplotlib is imported only when a chart is drawn."""

from __future__ import annotations

import base64
import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from bulletin.api.errors import RenderError
from bulletin.api.report import Chart, ChartKind, ColumnType
from bulletin.render.columns import NUMERIC, ColumnInfo, Formatter, to_number

MAX_KEYS = 5000  # distinct x values kept per chart; later new ones are counted, not kept
BAR_LIMIT = 15
PIE_LIMIT = 7
PALETTE = ["#1f5f99", "#e07b00", "#2e8540", "#b8336a", "#6b4fbb", "#8a6d00", "#00807f", "#555"]


class ChartError(RenderError, ValueError):
    """A declared chart names columns the dataset does not have."""


@dataclass
class ChartSeries:
    """Sums of the y columns per x value, in first-seen order (bounded)."""

    chart: Chart
    x_index: int
    y_indexes: list[int]
    x_column: ColumnInfo
    y_columns: list[ColumnInfo]
    sums: dict[Any, list[float]] = field(default_factory=dict)
    dropped: int = 0

    def add(self, batch: Sequence[Sequence[Any]]) -> None:
        """Accumulate a batch of rows."""
        sums, xi, yis = self.sums, self.x_index, self.y_indexes
        for row in batch:
            key = row[xi]
            totals = sums.get(key)
            if totals is None:
                if len(sums) >= MAX_KEYS:
                    self.dropped += 1
                    continue
                totals = sums[key] = [0.0] * len(yis)
            for n, yi in enumerate(yis):
                value = row[yi]
                if value is not None:
                    number = to_number(value)
                    if number is not None:
                        totals[n] += float(number)

    def title(self) -> str:
        if self.chart.title:
            return self.chart.title
        names = ", ".join(c.label for c in self.y_columns)
        return f"{names} by {self.x_column.label.lower()}"

    def points(self) -> list[tuple[Any, list[float]]]:
        """The points to draw: sorted by x for lines, largest first (top N) for bars and pies."""
        items = list(self.sums.items())
        kind = self.chart.kind
        if kind is ChartKind.LINE:
            return sorted(items, key=lambda kv: _sort_key(kv[0]))
        items.sort(key=lambda kv: -sum(kv[1]))
        limit = BAR_LIMIT if kind is ChartKind.BAR else PIE_LIMIT
        if len(items) > limit:
            rest = items[limit - 1:] if kind is ChartKind.PIE else []
            items = items[: limit - 1] if kind is ChartKind.PIE else items[:limit]
            if rest:
                width = len(rest[0][1])
                items.append(("Other", [sum(v[n] for _, v in rest) for n in range(width)]))
        return items

    def describe(self, formatter: Formatter) -> str:
        """A text alternative: what is plotted and its main values."""
        points = self.points()
        if not points:
            return f"{self.title()}: no data for this period."
        ys = self.y_columns
        if self.chart.kind is ChartKind.LINE:
            first, last = points[0], points[-1]
            parts = []
            for n, col in enumerate(ys):
                values = [v[n] for _, v in points]
                high = max(range(len(values)), key=values.__getitem__)
                parts.append(
                    f"{col.label} goes from {formatter.format(col, values[0])} "
                    f"({self._x(first[0], formatter)}) to {formatter.format(col, values[-1])} "
                    f"({self._x(last[0], formatter)}), highest "
                    f"{formatter.format(col, values[high])} on "
                    f"{self._x(points[high][0], formatter)}")
            return f"Line chart, {self.title()}, {len(points)} points: " + "; ".join(parts) + "."
        kind = "Bar chart" if self.chart.kind is ChartKind.BAR else "Pie chart"
        shown = points[:5]
        listed = "; ".join(
            f"{self._x(x, formatter)}: "
            + ", ".join(formatter.format(col, v[n]) for n, col in enumerate(ys))
            for x, v in shown)
        more = f" and {len(points) - len(shown)} more" if len(points) > len(shown) else ""
        return f"{kind}, {self.title()}: {listed}{more}."

    def _x(self, value: Any, formatter: Formatter) -> str:
        return formatter.format(self.x_column, value) or "(none)"


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, 0)
    if isinstance(value, dt.datetime):
        return (1, value.timestamp() if value.tzinfo else value.toordinal())
    if isinstance(value, dt.date):
        return (1, value.toordinal())
    if isinstance(value, int | float | Decimal):
        return (1, float(value))
    return (2, str(value))


def series_for(chart: Chart, columns: Sequence[ColumnInfo]) -> ChartSeries:
    """Accumulator for ``chart`` over a dataset with ``columns``; ChartError on unknown names."""
    index = {c.name: i for i, c in enumerate(columns)}
    missing = [n for n in [chart.x, *chart.y] if n not in index]
    if missing:
        raise ChartError(f"chart on dataset {chart.dataset!r}: no column(s) {', '.join(missing)}"
                         f" (columns: {', '.join(index)})")
    return ChartSeries(chart=chart, x_index=index[chart.x], y_indexes=[index[y] for y in chart.y],
                       x_column=columns[index[chart.x]],
                       y_columns=[columns[index[y]] for y in chart.y])


def default_chart(dataset: str, columns: Sequence[ColumnInfo]) -> Chart | None:
    """The built-in template's chart: the first numeric column over the first date (a line) or
    text column (a bar), or None when the dataset has no such pair."""
    measures = [c for c in columns if c.kind in NUMERIC and c.kind is not ColumnType.PERCENT
                and not c.name.lower().endswith("id")]
    dates = [c for c in columns if c.kind in (ColumnType.DATE, ColumnType.DATETIME)]
    labels = [c for c in columns if c.kind is ColumnType.TEXT]
    if not measures or not (dates or labels):
        return None
    if dates:
        return Chart(kind=ChartKind.LINE, dataset=dataset, x=dates[0].name, y=[measures[0].name])
    return Chart(kind=ChartKind.BAR, dataset=dataset, x=labels[0].name, y=[measures[0].name])


@dataclass
class DrawnChart:
    """A chart ready for templates: title, text alternative and the image."""

    title: str
    alt: str
    svg: bytes = b""  # vector image (PDF)
    png: bytes = b""  # email
    cid: str = ""  # Content-ID of the PNG in the email

    @property
    def svg_src(self) -> str:
        """The SVG as a data: URL for <img src>."""
        return "data:image/svg+xml;base64," + base64.b64encode(self.svg).decode()


def draw(series: ChartSeries, formatter: Formatter, *, svg: bool, png: bool,
         width: float = 7.0, height: float = 2.8) -> DrawnChart:
    """Draw ``series`` as SVG and/or PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    drawn = DrawnChart(title=series.title(), alt=series.describe(formatter))
    points = series.points()
    plt.rcParams.update({"font.family": "DejaVu Sans", "font.size": 9, "svg.fonttype": "path",
                         "axes.spines.top": False, "axes.spines.right": False,
                         "axes.edgecolor": "#888", "axes.titleweight": "bold"})
    fig, ax = plt.subplots(figsize=(width, height))
    try:
        labels = [series._x(x, formatter) for x, _ in points]
        kind = series.chart.kind
        if not points:
            ax.text(0.5, 0.5, "No data for this period", ha="center", va="center",
                    transform=ax.transAxes, color="#555")
            ax.set_axis_off()
        elif kind is ChartKind.PIE:
            values = [max(v[0], 0.0) for _, v in points]
            ax.pie(values, labels=labels, colors=PALETTE[: len(values)], startangle=90,
                   counterclock=False, wedgeprops={"linewidth": 1, "edgecolor": "white"},
                   autopct=lambda p: f"{p:.0f}%" if p >= 4 else "",
                   textprops={"fontsize": 8})
            ax.axis("equal")
        else:
            _plot_xy(ax, series, points, labels, formatter)
        ax.set_title(drawn.title, loc="left", fontsize=10)
        fig.tight_layout()
        if svg:
            vector = io.BytesIO()
            fig.savefig(vector, format="svg", metadata={"Title": drawn.title})
            drawn.svg = vector.getvalue()
        if png:
            raw = io.BytesIO()
            fig.savefig(raw, format="png", dpi=150)
            drawn.png = raw.getvalue()
    finally:
        plt.close(fig)
    return drawn


def _plot_xy(ax: Any, series: ChartSeries, points: list[tuple[Any, list[float]]],
             labels: list[str], formatter: Formatter) -> None:
    """Lines or bars, one per y column, over the x labels."""
    from matplotlib.ticker import FuncFormatter

    kind = series.chart.kind
    y0 = series.y_columns[0]
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: formatter.format(y0, v)))
    ax.grid(axis="y", color="#ddd", linewidth=0.6)
    ax.set_axisbelow(True)
    positions = list(range(len(points)))
    width_each = 0.8 / len(series.y_columns)
    for n, col in enumerate(series.y_columns):
        values = [v[n] for _, v in points]
        if kind is ChartKind.LINE:
            ax.plot(positions, values, color=PALETTE[n % len(PALETTE)], linewidth=1.8,
                    marker="o" if len(points) <= 40 else None, markersize=3,
                    label=col.label)
        else:
            offsets = [p - 0.4 + width_each * (n + 0.5) for p in positions]
            ax.bar(offsets, values, width=width_each, color=PALETTE[n % len(PALETTE)],
                   label=col.label)
    step = max(1, len(points) // 12)
    ax.set_xticks(positions[::step], labels[::step],
                  rotation=30 if max((len(s) for s in labels), default=0) > 6 else 0,
                  ha="right" if max((len(s) for s in labels), default=0) > 6 else "center")
    if len(series.y_columns) > 1:
        ax.legend(frameon=False)
