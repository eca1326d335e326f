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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bulletin.api.errors import describe
from bulletin.api.spec import ReportScheduleSpec
from bulletin.api.status import DeliveryRecord, RunRecord, RunResult, Trigger
from bulletin.context import RunContext
from bulletin.history import with_run
from bulletin.period import Period, PeriodError, compute, parse_override
from bulletin.query import QueryError, run_query
from bulletin.redact import redact
from bulletin.schedule import ScheduleError, compile_rule, zone

log = logging.getLogger("bulletin.runner")
EXIT_FAILED = 2
CATCH_UP_AFTER = timedelta(minutes=5)


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
    """Send the report to each target exactly once, recording per-target state as it happens."""
    from bulletin.deliver import deliver_all, files_report
    from bulletin.kube import Kube
    from bulletin.ledger import StatusLedger

    title = spec.report.title or ctx.schedule
    report = files_report(title, period, spec.schedule.time_zone, outcome.files, outcome.rows)
    ledger = StatusLedger(Kube(), ctx.namespace, ctx.schedule, ctx.run_id)
    outcome.deliveries = deliver_all(spec, ctx, report, ledger, period)


def resolve_period(
    ctx: RunContext, spec: ReportScheduleSpec, status: dict[str, Any], reference: datetime
) -> Period:
    """The run's period: a run-now override, or the spec's period at the scheduled time."""
    tz = zone(spec.schedule)
    if ctx.options.period:
        try:
            return parse_override(ctx.options.period, tz)
        except PeriodError as exc:
            raise RunFailed(f"run-now option {exc}") from exc
    config = spec.period
    last_end = max((h["periodEnd"] for h in status.get("history") or []
                    if h.get("result") == RunResult.SUCCEEDED.value and h.get("periodEnd")),
                   default=None)
    return compute(spec.period_kind(), reference, tz,
                   days=config.days if config else None,
                   offset=config.offset if config else 0,
                   last_success_end=datetime.fromisoformat(last_end) if last_end else None)


def execute(ctx: RunContext, spec: ReportScheduleSpec, record: RunRecord, period: Period) -> None:
    """Produce and deliver, filling in ``record``; never raises for report-level failures."""
    record.result = RunResult.FAILED
    try:
        outcome = produce(ctx, spec, period)
        deliver(ctx, spec, period, outcome)
    except RunFailed as exc:
        record.message = str(exc)
        return
    record.rows, record.bytes, record.deliveries = outcome.rows, outcome.bytes, outcome.deliveries
    record.recipients = [r for d in outcome.deliveries if d.state == "Sent" for r in d.recipients]
    failed = [d for d in outcome.deliveries if d.state != "Sent"]
    if not failed:
        record.result = RunResult.SUCCEEDED
    else:
        record.result = RunResult.FAILED if len(failed) == len(outcome.deliveries) else (
            RunResult.PARTIALLY_DELIVERED)
        record.message = "; ".join(f"{d.target}: {d.error}" for d in failed)


def trigger_of(ctx: RunContext, started: datetime) -> Trigger:
    """Scheduled runs that start late (after downtime) are catch-up runs."""
    late = ctx.scheduled_time is not None and started - ctx.scheduled_time > CATCH_UP_AFTER
    return Trigger.CATCH_UP if ctx.trigger is Trigger.SCHEDULED and late else ctx.trigger


def not_due(ctx: RunContext, spec: ReportScheduleSpec) -> str | None:
    """Why a scheduled firing is not a run the schedule means (calendar rules, DST), if so."""
    if ctx.trigger is not Trigger.SCHEDULED or ctx.scheduled_time is None:
        return None
    rule = compile_rule(spec.schedule, f"{ctx.namespace}/{ctx.schedule}", ctx.scheduled_time)
    if rule.intended(ctx.scheduled_time):
        return None
    local = ctx.scheduled_time.astimezone(rule.tz)
    return f"{local:%Y-%m-%d %H:%M %Z} is not a run time of this schedule"


def finish(ctx: RunContext, record: RunRecord, secrets: list[str]) -> None:
    """Close the record and keep secret values out of it."""
    record.end_time = datetime.now(UTC)
    if record.message:
        record.message = redact(record.message, secrets)[:4000]
    for delivery in record.deliveries:
        if delivery.error:
            delivery.error = redact(delivery.error, secrets)[:1000]


def main() -> int:
    """Entry point of the runner image (`bulletin-runner`)."""
    logging.basicConfig(level=os.environ.get("BULLETIN_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from bulletin.kube import Kube

    ctx = RunContext.from_env(os.environ)
    kube = Kube()
    started = datetime.now(UTC)
    obj = kube.get_schedule(ctx.namespace, ctx.schedule)
    record = RunRecord(run_id=ctx.run_id, trigger=trigger_of(ctx, started),
                       scheduled_time=ctx.scheduled_time, start_time=started)
    limit = int((obj.get("spec") or {}).get("historyLimit") or 10)
    try:
        spec = ReportScheduleSpec.model_validate(obj.get("spec") or {})
        if reason := not_due(ctx, spec):
            log.info("skipped without side effects: %s", reason)
            return 0
        period = resolve_period(ctx, spec, obj.get("status") or {}, ctx.scheduled_time or started)
    except (ValidationError, ScheduleError, RunFailed) as exc:
        record.result = RunResult.FAILED
        record.message = describe(exc) if isinstance(exc, ValidationError) else str(exc)
    else:
        record.period_start, record.period_end = period.start, period.end
        kube.update_status(ctx.namespace, ctx.schedule, lambda st: with_run(st, record, limit))
        execute(ctx, spec, record, period)
    finish(ctx, record, ctx.secrets())
    kube.update_status(ctx.namespace, ctx.schedule, lambda st: with_run(st, record, limit))
    result = record.result or RunResult.FAILED
    ok = result in (RunResult.SUCCEEDED, RunResult.SKIPPED)
    summary = f"run {record.run_id} ({record.trigger.value}): {result.value}, {record.rows} rows"
    if record.message:
        summary += f": {record.message}"
    kube.event(obj, warning=not ok, reason=f"Run{result.value}", message=summary)
    log.info("%s", summary)
    return 0 if ok else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
