"""Burst delivery (spec.delivery.burst): one report per recipient, by email, each recipient at
most once per run.

The email target's record carries the run's ledger (burst.sentKeys): a recipient's key is
saved right after the SMTP server accepted their message, so a retried run (same run id)
builds and sends only the reports of recipients not yet Sent. The window for a repeat is the
one every target has: a crash between the server's acceptance and that write; the Message-ID
is stable per run and recipient, so mail systems can drop such a repeat.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from bulletin.api.backoff import Backoff
from bulletin.api.errors import DeliveryError
from bulletin.api.spec import ReportScheduleSpec
from bulletin.api.status import BURST_FAILURES_SHOWN, BurstProgress, DeliveryRecord, RunResult
from bulletin.assembly.burst import Recipient
from bulletin.context import RunContext
from bulletin.deliver import allowlist
from bulletin.deliver.compose import compose
from bulletin.deliver.content import ReportLike, template_vars
from bulletin.deliver.email import Smtp, build_message, send, sender_address
from bulletin.deliver.encrypted import sealed_copy
from bulletin.deliver.retry import Permanent, Transient
from bulletin.deliver.runstate import FAILED, PENDING, SENT, artifacts_size
from bulletin.gates import check_rows
from bulletin.ledger import Ledger
from bulletin.period import Period
from bulletin.redact import delivery_secrets, redact, redacted_logs
from bulletin.shutdown import finishing, pause

log = logging.getLogger("bulletin.deliver")
TARGET = "email"
Build = Callable[[Recipient, Path], ReportLike]


class BurstRun:
    """One run's burst: the email record with its ledger, and sending one recipient's report."""

    def __init__(self, spec: ReportScheduleSpec, ctx: RunContext, period: Period,
                 ledger: Ledger, now: Callable[[], datetime]) -> None:
        self.spec, self.ctx, self.period, self.ledger, self.now = spec, ctx, period, ledger, now
        self.secrets = [*ctx.secrets(), *delivery_secrets(ctx.env)]
        records = ledger.load()
        mine = next((r for r in records if r.target == TARGET), None)
        self.others = [r for r in records if r.target != TARGET]
        self.record = mine or DeliveryRecord(target=TARGET, state=PENDING)
        earlier = self.record.burst or BurstProgress()
        self.record.state, self.record.error = PENDING, None
        self.record.burst = BurstProgress(sent_keys=list(earlier.sent_keys))
        self.progress: BurstProgress = self.record.burst

    def save(self) -> None:
        self.progress.sent = len(self.progress.sent_keys)
        self.ledger.save([*self.others, self.record])

    def failed(self, recipient: Recipient, error: str) -> None:
        self.progress.failed += 1
        text = redact(f"{recipient.address or '(no address)'}: {error}", self.secrets)[:300]
        if len(self.progress.failures) < BURST_FAILURES_SHOWN:
            self.progress.failures.append(text)
        log.warning("burst: %s", text)

    def send(self, smtp: Smtp, recipient: Recipient, report: ReportLike) -> None:
        """One attempt; raises DeliveryError."""
        size, limit = artifacts_size(report.artifacts), self.spec.delivery.link_above_bytes
        if size > limit:
            raise Permanent(f"the report is {size} bytes, above delivery.linkAboveBytes"
                            f" ({limit}); a burst sends no links")
        ctx = self.ctx
        subject_vars = {**template_vars(
            title=self.spec.report.title or ctx.schedule, namespace=ctx.namespace,
            schedule=ctx.schedule, run_id=ctx.run_id, period=self.period, report=report),
            "recipient": {"address": recipient.address, **recipient.params}}
        letter = compose(self.spec, report.email, to=[recipient.address],
                         secret_from=smtp.settings.sender, subject_vars=subject_vars,
                         attachments=report.artifacts,
                         run_key=f"{ctx.namespace}/{ctx.schedule}/{ctx.run_id}/email/"
                         f"{recipient.key}")
        crypt = self.spec.delivery.email.encryption if self.spec.delivery.email else None
        data = (build_message(letter).as_bytes() if crypt is None else
                sealed_copy(crypt, self.ctx.env, recipient.address, build_message(letter)))
        result = send(smtp, sender_address(smtp.settings.sender, None), [recipient.address],
                      data)
        for code, message in result.refused.values():
            error = Transient if 400 <= code < 500 else Permanent
            raise error(f"SMTP {smtp.settings.host}:{smtp.settings.port} refused: {code}"
                        f" {message}")

    def attempts(self, smtp: Smtp, recipient: Recipient, report: ReportLike, backoff: Backoff,
                 sleep: Callable[[float], None]) -> str | None:
        """Send with spec.delivery.retry; None when Sent, else the last error."""
        limit = self.spec.delivery.retry.attempts
        for n in range(1, limit + 1):
            self.record.attempts += 1
            self.record.last_attempt_time = self.now()
            try:
                self.send(smtp, recipient, report)
                return None
            except DeliveryError as exc:
                delay = backoff.delay(n, exc.retry_after) if exc.transient and n < limit else None
                if delay is None:
                    return str(exc)
                sleep(delay)
        raise AssertionError("unreachable")


def deliver_burst(spec: ReportScheduleSpec, ctx: RunContext, period: Period, ledger: Ledger,
                  recipients: Sequence[Recipient], build: Build, *,
                  sleep: Callable[[float], None] = pause,
                  now: Callable[[], datetime] = lambda: datetime.now(UTC),
                  backoff: Backoff | None = None) -> tuple[list[DeliveryRecord], int, int]:
    """Build and send every recipient's report not yet Sent in this run; the run's records,
    rows and bytes of the reports built."""
    email = spec.delivery.email
    assert email is not None
    run = BurstRun(spec, ctx, period, ledger, now)
    progress = run.progress
    progress.recipients = len(recipients)
    run.save()
    backoff = backoff or Backoff.of(spec.delivery.retry)
    done, rows, size = set(progress.sent_keys), 0, 0
    try:
        smtp: Smtp | None = Smtp.from_env(ctx.env, email.smtp_secret_ref.name)
    except Permanent as exc:
        smtp, run.record.error = None, redact(str(exc), run.secrets)[:1000]
    with redacted_logs(run.secrets):
        for recipient in recipients:
            if recipient.key in done:
                continue
            if smtp is None:
                progress.failed += 1
                continue
            try:
                allowlist.check([recipient.address], ctx.env, "email")
            except Permanent as exc:
                run.failed(recipient, str(exc))
                run.save()
                continue
            outdir = ctx.workdir / ctx.run_id / "burst" / recipient.key
            try:
                report = build(recipient, outdir)
                rows, size = rows + report.rows, size + artifacts_size(report.artifacts)
                if check_rows(spec.gates, report.datasets) is not None:
                    progress.skipped += 1
                    continue
                with finishing():  # a SIGTERM waits for the send and its ledger write
                    error = run.attempts(smtp, recipient, report, backoff, sleep)
                    _recorded(run, recipient, error, done)
                continue
            except Permanent as exc:  # this recipient's report cannot be made (no password)
                error = str(exc)
            finally:
                shutil.rmtree(outdir, ignore_errors=True)
            _recorded(run, recipient, error, done)
    clean = progress.failed == 0 and run.record.error is None
    run.record.state = SENT if clean else FAILED
    if not clean and run.record.error is None:
        run.record.error = f"{progress.failed} of {progress.recipients} recipients failed"
    run.save()
    return [*run.others, run.record], rows, size


def _recorded(run: BurstRun, recipient: Recipient, error: str | None, done: set[str]) -> None:
    """Count the recipient as sent (None) or failed, and save the ledger."""
    if error is None:
        run.progress.sent_keys.append(recipient.key)
        done.add(recipient.key)
    else:
        run.failed(recipient, error)
    run.save()


def burst_result(record: DeliveryRecord) -> tuple[RunResult, str]:
    """The run's result from the burst's counts, and a one-line summary for status."""
    burst = record.burst or BurstProgress()
    summary = (f"burst: {burst.recipients} recipients: {burst.sent} sent, {burst.failed}"
               f" failed, {burst.skipped} skipped")
    if record.error and not burst.failures:
        summary += f"; {record.error}"
    if burst.failures:
        summary += "; " + "; ".join(burst.failures)
    if burst.failed or record.error:
        result = RunResult.PARTIALLY_DELIVERED if burst.sent else RunResult.FAILED
    else:
        result = RunResult.SUCCEEDED if burst.sent else RunResult.SKIPPED
    return result, summary
