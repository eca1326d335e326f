"""build_report end to end from sample data and SQLite: datasets, types, KPIs, errors, and
that a CSV-only run loads no rendering library."""

from __future__ import annotations

import csv
import datetime as dt
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import openpyxl
import pytest
from bulletin.assembly.plan import ReportError
from bulletin.query import QueryError
from bulletin.render.charts import ChartError
from report_support import build, make_spec
from sqlalchemy import create_engine, text


def test_csv_and_xlsx_with_kpis(tmp_path: Path) -> None:
    messages: list[str] = []
    built = build(tmp_path, make_spec(formats=["csv", "xlsx"]), progress=messages.append)
    assert [(a.path.name, a.format) for a in built.artifacts] == [
        ("weekly-usage.zip", "csv"), ("weekly-usage.xlsx", "xlsx")]
    assert built.datasets == {"usage": 12, "totals": 1} and built.rows == 13
    assert built.bytes == sum(a.path.stat().st_size for a in built.artifacts)
    assert "usage: 12 rows" in messages
    kpis = {k.name: k for k in built.kpis}
    assert kpis["requests"].direction == "up" and kpis["requests"].ratio == pytest.approx(0.2)
    assert kpis["requests"].change_text == "▲ up 20.0\u00a0%"
    assert kpis["cost"].value_text == "€99.50" and kpis["cost"].direction == "down"
    assert kpis["users"].direction == "flat"
    assert built.email.html is None  # html is not in spec.formats
    assert "Requests: 1,200 (▲ up 20.0\u00a0% from 1,000)" in built.email.text
    assert built.email.subject == "Weekly usage: 2026-01-05 \u2013 2026-01-11"

    wb = openpyxl.load_workbook(tmp_path / "weekly-usage.xlsx")
    assert wb.sheetnames == ["Summary", "usage", "totals"]
    summary = {row[0].value: [c.value for c in row[1:]] for row in wb["Summary"].iter_rows()}
    assert summary["Cost"][:2] == [99.5, 110]
    assert summary["Requests"][3] == pytest.approx(0.2)
    assert summary["Rows in usage"][:2] == [12, "sheet usage"]
    assert wb["usage"]["A2"].value == dt.datetime(2026, 1, 5)


def test_declared_columns_must_exist(tmp_path: Path) -> None:
    spec = make_spec(report={"columns": {"usage": [{"name": "costs", "type": "money"}]}})
    with pytest.raises(ReportError, match=r"columns\[usage\].*costs"):
        build(tmp_path, spec)


def test_references_to_unknown_datasets_fail_early(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="summaryDataset: no dataset is named 'total'"):
        make_spec(report={"summaryDataset": "total"})
    spec = make_spec(formats=["pdf"], report={"charts": [
        {"kind": "bar", "dataset": "usage", "x": "user", "y": ["requests"]}]})
    with pytest.raises(ChartError, match=r"no column.*user"):
        build(tmp_path, spec)


def test_query_failures_keep_the_database_message(tmp_path: Path) -> None:
    db = tmp_path / "data.db"
    engine = create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE usage (day date, requests int)"))
        conn.execute(text("INSERT INTO usage VALUES ('2026-01-05', 3), ('2026-01-06', 4)"))
    engine.dispose()
    spec = make_spec(datasets=[{"name": "usage", "query": "SELECT * FROM usage"}],
                     report={"summaryDataset": None, "columns": None})
    built = build(tmp_path / "ok", spec, db_url=f"sqlite:///{db}")
    rows = list(csv.reader((tmp_path / "ok" / "usage.csv").open()))
    assert rows == [["day", "requests"], ["2026-01-05", "3"], ["2026-01-06", "4"]]
    assert built.datasets == {"usage": 2}
    bad = make_spec(datasets=[{"name": "usage", "query": "SELECT * FROM nope"}],
                    report={"summaryDataset": None, "columns": None})
    with pytest.raises(QueryError, match=r"dataset 'usage': query failed: .*no such table: nope"):
        build(tmp_path / "bad", bad, db_url=f"sqlite:///{db}")


def test_a_csv_only_run_loads_no_rendering_library(tmp_path: Path) -> None:
    data = tmp_path / "sample.json"
    data.write_text(json.dumps({"datasets": {"usage": [{"a": 1, "b": "x"}]}}))
    script = textwrap.dedent(f"""
        import datetime as dt, json, sys
        from pathlib import Path
        from bulletin.api.spec import ReportScheduleSpec
        from bulletin.period import compute
        from bulletin.report import build_report
        from bulletin.schedule import zone
        spec = ReportScheduleSpec.model_validate({{
            "schedule": {{"daily": {{"at": "09:00"}}}},
            "source": {{"connectionSecretRef": {{"name": "db", "key": "url"}}}},
            "datasets": [{{"name": "usage", "query": "SELECT 1"}}],
            "formats": ["csv"],
            "delivery": {{"email": {{"smtpSecretRef": {{"name": "s"}}, "to": ["a@b.c"]}}}}}})
        period = compute(spec.period_kind(), dt.datetime.now(dt.UTC), zone(spec.schedule))
        built = build_report(spec, schedule_name="s", namespace="n", period=period, db_url=None,
                             outdir=Path({str(tmp_path / 'out')!r}), templates_dir=None,
                             sample=json.loads(Path({str(data)!r}).read_text()))
        heavy = sorted(m for m in ("weasyprint", "openpyxl", "matplotlib", "xlsxwriter",
                                   "pypdf", "kopf") if m in sys.modules)
        print(json.dumps({{"heavy": heavy, "files": [a.path.name for a in built.artifacts]}}))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True)
    assert json.loads(result.stdout) == {"heavy": [], "files": ["usage.csv"]}
