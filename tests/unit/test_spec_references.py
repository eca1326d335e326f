"""Every field naming a dataset must name one of spec.datasets: the model (the operator's
reconcile) refuses a dangling one with the field and the datasets there are, and the CRD carries
the same check as a CEL rule for admission (tests/integration/test_api.py runs it)."""

from __future__ import annotations

from typing import Any

import pytest
from bulletin.api.datasetrefs import CEL_RULES, FIELDS
from bulletin.api.errors import describe
from bulletin.api.spec import ReportScheduleSpec
from pydantic import ValidationError
from support import report_schedule

CHART = {"kind": "bar", "x": "a", "y": ["b"]}


def _spec(**extra: Any) -> dict[str, Any]:
    spec = report_schedule("x", **extra)["spec"]
    spec["datasets"] = [{"name": "main", "query": "SELECT 1"},
                        {"name": "kpis", "query": "SELECT 2"}]
    return spec


@pytest.mark.parametrize(("extra", "field"), [
    ({"report": {"summaryDataset": "kpi"}}, "spec.report.summaryDataset"),
    ({"report": {"charts": [{**CHART, "dataset": "main"}, {**CHART, "dataset": "mian"}]}},
     "spec.report.charts[1].dataset"),
    ({"report": {"columns": {"totals": [{"name": "a"}]}}}, "spec.report.columns.totals"),
    ({"gates": {"minRows": [{"dataset": "other", "min": 1}]}}, "spec.gates.minRows[0].dataset"),
])
def test_a_dangling_dataset_reference_is_refused_naming_field_and_datasets(
        extra: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ReportScheduleSpec.model_validate(_spec(**extra))
    message = describe(caught.value)
    assert message.startswith(f"{field}: no dataset is named"), message
    assert "(main, kpis)" in message


def test_references_that_resolve_are_accepted() -> None:
    spec = ReportScheduleSpec.model_validate(_spec(
        report={"summaryDataset": "kpis", "charts": [{**CHART, "dataset": "main"}],
                "columns": {"main": [{"name": "a"}]}},
        gates={"minRows": [{"dataset": "main", "min": 2}]}))
    assert spec.report.summary_dataset == "kpis"


def test_the_crd_checks_each_field_at_admission() -> None:
    crd_rules = ReportScheduleSpec.model_json_schema()["x-kubernetes-validations"]
    assert [r for r in crd_rules if r in CEL_RULES] == CEL_RULES
    assert len(CEL_RULES) == len(FIELDS) == 4
