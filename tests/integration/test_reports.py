"""Every format through the real pipeline, with templates from a ConfigMap the pod mounts."""

from __future__ import annotations

import io

import openpyxl
from devstack.mailsink import MailSink
from devstack.operatorproc import OperatorProcess
from devstack.postgres import Postgres
from kubernetes import client
from pypdf import PdfReader
from support import USABLE, Cluster, create_secrets, event_messages, report_schedule, run_now


def test_all_formats_with_custom_templates_from_a_configmap(
    cluster: Cluster, operator: OperatorProcess, namespace: str, postgres: Postgres,
    smtp: MailSink,
) -> None:
    postgres.execute(
        "DROP TABLE IF EXISTS sales; CREATE TABLE sales (region text, revenue numeric(10,2));"
        " INSERT INTO sales VALUES ('north', 1200.50), ('south', 800.25), ('east', 430.00);")
    create_secrets(cluster, namespace, postgres.url, smtp.port)
    cluster.core.create_namespaced_config_map(namespace, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="brand", labels=USABLE),
        data={"subject.txt": "Sales {{ period.label }} ({{ title }})"}))
    cluster.create_rs(namespace, report_schedule(
        "sales", formats=["csv", "xlsx", "pdf", "html"],
        datasets=[{"name": "sales", "query": "SELECT region, revenue FROM sales ORDER BY 1"}],
        report={"title": "Sales by region", "templateConfigMapRef": {"name": "brand"},
                "columns": {"sales": [{"name": "revenue", "type": "money",
                                       "currency": "EUR"}]}}))
    last = run_now(cluster, namespace, "sales", "all")["lastRun"]
    assert last["result"] == "Succeeded", last
    assert last["rows"] == 3

    (_rcpt, msg), = smtp.messages
    assert str(msg["Subject"]).startswith("Sales ") and "(Sales by region)" in msg["Subject"]
    files: dict[str | None, bytes] = {
        part.get_filename(): part.get_content() for part in msg.iter_attachments()}
    assert set(files) == {"sales.csv", "sales.xlsx", "sales.pdf"}
    sheet = openpyxl.load_workbook(io.BytesIO(files["sales.xlsx"]))["sales"]
    assert [c.value for c in sheet[1]] == ["Region", "Revenue"]  # labels from the names
    assert (sheet["A2"].value, sheet["B2"].value) == ("east", 430)
    assert "€" in sheet["B2"].number_format
    pdf = PdfReader(io.BytesIO(files["sales.pdf"]))
    assert "north" in "".join(page.extract_text() for page in pdf.pages)
    html = msg.get_body(("html",))
    assert html is not None and "north" in html.get_content()


def test_data_gates_skip_delivery_with_the_reason(
    cluster: Cluster, operator: OperatorProcess, namespace: str, postgres: Postgres,
    smtp: MailSink,
) -> None:
    create_secrets(cluster, namespace, postgres.url, smtp.port)
    cluster.create_rs(namespace, report_schedule(
        "quiet", datasets=[{"name": "main", "query": "SELECT 1 AS one WHERE false"}],
        gates={"skipIfEmpty": True}))
    status = run_now(cluster, namespace, "quiet", "empty")
    last = status["lastRun"]
    assert last["result"] == "Skipped"
    assert last["message"] == "delivery skipped: every dataset is empty (gates.skipIfEmpty)"
    assert status["consecutiveFailures"] == 0
    assert smtp.messages == []
    assert event_messages(cluster, namespace, "RunSkipped", lambda e: e.type == "Normal")
    events = cluster.core.list_namespaced_event(namespace, field_selector="reason=RunSkipped")
    assert [e.type for e in events.items] == ["Normal"]

    cluster.patch_rs(namespace, "quiet", {"spec": {
        "datasets": [{"name": "main", "query": "SELECT 1 AS one"}],
        "gates": {"assertions": [{"name": "loaded", "query": "SELECT false"}]}}})
    last = run_now(cluster, namespace, "quiet", "asserted")["lastRun"]
    assert (last["result"], last["message"]) == (
        "Skipped", "delivery skipped: assertion 'loaded' does not hold (got False)")
    assert smtp.messages == []


def test_namespace_allowlist_blocks_other_domains(
    cluster: Cluster, operator: OperatorProcess, namespace: str, postgres: Postgres,
    smtp: MailSink,
) -> None:
    cluster.core.patch_namespace(namespace, {"metadata": {"annotations": {
        "bulletin.dev/allowed-email-domains": "example.org"}}})
    create_secrets(cluster, namespace, postgres.url, smtp.port)
    cluster.create_rs(namespace, report_schedule("fenced"))  # sends to team@example.com
    last = run_now(cluster, namespace, "fenced", "t")["lastRun"]
    assert last["result"] == "Failed"
    assert "recipients outside the allowed domains (namespace: example.org)" in last["message"]
    assert "team@example.com" in last["message"]
    assert smtp.messages == []
