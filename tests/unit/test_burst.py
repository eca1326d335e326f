"""Bursting (spec.delivery.burst): admission, recipients from a real database (SQLite), one
report per recipient over a real SMTP server, the per-recipient ledger, status size, preview."""

from __future__ import annotations

import email
import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.policy import default
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml
from bulletin.api.history import BURST_LEDGERS_KEPT, with_run
from bulletin.api.spec import ReportScheduleSpec
from bulletin.api.status import BurstProgress, DeliveryRecord, RunRecord, RunResult, Trigger
from bulletin.assembly.burst import Recipient, recipients, report_spec
from bulletin.assembly.plan import ReportError
from bulletin.cli import main
from bulletin.deliver.burst import burst_result, deliver_burst
from bulletin.execution import execute_burst
from bulletin.report import BuiltReport, build_report
from delivery_support import PERIOD, context, no_sleep
from devstack.mailsink import MailSink
from doubles import MemoryLedger, MemoryStore, memory_book
from pydantic import ValidationError
from support import status_after

REGIONS = ["north", "south", "east", "west", "empty"]
RECIPIENTS = "SELECT email, region FROM managers ORDER BY email"
SALES = "SELECT region, amount FROM sales WHERE region = :region ORDER BY amount"


def _spec(delivery: dict[str, Any] | None = None, datasets: list[dict[str, str]] | None = None,
          **extra: Any) -> ReportScheduleSpec:
    return ReportScheduleSpec.model_validate({
        "schedule": {"cron": "0 9 * * MON"},
        "source": {"connectionSecretRef": {"name": "db", "key": "url"}},
        "datasets": datasets or [{"name": "managers", "query": RECIPIENTS},
                                 {"name": "sales", "query": SALES}],
        "delivery": delivery or {"email": {"smtpSecretRef": {"name": "smtp"}},
                                 "burst": {"dataset": "managers"},
                                 "retry": {"attempts": 2, "initialBackoffSeconds": 1}},
        **extra})


@pytest.fixture
def db(tmp_path: Path) -> str:
    """A SQLite database: one manager per region (and one region without sales)."""
    path = tmp_path / "sales.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE managers (email TEXT, region TEXT)")
        conn.execute("CREATE TABLE sales (region TEXT, amount INTEGER)")
        conn.executemany("INSERT INTO managers VALUES (?, ?)",
                         [(f"{r}@example.com", r) for r in REGIONS])
        conn.executemany("INSERT INTO sales VALUES (?, ?)",
                         [(r, 100 * i + n) for i, r in enumerate(REGIONS[:-1], 1)
                          for n in range(i)])
    return f"sqlite:///{path}"


@pytest.fixture
def sink() -> Iterator[MailSink]:
    server = MailSink().start()
    yield server
    server.stop()


def _env(sink: MailSink, **extra: str) -> dict[str, str]:
    return {"BULLETIN_SMTP_host": "127.0.0.1", "BULLETIN_SMTP_port": str(sink.port),
            "BULLETIN_SMTP_security": "none", "BULLETIN_SMTP_from": "reports@example.com",
            **extra}


