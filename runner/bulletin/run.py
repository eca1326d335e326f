"""The runner: one run of a ReportSchedule. Query, render, deliver, then record the result.

Exit codes: 0 when the run was recorded as Succeeded or Skipped; 2 when it was recorded as
Failed (the Job must not retry: the CronJob's podFailurePolicy fails the Job); anything else
is a crash that the Job may retry.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bulletin.api.errors import describe
from bulletin.api.spec import ReportScheduleSpec
from bulletin.api.status import DeliveryRecord, RunRecord, RunResult
from bulletin.context import ConfigError, RunContext, SmtpSettings
from bulletin.history import with_run
from bulletin.period import Period, compute
from bulletin.query import QueryError, run_query
from bulletin.redact import redact
from bulletin.schedule import zone

log = logging.getLogger("bulletin.runner")
EXIT_FAILED = 2


class RunFailed(RuntimeError):
    """A failure to record in status, with a message fit for users."""


@dataclass
class Outcome:
    """What the run produced."""

    rows: int = 0
    files: list[Path] = field(default_factory=list)
    deliveries: list[DeliveryRecord] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return sum(p.stat().st_size for p in self.files)


def produce(ctx: RunContext, spec: ReportScheduleSpec, period: Period) -> Outcome:
    """Query each dataset into a CSV file in the work directory."""
    from bulletin.render.csv import write_csv

    url = ctx.env.get("BULLETIN_DB_URL")
    if not url:
        raise RunFailed("no database URL: check spec.source.connectionSecretRef")
    outdir = ctx.workdir / ctx.run_id
    outdir.mkdir(parents=True, exist_ok=True)
    outcome = Outcome()
    for dataset in spec.datasets:
        try:
            with run_query(url, dataset.query, period.params(), spec.schedule.time_zone) as result:
                path = outdir / f"{dataset.name}.csv"
                outcome.rows += write_csv(path, result.columns, result.rows)
        except QueryError as exc:
            raise RunFailed(f"dataset {dataset.name!r}: query failed: {exc}") from exc
        outcome.files.append(path)
    return outcome


def deliver(ctx: RunContext, spec: ReportScheduleSpec, period: Period, outcome: Outcome) -> None:
    """Send the report to each target and note per-target results."""
    from bulletin.deliver.email import DEFAULT_SENDER, build_message, send

    email = spec.delivery.email
    if email is None:
        return
    record = DeliveryRecord(target="email", state="Pending", recipients=list(email.to))
    outcome.deliveries.append(record)
    try:
        smtp = SmtpSettings.from_env(ctx.env)
    except ConfigError as exc:
        record.state, record.error = "Failed", str(exc)
        return
    subject = email.subject or f"{ctx.schedule}: {period.label()}"
    text = (
        f"Report {ctx.schedule} for {period.label()} ({spec.schedule.time_zone}).\n"
        f"{outcome.rows} rows in {len(outcome.files)} file(s), attached.\n"
    )
    msg = build_message(sender=smtp.sender or DEFAULT_SENDER, to=email.to, subject=subject,
                        text=text, html=None, attachments=outcome.files)
    record.attempts = 1
    try:
        send(msg, smtp)
    except Exception as exc:  # aiosmtplib raises several unrelated types
        record.state, record.error = "Failed", f"SMTP {smtp.host}:{smtp.port}: {exc}"
        return
    record.state = "Sent"


def execute(ctx: RunContext, obj: dict[str, Any], started: datetime) -> RunRecord:
    """Do the run and describe it; never raises for report-level failures."""
    record = RunRecord(run_id=ctx.run_id, trigger=ctx.trigger, scheduled_time=ctx.scheduled_time,
                       start_time=started, result=RunResult.FAILED)
    try:
        spec = ReportScheduleSpec.model_validate(obj.get("spec") or {})
    except ValidationError as exc:
        record.message = describe(exc)
        return record
    period = compute(spec.period_kind(), ctx.scheduled_time or started, zone(spec.schedule))
    record.period_start, record.period_end = period.start, period.end
    try:
        outcome = produce(ctx, spec, period)
        deliver(ctx, spec, period, outcome)
    except RunFailed as exc:
        record.message = str(exc)
        return record
    record.rows, record.bytes, record.deliveries = outcome.rows, outcome.bytes, outcome.deliveries
    record.recipients = [r for d in outcome.deliveries if d.state == "Sent" for r in d.recipients]
    failed = [d for d in outcome.deliveries if d.state != "Sent"]
    if not failed:
        record.result = RunResult.SUCCEEDED
    else:
        record.result = RunResult.FAILED if len(failed) == len(outcome.deliveries) else (
            RunResult.PARTIALLY_DELIVERED)
        record.message = "; ".join(f"{d.target}: {d.error}" for d in failed)
    return record


def main() -> int:
    """Entry point of the runner image (`bulletin-runner`)."""
    logging.basicConfig(level=os.environ.get("BULLETIN_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from bulletin.kube import Kube

    ctx = RunContext.from_env(os.environ)
    secrets = ctx.secrets()
    kube = Kube()
    started = datetime.now(UTC)
    obj = kube.get_schedule(ctx.namespace, ctx.schedule)
    record = execute(ctx, obj, started)
    record.end_time = datetime.now(UTC)
    if record.message:
        record.message = redact(record.message, secrets)[:4000]
    for delivery in record.deliveries:
        if delivery.error:
            delivery.error = redact(delivery.error, secrets)[:1000]
    limit = int((obj.get("spec") or {}).get("historyLimit") or 10)
    kube.update_status(ctx.namespace, ctx.schedule, lambda status: with_run(status, record, limit))
    ok = record.result in (RunResult.SUCCEEDED, RunResult.SKIPPED)
    summary = f"run {record.run_id}: {record.result.value}, {record.rows} rows"
    if record.message:
        summary += f": {record.message}"
    kube.event(obj, warning=not ok, reason=f"Run{record.result.value}", message=summary)
    log.info("%s", summary)
    return 0 if ok else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
