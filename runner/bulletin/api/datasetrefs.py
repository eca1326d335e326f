"""Fields that name a dataset (spec.report.summaryDataset, spec.report.charts[].dataset,
spec.report.columns keys, spec.gates.minRows[].dataset): each must name one of spec.datasets.

Checked twice from the same table: by the API server at admission (CEL rules on the spec) and
by the model (the operator's reconcile), whose message also lists the datasets there are.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

_EXISTS = "self.datasets.exists(d, d.name == {})"


class DatasetField(NamedTuple):
    """One kind of field naming a dataset: its path and its CEL rule."""

    path: str
    rule: str


FIELDS = (
    DatasetField("spec.report.summaryDataset",
                 "!has(self.report) || !has(self.report.summaryDataset) || "
                 + _EXISTS.format("self.report.summaryDataset")),
    DatasetField("spec.report.charts[].dataset",
                 "!has(self.report) || !has(self.report.charts) || self.report.charts.all(c, "
                 + _EXISTS.format("c.dataset") + ")"),
    DatasetField("spec.report.columns",
                 "!has(self.report) || !has(self.report.columns) || self.report.columns.all(k, "
                 + _EXISTS.format("k") + ")"),
    DatasetField("spec.gates.minRows[].dataset",
                 "!has(self.gates) || !has(self.gates.minRows) || self.gates.minRows.all(m, "
                 + _EXISTS.format("m.dataset") + ")"),
)

CEL_RULES: list[Any] = [
    {"rule": f.rule, "message": f"{f.path}: name one of spec.datasets"} for f in FIELDS]


def named(spec: Any) -> Iterator[tuple[str, str]]:
    """Each (field, dataset name) a spec's fields name, in spec order."""
    report, gates = spec.report, spec.gates
    if report.summary_dataset is not None:
        yield "spec.report.summaryDataset", report.summary_dataset
    for i, chart in enumerate(report.charts):
        yield f"spec.report.charts[{i}].dataset", chart.dataset
    for key in report.columns or {}:
        yield f"spec.report.columns.{key}", key
    for i, rule in enumerate(gates.min_rows):
        yield f"spec.gates.minRows[{i}].dataset", rule.dataset


def dangling(spec: Any) -> str | None:
    """Why a field names no dataset of the spec, or None when every one resolves."""
    names = [d.name for d in spec.datasets]
    for field, name in named(spec):
        if name not in names:
            return (f"{field}: no dataset is named {name!r}; name one of spec.datasets"
                    f" ({', '.join(names)})")
    return None
