"""Archive, links and retention against a real S3-compatible server (Versity Gateway)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from bulletin.api.status import DeliveryRecord, RunResult
from bulletin.api.storage import Storage
from bulletin.deliver.dispatch import deliver_all, run_result
from bulletin.deliver.storage import ObjectStore
from delivery_support import PERIOD, context, no_sleep, report, spec
from devstack.mailsink import MailSink
from devstack.s3 import S3Server
from devstack.webhooks import WebhookServer
from doubles import MemoryLedger

PREFIX = "analytics/weekly/2026/11/weekly-29000000"


@pytest.fixture
def bucket(s3: S3Server, request: pytest.FixtureRequest) -> str:
    return s3.create_bucket(re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:50] + "-b")


@pytest.fixture
def sink() -> Iterator[MailSink]:
    server = MailSink().start()
    yield server
    server.stop()


def _storage(s3: S3Server, bucket: str, **extra: Any) -> dict[str, Any]:
    """Versity Gateway stores unencrypted: these tests say so (test_storage_encryption: SSE)."""
    return {"endpoint": s3.endpoint, "bucket": bucket, "encryption": "none",
            "credentialsSecretRef": {"name": "s3"}, **extra}


def _env(s3: S3Server, sink: MailSink | None = None) -> dict[str, str]:
    env = {"BULLETIN_S3_accessKeyId": s3.access_key, "BULLETIN_S3_secretAccessKey": s3.secret_key,
           "BULLETIN_S3_endpoint": s3.endpoint}
    if sink is not None:
        env.update({"BULLETIN_SMTP_host": "127.0.0.1", "BULLETIN_SMTP_port": str(sink.port),
                    "BULLETIN_SMTP_security": "none"})
    return env


EMAIL = {"smtpSecretRef": {"name": "smtp"}, "to": ["team@example.com"]}


def _keys(s3: S3Server, bucket: str) -> list[str]:
    return [o["Key"] for o in s3.client().list_objects_v2(Bucket=bucket).get("Contents") or []]


def test_archive_stores_every_file_under_the_run_folder(
        s3: S3Server, bucket: str, sink: MailSink, tmp_path: Path) -> None:
    built = report(tmp_path / "out", {"main.csv": b"a,b\n1,2\n", "main.pdf": b"%PDF-1.7 x"})
    records = deliver_all(spec({"email": EMAIL, "storage": _storage(s3, bucket, archive=True)}),
                          context(_env(s3, sink), tmp_path), built, MemoryLedger(), PERIOD,
                          sleep=no_sleep)
    assert [(r.target, r.state) for r in records] == [("archive", "Sent"), ("email", "Sent")]
    assert records[0].object_keys == [f"{PREFIX}/main.csv", f"{PREFIX}/main.pdf"]
    assert sorted(_keys(s3, bucket)) == records[0].object_keys
    body = s3.client().get_object(Bucket=bucket, Key=f"{PREFIX}/main.pdf")["Body"].read()
    assert body == b"%PDF-1.7 x"
    assert records[1].link is False  # small: attached, not linked
    assert len(list(sink.messages[0][1].iter_attachments())) == 2


def test_a_30_mb_report_becomes_a_link_that_downloads_the_same_bytes(
        s3: S3Server, bucket: str, sink: MailSink, tmp_path: Path) -> None:
    data = os.urandom(30 * 1024 * 1024)
    built = report(tmp_path / "out", {"usage.csv": data})
    records = deliver_all(spec({"email": EMAIL, "storage": _storage(s3, bucket)}),
                          context(_env(s3, sink), tmp_path), built, MemoryLedger(), PERIOD,
                          sleep=no_sleep)
    [record] = records
    assert (record.state, record.link, record.object_keys) == (
        "Sent", True, [f"{PREFIX}/usage.csv"])
    msg = sink.messages[0][1]
    assert list(msg.iter_attachments()) == []
    text = msg.get_body(("plain",))
    assert text is not None
    url = re.search(r"usage\.csv \(31\.5 MB\): (\S+)", text.get_content())
    assert url is not None, text.get_content()
    html = msg.get_body(("html",))
    assert html is not None and "too large to attach" in html.get_content()
    download = httpx.get(url.group(1), timeout=60)
    assert download.status_code == 200
    assert download.content == data
    assert 'filename*=UTF-8\'\'usage.csv' in download.headers["content-disposition"]
    assert run_result(records)[0] is RunResult.SUCCEEDED


def test_too_large_without_storage_fails_loudly(sink: MailSink, tmp_path: Path) -> None:
    built = report(tmp_path / "out", {"usage.csv": b"x" * 5000})
    [record] = deliver_all(spec({"email": EMAIL, "linkAboveBytes": 1000}),
                           context(_env_free(sink), tmp_path), built, MemoryLedger(), PERIOD,
                           sleep=no_sleep)
    assert (record.state, record.attempts) == ("Failed", 1)
    assert "above delivery.linkAboveBytes (1000)" in (record.error or "")
    assert sink.messages == []


def _env_free(sink: MailSink) -> dict[str, str]:
    return {"BULLETIN_SMTP_host": "127.0.0.1", "BULLETIN_SMTP_port": str(sink.port),
            "BULLETIN_SMTP_security": "none"}


def test_links_for_webhooks_and_chat(s3: S3Server, bucket: str, tmp_path: Path) -> None:
    receiver = WebhookServer().start()
    try:
        data = b"y" * 5000
        built = report(tmp_path / "out", {"usage.csv": data})
        env = {**_env(s3), "BULLETIN_SLACK_URL": receiver.url("/slack")}
        delivery = {"webhooks": [{"name": "ops", "url": receiver.url("/ops"),
                                  "linkAboveBytes": 1000}],
                    "slack": {"webhookSecretRef": {"name": "chat", "key": "slack"}},
                    "storage": _storage(s3, bucket, linkExpirySeconds=3600)}
        records = deliver_all(spec(delivery), context(env, tmp_path), built, MemoryLedger(),
                              PERIOD, sleep=no_sleep)
        assert [(r.target, r.state, r.link) for r in records] == [
            ("webhook/ops", "Sent", True), ("slack", "Sent", True)]
        [artifact] = receiver.delivered("/ops")[0].json()["artifacts"]
        assert "content" not in artifact and artifact["bytes"] == 5000
        assert httpx.get(artifact["url"]).content == data
        slack = receiver.delivered("/slack")[0].json()
        link = re.search(r"<(http[^|]+)\|usage\.csv>", slack["blocks"][-1]["text"]["text"])
        assert link is not None and httpx.get(link.group(1)).content == data
        assert "X-Amz-Expires=3600" in link.group(1)
    finally:
        receiver.stop()


def test_retention_removes_an_expired_object_and_keeps_a_fresh_one(
        s3: S3Server, bucket: str, tmp_path: Path) -> None:
    client = s3.client()
    old_key, fresh_key = "analytics/weekly/2026/01/old-run/a.csv", f"{PREFIX}/a.csv"
    other = "analytics/monthly/2026/01/old-run/a.csv"  # another schedule: not ours to prune
    client.put_object(Bucket=bucket, Key=old_key, Body=b"old")
    client.put_object(Bucket=bucket, Key=other, Body=b"old")
    old_time = client.head_object(Bucket=bucket, Key=old_key)["LastModified"]

    def fresh_is_newer() -> bool:  # LastModified has 1 s resolution: put until it moves on
        client.put_object(Bucket=bucket, Key=fresh_key, Body=b"fresh")
        return bool(client.head_object(Bucket=bucket, Key=fresh_key)["LastModified"] > old_time)

    from support import wait_for

    wait_for(fresh_is_newer, "a fresher LastModified", timeout=10, interval=0.2)
    storage = Storage.model_validate(_storage(s3, bucket))
    store = ObjectStore(storage, {"accessKeyId": s3.access_key, "secretAccessKey": s3.secret_key,
                                  "endpoint": s3.endpoint}, "s3")
    deleted = store.prune("analytics/weekly/", cutoff=old_time + timedelta(milliseconds=500))
    assert deleted == [old_key]
    assert sorted(_keys(s3, bucket)) == sorted([fresh_key, other])


def test_each_run_prunes_its_own_expired_objects_only(
        s3: S3Server, bucket: str, sink: MailSink, tmp_path: Path) -> None:
    client = s3.client()
    client.put_object(Bucket=bucket, Key="analytics/weekly/2025/01/r/a.csv", Body=b"old")
    client.put_object(Bucket=bucket, Key="analytics/other/2025/01/r/a.csv", Body=b"old")
    deliver_all(spec({"email": EMAIL, "storage": _storage(s3, bucket, archive=True)}),
                context(_env(s3, sink), tmp_path), report(tmp_path / "out"), MemoryLedger(),
                PERIOD, sleep=no_sleep, now=lambda: datetime.now(UTC) + timedelta(days=91))
    # Everything of this schedule is "91 days old" by then, this run's archive included.
    assert sorted(_keys(s3, bucket)) == ["analytics/other/2025/01/r/a.csv"]


def test_a_resumed_run_does_not_upload_the_archive_again(
        s3: S3Server, bucket: str, sink: MailSink, tmp_path: Path) -> None:
    earlier = DeliveryRecord(target="archive", state="Sent", attempts=1,
                             object_keys=[f"{PREFIX}/main.csv"])
    records = deliver_all(spec({"email": EMAIL, "storage": _storage(s3, bucket, archive=True)}),
                          context(_env(s3, sink), tmp_path), report(tmp_path / "out"),
                          MemoryLedger([earlier]), PERIOD, sleep=no_sleep)
    assert [(r.target, r.state) for r in records] == [("archive", "Sent"), ("email", "Sent")]
    assert _keys(s3, bucket) == []  # the earlier try's upload is trusted, not repeated


def test_storage_problems_fail_the_archive_not_the_email(
        s3: S3Server, sink: MailSink, tmp_path: Path) -> None:
    delivery = {"email": EMAIL, "storage": _storage(s3, "no-such-bucket", archive=True)}
    records = deliver_all(spec(delivery), context(_env(s3, sink), tmp_path),
                          report(tmp_path / "out"), MemoryLedger(), PERIOD, sleep=no_sleep)
    assert [(r.target, r.state, r.attempts) for r in records] == [
        ("archive", "Failed", 1), ("email", "Sent", 1)]
    assert "NoSuchBucket" in (records[0].error or "")
    assert run_result(records)[0] is RunResult.PARTIALLY_DELIVERED
    missing = deliver_all(spec(delivery), context(_env_free(sink), tmp_path, run_id="r2"),
                          report(tmp_path / "out2"), MemoryLedger(), PERIOD, sleep=no_sleep)
    assert missing[0].error == "storage Secret 's3' is missing accessKeyId, secretAccessKey"