@pytest.mark.parametrize(("delivery", "message"), [
    ({"email": {"smtpSecretRef": {"name": "smtp"}, "to": ["a@example.com"]},
      "burst": {"dataset": "managers"}}, "leave email.to, cc and bcc empty"),
    ({"email": {"smtpSecretRef": {"name": "smtp"}}, "burst": {"dataset": "managers"},
      "webhooks": [{"name": "a", "url": "https://hooks.example.com/a"}]},
     "sends by email and to storage only"),
    ({"slack": {"webhookSecretRef": {"name": "s", "key": "url"}},
      "burst": {"dataset": "managers"}}, "sends by email and to storage only"),
    ({"email": {"smtpSecretRef": {"name": "smtp"}},
      "burst": {"dataset": "managers", "shards": 2, "parallelism": 3}}, "parallelism: at most"),
    ({"email": {"smtpSecretRef": {"name": "smtp"}}}, "email.to: set at least one recipient"),
    ({"email": {"smtpSecretRef": {"name": "smtp"}}, "burst": {"dataset": "nope"}},
     "burst.dataset: name one of spec.datasets"),
    ({"email": {"smtpSecretRef": {"name": "smtp"}},
      "burst": {"dataset": "managers", "maxRecipients": 100_001}}, "less than or equal to 100000"),
])
def test_admission_refuses_what_a_burst_cannot_do(delivery: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _spec(delivery)


def test_recipients_are_rows_with_their_parameters_and_the_cap_holds(db: str) -> None:
    spec = _spec()
    found = recipients(spec, PERIOD, db)
    assert [(r.address, r.params) for r in found] == [
        (f"{r}@example.com", {"region": r}) for r in sorted(REGIONS)]
    assert len({r.key for r in found}) == len(REGIONS)
    assert [d.name for d in report_spec(spec).datasets] == ["sales"]

    capped = _spec({"email": {"smtpSecretRef": {"name": "smtp"}},
                    "burst": {"dataset": "managers", "maxRecipients": 4}})
    with pytest.raises(ReportError, match=r"returned more than 4 recipients \(maxRecipients\);"
                       r" nothing was sent"):
        recipients(capped, PERIOD, db)


@pytest.mark.parametrize(("query", "message"), [
    ("SELECT region FROM managers", "returns no column 'email'"),
    ("SELECT email, region AS period_start FROM managers", "'period_start' cannot be query"),
])
def test_unusable_burst_columns_fail_with_the_fix(db: str, query: str, message: str) -> None:
    spec = _spec(datasets=[{"name": "managers", "query": query},
                           {"name": "sales", "query": SALES}])
    with pytest.raises(ReportError, match=message):
        recipients(spec, PERIOD, db)


class PodKilled(BaseException):
    """The runner dying mid-run (no ``except Exception`` handler sees it)."""


def _amounts(message: email.message.EmailMessage) -> list[str]:
    [csv] = [p for p in message.iter_attachments() if str(p.get_filename()).endswith(".csv")]
    header, *lines = csv.get_content().strip().splitlines()
    column = header.split(",").index("amount")
    return [line.split(",")[column] for line in lines]


def test_each_recipient_gets_only_their_rows_once_through_a_crash(
        db: str, sink: MailSink, tmp_path: Path) -> None:
    spec = _spec(gates={"skipIfEmpty": True})
    ctx = context(_env(sink), tmp_path)
    found = recipients(spec, PERIOD, db)
    blocked = Recipient("boss@elsewhere.org", {"region": "north"})

    built: list[str] = []

    def build(recipient: Recipient, outdir: Path) -> BuiltReport:
        built.append(recipient.address)
        if built == ["east@example.com", "empty@example.com", "north@example.com",
                     "south@example.com"]:  # the pod is killed while it builds the 4th report
            raise PodKilled
        return build_report(report_spec(spec), schedule_name="weekly", namespace="analytics",
                            period=PERIOD, db_url=db, outdir=outdir, templates_dir=None,
                            params=recipient.params)

    env = {**ctx.config.values, "BULLETIN_ALLOWED_DOMAINS": "example.com"}
    ctx = context(env, tmp_path)
    ledger, store = MemoryLedger(), MemoryStore()
    with pytest.raises(PodKilled):
        deliver_burst(spec, ctx, PERIOD, ledger, [blocked, *found], build, sleep=no_sleep,
                      book=memory_book(store=store))
    assert sorted(sink.copies()) == ["east@example.com", "north@example.com"]
    built.clear()  # the Job's next pod, same run: it builds only what is not yet Sent
    records, rows, _ = deliver_burst(spec, ctx, PERIOD, ledger, [blocked, *found], build,
                                     sleep=no_sleep, book=memory_book(store=store))
    assert built == ["empty@example.com", "south@example.com", "west@example.com"]

    assert sink.copies() == {f"{r}@example.com": 1 for r in REGIONS if r != "empty"}
    for rcpt, message in sink.messages:
        region = rcpt[0].split("@")[0]
        index = REGIONS.index(region) + 1
        assert _amounts(message) == [str(100 * index + n) for n in range(index)]
        assert message["Message-ID"]  # stable per run and recipient: a repeat can be dropped
    assert rows == 2 + 4  # south has 2 rows, west 4
    [record] = records
    assert record.state == "Failed" and record.burst is not None
    assert (record.burst.recipients, record.burst.sent, record.burst.failed,
            record.burst.skipped) == (6, 4, 1, 1)
    assert record.burst.shards[0].done and record.burst.shard_count == 1
    assert record.burst.failures == [
        "boss@elsewhere.org: email: recipients outside the allowed domains (operator:"
        " example.com): boss@elsewhere.org; nothing was sent"]
    result, summary = burst_result(record)
    assert result is RunResult.PARTIALLY_DELIVERED
    assert summary.startswith("burst: 6 recipients: 4 sent, 1 failed, 1 skipped; boss@")


def test_a_burst_where_nobody_is_sent_anything_is_skipped_or_failed() -> None:
    skipped = DeliveryRecord(target="email", state="Sent",
                             burst=BurstProgress(recipients=2, skipped=2))
    assert burst_result(skipped)[0] is RunResult.SKIPPED
    failed = DeliveryRecord(target="email", state="Failed", error="SMTP Secret 'x' is missing",
                            burst=BurstProgress(recipients=2, failed=2))
    assert burst_result(failed) == (RunResult.FAILED, "burst: 2 recipients: 0 sent, 2 failed,"
                                    " 0 skipped; SMTP Secret 'x' is missing")


def _burst_run(i: int, recipients: int) -> RunRecord:
    start = datetime(2026, 11, 21, 9, tzinfo=UTC) + timedelta(hours=i)
    keys = [f"{n:012x}" for n in range(recipients)]
    progress = BurstProgress(recipients=recipients, sent=recipients, sent_keys=keys)
    return RunRecord(run_id=f"r{i}", trigger=Trigger.SCHEDULED, start_time=start,
                     end_time=start + timedelta(minutes=5), result=RunResult.SUCCEEDED,
                     deliveries=[DeliveryRecord(target="email", state="Sent", burst=progress)])


def test_status_keeps_counts_and_only_the_newest_ledgers() -> None:
    status: dict[str, Any] = {}
    for i in range(10):
        status = status_after(status, partial(with_run, record=_burst_run(i, 1000), limit=10))
    history = status["history"]
    assert len(history) == 10  # nothing dropped for size
    keys = [len(h["deliveries"][0]["burst"].get("sentKeys", [])) for h in history]
    assert keys == [1000] * BURST_LEDGERS_KEPT + [0] * (10 - BURST_LEDGERS_KEPT)
    assert all(h["deliveries"][0]["burst"]["sent"] == 1000 for h in history)
    assert len(json.dumps(status)) < 80 * 1024


def test_preview_renders_one_folder_per_recipient(tmp_path: Path) -> None:
    manifest = {"apiVersion": "bulletin.dev/v1alpha1", "kind": "ReportSchedule",
                "metadata": {"name": "weekly"}, "spec": _spec().model_dump(by_alias=True,
                                                                           mode="json")}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(manifest))
    sample = {"datasets": {
        "managers": [{"email": "a@example.com", "region": "north"},
                     {"email": "b@example.com", "region": "south"}],
        "sales": [{"region": "north", "amount": 1}, {"region": "south", "amount": 2},
                  {"region": "north", "amount": 3}]}}
    (tmp_path / "sample.yaml").write_text(yaml.safe_dump(sample))
    out = tmp_path / "out"
    assert main(["preview", "-f", str(tmp_path / "s.yaml"), "--sample",
                 str(tmp_path / "sample.yaml"), "-o", str(out),
                 "--at", "2026-11-23T09:00:00+00:00"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["0001-a@example.com", "0002-b@example.com"]
    for folder, amounts in (("0001-a@example.com", ["1", "3"]), ("0002-b@example.com", ["2"])):
        msg = email.message_from_bytes((out / folder / "email.eml").read_bytes(), policy=default)
        assert isinstance(msg, email.message.EmailMessage)
        assert msg["To"] == folder[5:]
        assert _amounts(msg) == amounts


def test_a_test_send_gets_the_first_recipients_report(
        db: str, sink: MailSink, tmp_path: Path) -> None:
    spec = _spec()
    record = RunRecord(run_id="weekly-29000000", trigger=Trigger.MANUAL,
                       start_time=datetime(2026, 11, 23, 9, tzinfo=UTC))
    ctx = context(_env(sink), tmp_path, to=["me@example.com"])
    execute_burst(ctx, spec, record, PERIOD, db, MemoryLedger(), memory_book())
    assert record.result is RunResult.SUCCEEDED, record.message
    assert record.message == "burst: 1 recipients: 1 sent, 0 failed, 0 skipped"
    [(rcpt, message)] = sink.messages
    assert rcpt == ["me@example.com"]
    assert _amounts(message) == ["300", "301", "302"]  # east's rows: first by address
