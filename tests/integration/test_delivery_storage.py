"""Archive and links end to end with a real S3-compatible server, and `kubectl bulletin link`."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import httpx
import pytest
from devstack.mailsink import MailSink
from devstack.operatorproc import OperatorProcess
from devstack.postgres import Postgres
from devstack.s3 import S3Server
from kubernetes import client
from support import USABLE, Cluster, create_secrets, report_schedule, run_now

QUERY = "SELECT g AS n, md5(g::text) AS hash FROM generate_series(1, 2000) AS g"


@pytest.fixture(scope="module", autouse=True)
def _bucket(s3: S3Server) -> None:
    s3.create_bucket("reports")


def test_archive_link_and_plugin(
    cluster: Cluster, operator: OperatorProcess, namespace: str, postgres: Postgres,
    smtp: MailSink, s3: S3Server, monkeypatch: pytest.MonkeyPatch,
) -> None:
    create_secrets(cluster, namespace, postgres.url, smtp.port)
    cluster.core.create_namespaced_secret(namespace, client.V1Secret(
        metadata=client.V1ObjectMeta(name="s3", labels=USABLE),
        string_data={"accessKeyId": s3.access_key, "secretAccessKey": s3.secret_key,
                     "endpoint": s3.endpoint}))
    delivery = {
        "email": {"smtpSecretRef": {"name": "smtp"}, "to": ["team@example.com"]},
        "storage": {"endpoint": s3.endpoint, "bucket": "reports", "encryption": "none",
                    "credentialsSecretRef": {"name": "s3"}, "archive": True},
        "linkAboveBytes": 10000,  # the ~80 kB CSV goes as a link
    }
    cluster.create_rs(namespace, report_schedule(
        "stored", delivery=delivery, datasets=[{"name": "numbers", "query": QUERY}]))
    status = run_now(cluster, namespace, "stored", "t1")
    last = status["lastRun"]
    assert last["result"] == "Succeeded", last
    archive, email = last["deliveries"]
    run_id = last["runId"]
    [key] = archive["objectKeys"]
    assert re.fullmatch(rf"{namespace}/stored/\d{{4}}/\d{{2}}/{run_id}/numbers\.csv", key)
    assert (archive["target"], archive["state"]) == ("archive", "Sent")
    assert (email["target"], email["state"], email["link"], email["objectKeys"]) == (
        "email", "Sent", True, [key])
    stored = s3.client().get_object(Bucket="reports", Key=key)["Body"].read()
    assert stored.startswith(b"n,hash") and len(stored) > 10000

    [(_, msg)] = smtp.messages
    assert list(msg.iter_attachments()) == []
    body = msg.get_body(("plain",))
    assert body is not None
    url = re.search(r"numbers\.csv \([\d.]+ kB\): (\S+)", body.get_content())
    assert url is not None, body.get_content()
    assert httpx.get(url.group(1)).content == stored

    # A fresh link for a past run, with the user's own access (the real kubectl plugin).
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    out = cluster.kubectl("bulletin", "link", "stored", "-n", namespace, "--run", run_id,
                          "--expires", "600").stdout
    [fresh] = out.split()
    assert "X-Amz-Expires=600" in fresh and fresh != url.group(1)
    assert httpx.get(fresh).content == stored

