"""End to end on the real node: a run pod reports from MariaDB (the image's MySQL driver) and
from Prometheus (headers from a Secret), for a fixed period, and the email carries the rows."""

from __future__ import annotations

import csv
import io
from email.message import EmailMessage

import pytest
from devstack.mailsink import MailSink
from devstack.mariadb import MariaDB
from devstack.operatorproc import OperatorProcess
from devstack.prometheus import Prometheus
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from support import USABLE, Cluster, create_secrets, report_schedule, run_now, wait_for

WEEK = {"period": "2026-W02"}  # 2026-01-05 .. 2026-01-11 in Europe/Berlin


def _csv(msg: EmailMessage) -> list[list[str]]:
    attachments = list(msg.iter_attachments())
    assert [a.get_filename() for a in attachments] == ["main.csv"]
    payload = attachments[0].get_content()
    return list(csv.reader(io.StringIO(payload.decode() if isinstance(payload, bytes)
                                       else payload)))


def test_a_report_from_mariadb(cluster: Cluster, operator: OperatorProcess, namespace: str,
                               mariadb: MariaDB, smtp: MailSink) -> None:
    table = f"orders_{namespace.replace('-', '_')}"
    mariadb.execute(f"CREATE TABLE {table} (placed DATETIME, region VARCHAR(20),"
                    " total DECIMAL(10, 2)); INSERT INTO " + table + " VALUES"
                    " ('2026-01-04 23:59:00', 'north', 1.00), ('2026-01-05 00:00:00', 'north',"
                    " 12.50), ('2026-01-11 23:00:00', 'south', 7.25),"
                    " ('2026-01-12 00:00:00', 'south', 1.00)")
    create_secrets(cluster, namespace, mariadb.url, smtp.port)
    query = (f"SELECT placed, region, total FROM {table} WHERE placed >= :period_start"
             " AND placed < :period_end ORDER BY placed")
    cluster.create_rs(namespace, report_schedule("orders", datasets=[
        {"name": "main", "query": query}]))
    last = run_now(cluster, namespace, "orders", "maria", WEEK)["lastRun"]
    assert last["result"] == "Succeeded", last
    assert last["rows"] == 2
    wait_for(lambda: smtp.messages, "the email")
    assert _csv(smtp.messages[0][1]) == [["placed", "region", "total"],
                                        ["2026-01-05T00:00:00", "north", "12.50"],
                                        ["2026-01-11T23:00:00", "south", "7.25"]]


def test_a_report_from_prometheus(cluster: Cluster, operator: OperatorProcess, namespace: str,
                                  prometheus: Prometheus, smtp: MailSink) -> None:
    create_secrets(cluster, namespace, "unused://", smtp.port)
    cluster.core.create_namespaced_secret(namespace, client.V1Secret(
        metadata=client.V1ObjectMeta(name="prom", labels=USABLE),
        string_data={"url": prometheus.url, "headers": prometheus.auth_header + "\n"}))
    cluster.create_rs(namespace, report_schedule(
        "queues",
        source={"prometheus": {"urlSecretRef": {"name": "prom", "key": "url"},
                               "headersSecretRef": {"name": "prom", "key": "headers"}}},
        datasets=[{"name": "main", "promql": "max_over_time(bulletin_queue_depth[1d])",
                   "step": "1d"}]))
    last = run_now(cluster, namespace, "queues", "prom", WEEK)["lastRun"]
    assert last["result"] == "Succeeded", last
    assert last["rows"] == 14
    wait_for(lambda: smtp.messages, "the email")
    rows = _csv(smtp.messages[0][1])
    assert rows[0] == ["time", "queue", "value"]
    assert rows[1:3] == [["2026-01-06T00:00:00+01:00", "mail", "5.0"],
                         ["2026-01-06T00:00:00+01:00", "pdf", "50.0"]]
    assert rows[-1] == ["2026-01-12T00:00:00+01:00", "pdf", "110.0"]


def test_the_api_server_refuses_a_dataset_without_its_source(cluster: Cluster,
                                                             namespace: str) -> None:
    for spec, message in (
            ({"datasets": [{"name": "main", "promql": "up"}]},
             "a promql dataset needs spec.source.prometheus"),
            ({"source": {"prometheus": {"url": "http://prom:9090"}}},
             "a query (SQL) dataset needs spec.source.connectionSecretRef"),
            ({"datasets": [{"name": "main", "query": "SELECT 1", "promql": "up"}]},
             "set exactly one of query (SQL) or promql")):
        with pytest.raises(ApiException) as refused:
            cluster.create_rs(namespace, report_schedule("refused", **spec))
        assert refused.value.status == 422 and message in str(refused.value.body)


def test_kubectl_explain_documents_the_sources(cluster: Cluster) -> None:
    out = cluster.kubectl("explain", "reportschedule.spec.datasets.step").stdout
    assert "evaluated at the end of its step" in out
    out = cluster.kubectl("explain", "reportschedule.spec.source.prometheus").stdout
    assert "headersSecretRef" in out and "allowPrivateNetworks" in out
    out = cluster.kubectl("explain", "reportschedule.spec.source.connectionSecretRef").stdout
    assert "mysql://" in out
