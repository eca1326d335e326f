"""The runner: one run of a ReportSchedule. Query, render, deliver, then record the result.

Exit codes: 0 when the run was recorded as Succeeded or Skipped; 2 when it was recorded as
Failed, or when the pod's environment is unusable; 3 when the ReportSchedule is too large to
record the run (both: the Job must not retry, the CronJob's podFailurePolicy fails the Job);
anything else is a crash that the Job may retry.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from bulletin import shutdown
from bulletin.api import errors, logformat, podenv
from bulletin.api.calendar import DaysOff, from_object, named_in
from bulletin.api.history import (
    StatusTooLarge,
    history_limit,
    last_success_period_end,
    with_next_run,
    with_run,
)
from bulletin.api.schedule import CatchUp
from bulletin.api.shardstatus import written_run
from bulletin.api.spec import ReportScheduleSpec
from bulletin.api.status import ReportScheduleStatus, RunRecord, RunResult, Trigger
from bulletin.catchup import missed_runs
from bulletin.context import RunContext
from bulletin.execution import execute
from bulletin.notify import notify_failure
from bulletin.period import Period, PeriodError, compute, parse_override
from bulletin.redact import redact, redacted_logs
from bulletin.rerun import ended_before
from bulletin.schedule import compile_rule, zone
from bulletin.timing import compile_timing

if TYPE_CHECKING:
    from bulletin.api.client import Kube

log = logging.getLogger("bulletin.runner")
EXIT_FAILED = 2
EXIT_CRASHED = 1
EXIT_UNRECORDABLE = 3
CATCH_UP_AFTER = timedelta(minutes=5)
# Kubernetes mounts it into every container (terminationMessagePolicy: File); the operator
# reads it when a Job fails, so it carries the redacted summary and never raw logs.
TERMINATION_LOG = Path("/dev/termination-log")


def resolve_period(
    ctx: RunContext, spec: ReportScheduleSpec, status: ReportScheduleStatus, reference: datetime
) -> Period:
    """The run's period: a run-now override, or the spec's period at the scheduled time."""
    tz = zone(spec.schedule)
    if ctx.options.period:
        try:
            return parse_override(ctx.options.period, tz)
        except PeriodError as exc:
            raise PeriodError(f"run-now option {exc}") from exc
    config = spec.period
    return compute(spec.period_kind(), reference, tz,
                   days=config.days if config else None,
                   offset=config.offset if config else 0,
                   last_success_end=last_success_period_end(status))


def trigger_of(ctx: RunContext, started: datetime) -> Trigger:
    """Scheduled runs that start late (after downtime) are catch-up runs."""
    late = ctx.scheduled_time is not None and started - ctx.scheduled_time > CATCH_UP_AFTER
    return Trigger.CATCH_UP if ctx.trigger is Trigger.SCHEDULED and late else ctx.trigger


def days_off(ctx: RunContext, spec: ReportScheduleSpec, kube: Kube) -> DaysOff | None:
    """The ReportCalendar that spec.schedule.calendarRef names (None without one);
    CalendarError when it is missing or invalid."""
    ref = spec.schedule.calendar_ref
    if ref is None:
        return None
    return from_object(ref.name, kube.get_calendar(ctx.namespace, ref.name))


def not_due(ctx: RunContext, spec: ReportScheduleSpec, kube: Kube) -> str | None:
    """Why a scheduled firing is not a run the schedule means (calendar rules, the
    ReportCalendar's days off, DST), if so."""
    if ctx.trigger is not Trigger.SCHEDULED or ctx.scheduled_time is None:
        return None
    rule = compile_rule(spec.schedule, f"{ctx.namespace}/{ctx.schedule}", ctx.scheduled_time)
    local = ctx.scheduled_time.astimezone(rule.tz)
    if not rule.intended(ctx.scheduled_time):
        return f"{local:%Y-%m-%d %H:%M %Z} is not a run time of this schedule"
    calendar = days_off(ctx, spec, kube)
    if calendar is not None and (why := calendar.reason(local.date())):
        return f"{local:%Y-%m-%d %H:%M %Z} is not a run time of this schedule: {why}"
    return None


def narrow(ctx: RunContext, spec: ReportScheduleSpec) -> ReportScheduleSpec | None:
    """The spec as the run follows it: a run started by a spec.schedules entry's CronJob
    follows that entry; None when the entry is gone (removed since the Job started)."""
    if ctx.entry is None or spec.schedules is None:
        return spec
    return spec.for_entry(ctx.entry)


def finish(ctx: RunContext, record: RunRecord, secrets: list[str]) -> None:
    """Close the record and keep secret values out of it."""
    record.end_time = datetime.now(UTC)
    if record.message:
        record.message = redact(record.message, secrets)[:4000]
    for delivery in record.deliveries:
        if delivery.error:
            delivery.error = redact(delivery.error, secrets)[:1000]


def write_termination_message(summary: str, path: Path = TERMINATION_LOG) -> None:
    """Leave the run's (already redacted) summary where the kubelet reads it, in a pod only."""
    if path.exists():
        with contextlib.suppress(OSError):
            path.write_text(summary[:4000])


def main() -> int:
    """Entry point of the runner image (`bulletin-runner`)."""
    env = os.environ
    fields = {"runId": env.get(podenv.RUN_ID, ""), "namespace": env.get(podenv.NAMESPACE, ""),
              "schedule": env.get(podenv.SCHEDULE, "")}
    fmt = logformat.TEXT
    try:
        fmt = logformat.log_format(env)
        level = env.get(podenv.LOG_LEVEL, "INFO").upper()
        if not isinstance(logging.getLevelName(level), int):
            raise errors.ConfigurationError(f"{podenv.LOG_LEVEL}: unknown level {level!r}")
        ctx = RunContext.from_env(env)
    except (errors.ConfigurationError, ValueError) as exc:  # one line, nothing to retry
        line = f"bulletin-runner: {exc}"
        if fmt == logformat.JSON:
            line = logformat.json_line(line, logger=log.name, fields=fields)
        print(line, file=sys.stderr)
        return EXIT_FAILED
    logging.basicConfig(level=level, format=logformat.TEXT_LINE)
    logformat.apply(fmt, fields)
    shutdown.install()
    with redacted_logs(ctx.secrets()):
        try:
            return run(ctx)
        except shutdown.Terminated:  # the ledger has every send; the Job's next pod goes on
            log.warning("stopped by SIGTERM: every send made is in the ledger; the Job's next"
                        " pod, if any, sends the rest")
            return shutdown.EXIT_TERMINATED
        except Exception:  # e.g. no API server: logged here, where secrets are still masked
            log.exception("run crashed before it could be recorded")
            return EXIT_CRASHED


def run(ctx: RunContext) -> int:
    """A firing's run; with catchUp All, the runs it missed first, oldest first, each recorded
    on its own. The exit code is this run's (a missed run's crash stops here, to be retried)."""
    from bulletin.api.client import Kube

    kube = Kube()
    if (ended := ended_before(ctx, kube)) is not None:  # a retried Job: the run is recorded
        return 0 if ended in (RunResult.SUCCEEDED, RunResult.SKIPPED) else EXIT_FAILED
    for missed in catch_up(ctx, kube):
        if (code := run_one(missed, kube)) in (EXIT_CRASHED, EXIT_UNRECORDABLE):
            return code
    return run_one(ctx, kube)


def catch_up(ctx: RunContext, kube: Kube) -> list[RunContext]:
    """The missed runs to run before this one (catchUp All); none when the spec is invalid or
    this firing is no run time (the run itself says why)."""
    obj = kube.get_schedule(ctx.namespace, ctx.schedule)
    try:
        spec = narrow(ctx, ReportScheduleSpec.model_validate(obj.get("spec") or {}))
        if spec is None or spec.catch_up is not CatchUp.ALL or not_due(ctx, spec, kube):
            return []
        return missed_runs(ctx, obj, spec, days_off(ctx, spec, kube), kube)
    except (ValidationError, errors.SpecError):
        return []


def run_one(ctx: RunContext, kube: Kube) -> int:
    """One run: record it as it starts and as it ends, with an Event and the exit code."""
    started = datetime.now(UTC)
    obj = kube.get_schedule(ctx.namespace, ctx.schedule)
    record = RunRecord(run_id=ctx.run_id, trigger=trigger_of(ctx, started),
                       scheduled_time=ctx.scheduled_time, start_time=started)
    limit = history_limit(obj)
    spec: ReportScheduleSpec | None = None
    crashed = False
    try:
        spec = narrow(ctx, ReportScheduleSpec.model_validate(obj.get("spec") or {}))
        if spec is None:
            log.info("skipped without side effects: spec.schedules has no entry %r any more",
                     ctx.entry)
            return 0
        if spec.schedules is not None:
            record.schedule_entry = ctx.entry
        if reason := not_due(ctx, spec, kube):
            log.info("skipped without side effects: %s", reason)
            return 0
        period = resolve_period(ctx, spec, ReportScheduleStatus.of(obj),
                                ctx.scheduled_time or started)
        record.period_start, record.period_end = period.start, period.end
        kube.update_status(ctx.namespace, ctx.schedule, lambda st: with_run(st, record, limit))
        execute(ctx, spec, record, period, kube)
    except StatusTooLarge as exc:  # the run could not even be recorded as started: nothing was sent
        return unrecordable(obj, record, kube, exc)
    except (ValidationError, errors.BulletinError) as exc:
        record.result, record.reason = RunResult.FAILED, errors.reason_of(exc)
        record.message = errors.describe(exc) if isinstance(exc, ValidationError) else str(exc)
        crashed = record.reason in errors.RETRIED  # the API server failed: the Job retries
    except Exception as exc:  # a bug: record it, then let the Job retry
        log.exception("run crashed")
        record.result, record.reason, crashed = RunResult.FAILED, errors.Reason.INTERNAL_ERROR, True
        record.message = f"internal error ({type(exc).__name__}): {exc}"
    finish(ctx, record, ctx.secrets())
    trimmed: list[int] = []
    try:
        written = kube.update_status(ctx.namespace, ctx.schedule,
                                     recorded(ctx, obj, record, limit, kube),
                                     on_trim=trimmed.append)
    except StatusTooLarge as exc:
        return unrecordable(obj, record, kube, exc)
    if (record := written_run(written, record)).result is None:  # other shards still send
        log.info("shard done; the run ends with its last shard")
        return EXIT_CRASHED if crashed else 0
    ok = announce(ctx, spec, obj, record, kube, trimmed)
    if crashed:
        return EXIT_CRASHED
    return 0 if ok else EXIT_FAILED


def recorded(ctx: RunContext, obj: Mapping[str, Any], record: RunRecord, limit: int,
             kube: Kube) -> Callable[[ReportScheduleStatus], ReportScheduleStatus]:
    """The run's final status change: its record and, once the recorded next run has passed,
    the next run of the schedule's entries (the operator's math, their calendars' days off
    skipped), so NEXT RUN does not show this run's past minute until the operator's refresh.
    An invalid spec or calendar, or an unreadable calendar, leaves nextRunTime to the operator."""
    ended = record.end_time or datetime.now(UTC)
    spec = obj.get("spec") or {}
    try:
        days = {n: from_object(n, kube.get_calendar(ctx.namespace, n)) for n in named_in(spec)}
        timing = compile_timing(ReportScheduleSpec.model_validate(spec),
                                f"{ctx.namespace}/{ctx.schedule}", ended, days)
    except Exception as exc:  # the record must be written whatever the next run's math says
        log.info("next run left to the operator: %s", type(exc).__name__)
        return lambda st: with_run(st, record, limit)
    following = timing.next_run(ended)
    return lambda st: with_next_run(with_run(st, record, limit), following, ended)


def announce(ctx: RunContext, spec: ReportScheduleSpec | None, obj: Mapping[str, Any],
             record: RunRecord, kube: Kube, trimmed: list[int]) -> bool:
    """The ended run's Events, log line, termination message and failure notification;
    whether it Succeeded or was Skipped."""
    if trimmed:
        kube.event(obj, warning=True, reason="HistoryTrimmed",
                   message=f"status.history kept under its size budget (400 KiB, and the"
                   f" whole object under 1 MiB): dropped the oldest {trimmed[-1]} run(s)")
    result = record.result or RunResult.FAILED
    ok = result in (RunResult.SUCCEEDED, RunResult.SKIPPED)
    summary = f"run {record.run_id} ({record.trigger.value}): {result.value}, {record.rows} rows"
    if record.message:
        summary += f": {record.message}"
    kube.event(obj, warning=not ok, reason=f"Run{result.value}", message=summary)
    log.info("%s", summary)
    write_termination_message(summary)
    if not ok and spec is not None:
        notify_failure(ctx, spec, record)
    return ok


def unrecordable(obj: dict[str, Any], record: RunRecord, kube: Kube, exc: StatusTooLarge) -> int:
    """A run its ReportSchedule has no room to record: one log line, a Warning Event, and the
    exit code on which the Job fails at once (a retry would only hit the same wall)."""
    message = f"run {record.run_id} cannot be recorded: {exc}"
    log.error("%s", message)
    kube.event(obj, warning=True, reason="RunNotRecorded", message=message)
    write_termination_message(message)
    return EXIT_UNRECORDABLE


if __name__ == "__main__":
    sys.exit(main())
