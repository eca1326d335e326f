"""Prometheus sources against a real Prometheus serving recorded samples (devstack.prometheus):
a promql dataset becomes rows of time, labels and value in every format; headers come from the
Secret, with the URL they may go to; the URL passes the network guard; Prometheus' errors reach
the message."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import openpyxl
import pytest
import yaml
from bulletin import preview
from bulletin.api.errors import reason_of
from bulletin.api.podenv import ALLOW_PRIVATE_NETWORKS, PROMETHEUS_HEADERS, PROMETHEUS_URL
from bulletin.api.spec import ReportScheduleSpec
from bulletin.api.status import RunRecord, RunResult, Trigger
from bulletin.assembly.plan import ReportError
from bulletin.deliver.netguard import guarded_client
from bulletin.notify import explain
from bulletin.redact import delivery_secrets
from bulletin.runconfig import RunConfig
from bulletin.sources import prometheus as source
from bulletin.sources.prometheus import PrometheusError, from_spec, parse_headers
from delivery_support import context
from devstack.ports import HOST
from devstack.prometheus import PASSWORD, USER, Prometheus
from pypdf import PdfReader
from report_support import AT, build, make_spec

BERLIN = ZoneInfo("Europe/Berlin")
QUERY = "max_over_time(bulletin_queue_depth[1d])"
# AT's week in Berlin, one row per day at its end: max of the UTC day before (see queue_depths).
EXPECTED = [[f"2026-01-{day + 1:02d}T00:00:00+01:00", queue, str(float(factor * day))]
            for day in range(5, 12) for queue, factor in (("mail", 1), ("pdf", 10))]


def _spec(server: Prometheus, promql: str = QUERY, **overrides: Any) -> ReportScheduleSpec:
    prom = {"urlSecretRef": {"name": "prom", "key": "url"},
            "headersSecretRef": {"name": "prom", "key": "headers"}}
    return make_spec(source={"prometheus": prom},
                     datasets=[{"name": "queues", "promql": promql, "step": "1d"}],
                     report={"summaryDataset": None, "columns": None}, **overrides)


def _env(server: Prometheus, headers: str | None = None) -> dict[str, str]:
    return {ALLOW_PRIVATE_NETWORKS: f"{HOST}/32", PROMETHEUS_URL: server.url,
            PROMETHEUS_HEADERS: server.auth_header if headers is None else headers}


def _build(tmp_path: Path, spec: ReportScheduleSpec, env: dict[str, str]) -> Any:
    return build(tmp_path, spec, sample=None, prometheus=from_spec(spec, RunConfig.from_env(env),
                                                           guarded_client))


def _csv(path: Path) -> list[list[str]]:
    return list(csv.reader(path.open()))


def test_a_promql_dataset_becomes_time_labels_and_value(prometheus: Prometheus,
                                                        tmp_path: Path) -> None:
    spec = _spec(prometheus, formats=["csv", "xlsx", "pdf"])
    built = _build(tmp_path, spec, _env(prometheus))
    assert built.datasets == {"queues": 14}
    rows = _csv(tmp_path / "queues.csv")
    assert rows[0] == ["time", "queue", "value"]
    assert rows[1:] == EXPECTED
    sheet = openpyxl.load_workbook(tmp_path / "weekly-usage.xlsx")["queues"]
    assert [c.value for c in sheet[2]] == [dt.datetime(2026, 1, 6), "mail", 5]
    assert sheet["A2"].is_date
    text = "".join(p.extract_text() for p in PdfReader(tmp_path / "weekly-usage.pdf").pages)
    assert "Queues" in text and "pdf" in text and "110" in text


def test_long_periods_are_queried_in_pieces(prometheus: Prometheus, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(source, "MAX_POINTS", 3)  # 7 steps: pieces of 3, 3 and 1
    spec = _spec(prometheus)
    _build(tmp_path, spec, _env(prometheus))
    assert _csv(tmp_path / "queues.csv")[1:] == EXPECTED


def test_without_the_headers_prometheus_refuses(prometheus: Prometheus, tmp_path: Path) -> None:
    spec = _spec(prometheus)
    with pytest.raises(PrometheusError, match=r"dataset 'queues': PromQL failed: Prometheus"
                       rf" \({HOST}\): HTTP 401"):
        _build(tmp_path, spec, _env(prometheus, "X-Other: 1"))


def test_a_missing_headers_key_names_the_field(prometheus: Prometheus) -> None:
    with pytest.raises(PrometheusError, match=r"Secret 'prom' has no key 'headers'"
                       r" \(spec.source.prometheus.headersSecretRef\)"):
        from_spec(_spec(prometheus), RunConfig.from_env({ALLOW_PRIVATE_NETWORKS: f"{HOST}/32",
                                                         PROMETHEUS_URL: prometheus.url}),
                  guarded_client)


def test_the_url_passes_the_network_guard(prometheus: Prometheus, tmp_path: Path) -> None:
    spec = _spec(prometheus)
    # the operator allows no private address
    env = {PROMETHEUS_HEADERS: prometheus.auth_header, PROMETHEUS_URL: prometheus.url}
    with pytest.raises(PrometheusError, match=rf"Prometheus \({HOST}\): host {HOST} resolves to"
                       r" .*refused \(the operator can allow it with"
                       r" BULLETIN_ALLOW_PRIVATE_NETWORKS\); nothing was sent"):
        _build(tmp_path, spec, env)


def test_prometheus_errors_reach_the_message(prometheus: Prometheus, tmp_path: Path) -> None:
    spec = _spec(prometheus, promql="sum(rate(")
    with pytest.raises(PrometheusError, match=r"Prometheus \(.*\) refused the query \(HTTP 400\):"
                       r" bad_data: .*parse error"):
        _build(tmp_path, spec, _env(prometheus))


def test_preview_renders_a_saved_reply(prometheus: Prometheus, tmp_path: Path) -> None:
    """The sample file holds what Prometheus answered (curl .../api/v1/query_range > file)."""
    reply = httpx.get(f"{prometheus.url}/api/v1/query_range", auth=(USER, PASSWORD), params={
        "query": QUERY, "start": "1767654000", "end": "1768172400", "step": "86400"}).json()
    sample = tmp_path / "sample.yaml"
    sample.write_text(yaml.safe_dump({"datasets": {"queues": {"prometheus": reply}}}))
    manifest = tmp_path / "schedule.yaml"
    manifest.write_text(yaml.safe_dump({
        "apiVersion": "bulletin.dev/v1alpha1", "kind": "ReportSchedule",
        "metadata": {"name": "queues"},
        "spec": _spec(prometheus, formats=["csv"]).wire()}))
    out = tmp_path / "out"
    assert preview.main(["-f", str(manifest), "-o", str(out), "--sample", str(sample),
                         "--at", AT.isoformat()]) == 0
    assert _csv(out / "queues.csv")[1:] == EXPECTED
    sample.write_text(json.dumps({"datasets": {"queues": {"prometheus": {"data": []}}}}))
    assert preview.main(["-f", str(manifest), "-o", str(out), "--sample", str(sample),
                         "--at", AT.isoformat()]) == 1


def test_preview_queries_prometheus_itself(prometheus: Prometheus, tmp_path: Path) -> None:
    manifest, headers = tmp_path / "schedule.yaml", tmp_path / "headers"
    manifest.write_text(yaml.safe_dump({
        "apiVersion": "bulletin.dev/v1alpha1", "kind": "ReportSchedule",
        "metadata": {"name": "queues"}, "spec": _spec(prometheus, formats=["csv"]).wire()}))
    headers.write_text(prometheus.auth_header + "\n")
    out = tmp_path / "out"
    argv = ["-f", str(manifest), "-o", str(out), "--at", AT.isoformat()]
    assert preview.main(argv) == 2  # the URL is in a Secret: --prometheus-url gives it
    argv += ["--prometheus-url", prometheus.url]
    assert preview.main([*argv, "--prometheus-headers", str(headers)]) == 0
    assert _csv(out / "queues.csv")[1:] == EXPECTED
    assert preview.main(argv) == 1  # no headers: 401


def test_header_values_are_redacted() -> None:
    found = delivery_secrets({PROMETHEUS_HEADERS: "Authorization: Bearer tok-123\nX-Org: a1b2"})
    assert "Bearer tok-123" in found and "a1b2" in found


def test_values_and_labels() -> None:
    columns, rows = source.matrix_rows([
        {"metric": {"job": "a", "value": "x"}, "values": [[1767654000, "NaN"], [1767654060, "2"]]},
        {"metric": {"job": "b"}, "values": [[1767654000, "+Inf"]]}], BERLIN)
    assert columns == ["time", "job", "label_value", "value"]
    at = dt.datetime(2026, 1, 6, tzinfo=BERLIN)
    assert list(rows) == [(at, "a", "x", None), (at, "b", "", None),
                          (at + dt.timedelta(minutes=1), "a", "x", 2.0)]


def test_headers_and_spec_rules() -> None:
    assert parse_headers("Authorization: Bearer a:b\n\nX-Scope-OrgID: t1\n") == {
        "Authorization": "Bearer a:b", "X-Scope-OrgID": "t1"}
    with pytest.raises(PrometheusError, match="line 1 is not `Name: value`"):
        parse_headers("Bearer abc")
    prom = {"prometheus": {"url": "http://prom:9090"}}
    with pytest.raises(ValueError, match="exactly one of query"):
        make_spec(source=prom, datasets=[{"name": "a", "query": "x", "promql": "up"}])
    with pytest.raises(ValueError, match=r"promql dataset needs spec\.source\.prometheus"):
        make_spec(datasets=[{"name": "a", "promql": "up"}],
                  report={"summaryDataset": None, "columns": None})
    with pytest.raises(ValueError, match="query \\(SQL\\) dataset needs"):
        make_spec(source=prom)
    with pytest.raises(ValueError, match="step applies to promql"):
        make_spec(datasets=[{"name": "a", "query": "x", "step": "1h"}])
    with pytest.raises(ValueError, match="step"):
        make_spec(source=prom, datasets=[{"name": "a", "promql": "up", "step": "1 hour"}])


def test_a_burst_recipient_gets_the_series_of_their_labels(prometheus: Prometheus,
                                                           tmp_path: Path) -> None:
    spec = _spec(prometheus)
    env = RunConfig.from_env(_env(prometheus))
    build(tmp_path / "mail", spec, sample=None, prometheus=from_spec(spec, env, guarded_client),
          params={"queue": "mail"})
    assert _csv(tmp_path / "mail" / "queues.csv")[1:] == [r for r in EXPECTED if r[1] == "mail"]
    with pytest.raises(ReportError, match=r"the result has no label region"):
        build(tmp_path / "x", spec, sample=None,
              prometheus=from_spec(spec, env, guarded_client), params={"region": "eu"})


def test_a_promql_summary_compares_with_the_previous_period(prometheus: Prometheus,
                                                            tmp_path: Path) -> None:
    spec = _spec(prometheus)
    spec.report.summary_dataset = "peak"
    spec.datasets.append(spec.datasets[0].model_copy(update={
        "name": "peak", "promql": 'max_over_time(bulletin_queue_depth{queue="mail"}[7d])',
        "step": "7d"}))
    built = _build(tmp_path, spec, _env(prometheus))
    kpis = {k.name: k for k in built.kpis}
    # Evaluated at each period's end: the mail queue's UTC days 11 and 4.
    assert (kpis["value"].value, kpis["value"].previous, kpis["value"].direction) == (
        11, 4, "up")


def test_a_failure_notice_points_at_the_prometheus_source(tmp_path: Path) -> None:
    failure = PrometheusError("dataset 'queues': PromQL failed: Prometheus (p): HTTP 401")
    record = RunRecord(run_id="r1", trigger=Trigger.SCHEDULED, start_time=AT,
                       result=RunResult.FAILED, message=str(failure), reason=reason_of(failure))
    text = explain(context({}, tmp_path), record)
    assert "How to fix: check the dataset's PromQL, spec.source.prometheus" in text
    assert "SQL" not in text


@pytest.mark.parametrize("prom", [
    {"url": "http://listener.example:9090", "headersSecretRef": {"name": "prom", "key": "h"}},
    {"urlSecretRef": {"name": "mine", "key": "url"},
     "headersSecretRef": {"name": "other-team", "key": "headers"}},
])
def test_headers_go_only_to_the_url_of_their_own_secret(prom: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"headersSecretRef: headers go only to the URL of"
                       r" their own Secret"):
        make_spec(source={"prometheus": prom}, datasets=[{"name": "a", "promql": "up"}],
                  report={"summaryDataset": None, "columns": None})


def test_a_secret_url_that_is_no_url_is_named_without_its_value(prometheus: Prometheus,
                                                                 tmp_path: Path) -> None:
    spec = _spec(prometheus)
    env = {**_env(prometheus), PROMETHEUS_URL: "postgresql://app:s3cret@db:5432/app"}
    with pytest.raises(PrometheusError) as caught:
        _build(tmp_path, spec, env)
    assert "the URL of spec.source.prometheus (url or urlSecretRef) is not an http(s) URL" in str(
        caught.value)
    assert "s3cret" not in str(caught.value) and "db:5432" not in str(caught.value)
