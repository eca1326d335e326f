"""Burst delivery (spec.delivery.burst): one report per recipient of this pod's shard, by email
and to storage (<run's folder>/<recipient key>/<file>), each target at most once per run.

The shard's ledger (bulletin.shardledger) records each target's send right after the server
accepted it, so a retried shard (same run id and index) builds and sends only what is not yet
Sent. Status gets the shard's counts (bulletin.api.shardstatus sums them over shards) when the
shard starts, every PROGRESS_SECONDS while it sends, and when it is done.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from bulletin.api.backoff import Backoff
from bulletin.api.errors import DeliveryError
from bulletin.api.shardstatus import burst_result
from bulletin.api.spec import ReportScheduleSpec
from bulletin.api.status import BURST_FAILURES_SHOWN, BurstProgress, DeliveryRecord, ShardProgress
from bulletin.assembly.burst import Recipient
from bulletin.context import RunContext
from bulletin.deliver import allowlist
from bulletin.deliver.compose import compose
from bulletin.deliver.content import ReportLike, template_vars
from bulletin.deliver.email import Smtp, build_message, send, sender_address
from bulletin.deliver.encrypted import sealed_copy
from bulletin.deliver.retry import Permanent, Transient, attempted, wait_after
from bulletin.deliver.runstate import FAILED, PENDING, SENT, artifacts_size
from bulletin.deliver.storage import ObjectStore, run_prefix
from bulletin.deliver.uploads import open_store
from bulletin.gates import check_rows
from bulletin.ledger import Ledger, LedgerError
from bulletin.period import Period
from bulletin.redact import redact, redacted_logs
from bulletin.shardledger import ShardLedger
from bulletin.shards import Shard
from bulletin.shutdown import finishing, pause

log = logging.getLogger("bulletin.deliver")
EMAIL, STORAGE = "email", "storage"
PROGRESS_SECONDS = 5.0
ONE_SHARD = Shard()
Build = Callable[[Recipient, Path], ReportLike]
__all__ = ["burst_result", "burst_targets", "deliver_burst"]


def burst_targets(spec: ReportScheduleSpec) -> list[str]:
    """Where each recipient's report goes; the first names the run's delivery record."""
    return [t for t, on in ((EMAIL, spec.delivery.email), (STORAGE, spec.delivery.storage)) if on]


class BurstRun:
    """One shard's burst: its status record, its ledger, and sending one recipient's report."""

    def __init__(self, spec: ReportScheduleSpec, ctx: RunContext, period: Period,
                 ledger: Ledger, book: ShardLedger, shard: Shard,
                 now: Callable[[], datetime]) -> None:
        self.spec, self.ctx, self.period, self.ledger, self.now = spec, ctx, period, ledger, now
        self.book, self.targets = book, burst_targets(spec)
        self.secrets = ctx.secrets()
        self.others = [r for r in ledger.load() if r.target != self.targets[0]]
        self.mine = ShardProgress(index=shard.index)
        self.progress = BurstProgress(shard_count=shard.count, shards=[self.mine])
        self.record = DeliveryRecord(target=self.targets[0], state=PENDING, burst=self.progress)
        self.smtp: Smtp | None = None
        self.store: ObjectStore | None = None
        self.prefix = run_prefix(ctx.namespace, ctx.schedule, ctx.scheduled_time or now(),
                                 ctx.run_id)
        self.saved = 0.0

    def save(self, *, every: float = 0.0) -> None:
        """Write the shard's counts to status (at most once per ``every`` seconds)."""
        if every and time.monotonic() - self.saved < every:
            return
        mine, progress = self.mine, self.progress
        mine.sent = self.book.sent() if self.book.index else 0
        for name in ("recipients", "sent", "failed", "skipped"):
            setattr(progress, name, getattr(mine, name))
        self.ledger.save([*self.others, self.record])
        self.saved = time.monotonic()

    def failed(self, recipient: Recipient, error: str) -> None:
        self.mine.failed += 1
        who = recipient.address or recipient.key
        text = redact(f"{who}: {error}", self.secrets)[:300]
        if len(self.progress.failures) < BURST_FAILURES_SHOWN:
            self.progress.failures.append(text)
        log.warning("burst: %s", text)

    def send_email(self, recipient: Recipient, report: ReportLike) -> None:
        """One attempt; raises DeliveryError."""
        smtp = self.smtp
        if smtp is None:
            raise Permanent(self.record.error or "no SMTP settings")
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
                sealed_copy(crypt, self.ctx.config, recipient.address, build_message(letter)))
        result = send(smtp, sender_address(smtp.settings.sender, None), [recipient.address],
                      data)
        for code, message in result.refused.values():
            error = Transient if 400 <= code < 500 else Permanent
            raise error(f"SMTP {smtp.settings.host}:{smtp.settings.port} refused: {code}"
                        f" {message}")

    def send_storage(self, recipient: Recipient, report: ReportLike) -> None:
        """Upload the recipient's files under their own folder; raises DeliveryError."""
        if self.store is None:
            raise Permanent(self.record.error or "delivery.storage is not usable")
        for artifact in report.artifacts:
            self.store.put_file(f"{self.prefix}/{recipient.key}/{artifact.path.name}",
                                artifact.path, artifact.content_type)

    def attempts(self, target: str, recipient: Recipient, report: ReportLike, backoff: Backoff,
                 sleep: Callable[[float], None]) -> str | None:
        """Send to ``target`` with spec.delivery.retry; None when Sent, else the last error."""
        limit = self.spec.delivery.retry.attempts
        send_one = self.send_email if target == EMAIL else self.send_storage
        last: list[str] = []  # the error of the last attempt, if it failed

        def attempt(n: int) -> float | None:
            self.record.attempts += 1
            self.record.last_attempt_time = self.now()
            last.clear()
            try:
                send_one(recipient, report)
            except DeliveryError as exc:
                last.append(str(exc))
                return wait_after(exc, backoff, n, limit)
            return None

        attempted(attempt, limit, sleep)
        return last[0] if last else None

    def connect(self) -> None:
        """SMTP settings and the object store; a failure fails every recipient's target."""
        email = self.spec.delivery.email
        try:
            self.smtp = Smtp.of(self.ctx.config.smtp, email.smtp_secret_ref.name) if email else None
        except Permanent as exc:
            self.record.error = redact(str(exc), self.secrets)[:1000]
        store, error = open_store(self.spec, self.ctx.config)
        self.store = store
        if error is not None:
            self.record.error = redact(str(error), self.secrets)[:1000]


def deliver_burst(spec: ReportScheduleSpec, ctx: RunContext, period: Period, ledger: Ledger,
                  recipients: Sequence[Recipient], build: Build, *, book: ShardLedger,
                  shard: Shard = ONE_SHARD, sleep: Callable[[float], None] = pause,
                  now: Callable[[], datetime] = lambda: datetime.now(UTC),
                  backoff: Backoff | None = None) -> tuple[list[DeliveryRecord], int, int]:
    """Build and send every report of this shard's ``recipients`` not yet Sent in this run;
    the run's records, rows and bytes of the reports built."""
    run = BurstRun(spec, ctx, period, ledger, book, shard, now)
    run.mine.recipients = len(recipients)
    try:
        book.open([r.key for r in recipients])
    except LedgerError as exc:
        run.record.error, run.mine.failed = str(exc), len(recipients)
        return _finished(run, 0, 0)
    run.save()
    run.connect()
    rows = size = 0
    try:
        with redacted_logs(run.secrets):
            for recipient in recipients:
                built = _one(run, recipient, build, backoff or Backoff.of(spec.delivery.retry),
                             sleep)
                rows, size = rows + built[0], size + built[1]
                run.save(every=PROGRESS_SECONDS)
    finally:
        with finishing():  # every send recorded, also when a SIGTERM stops the shard
            book.close()
    return _finished(run, rows, size)


def _one(run: BurstRun, recipient: Recipient, build: Build, backoff: Backoff,
         sleep: Callable[[float], None]) -> tuple[int, int]:
    """One recipient: build their report and send it to the targets not yet Sent; the rows
    and bytes built."""
    pending = [t for t in run.targets if not run.book.done(t, recipient.key)]
    if not pending:
        return 0, 0
    if EMAIL in pending:
        try:
            allowlist.check([recipient.address], run.ctx.config, "email")
        except Permanent as exc:
            run.failed(recipient, str(exc))
            return 0, 0
    outdir = run.ctx.workdir / run.ctx.run_id / "burst" / recipient.key
    try:
        report = build(recipient, outdir)
        built = report.rows, artifacts_size(report.artifacts)
        if check_rows(run.spec.gates, report.datasets) is not None:
            run.mine.skipped += 1
            return built
        errors = []
        with finishing():  # a SIGTERM waits for the sends; the ledger's close writes them
            for target in pending:
                error = run.attempts(target, recipient, report, backoff, sleep)
                if error is None:
                    run.book.mark(target, recipient.key)
                else:
                    errors.append(error if len(pending) == 1 else f"{target}: {error}")
        if errors:
            run.failed(recipient, "; ".join(errors))
        return built
    except Permanent as exc:  # this recipient's report cannot be made (no password)
        run.failed(recipient, str(exc))
        return 0, 0
    finally:
        shutil.rmtree(outdir, ignore_errors=True)


def _finished(run: BurstRun, rows: int, size: int) -> tuple[list[DeliveryRecord], int, int]:
    """The shard is done: its record's state and counts, saved."""
    run.mine.done = True
    clean = run.mine.failed == 0 and run.record.error is None
    run.record.state = SENT if clean else FAILED
    if not clean and run.record.error is None:
        run.record.error = f"{run.mine.failed} of {run.mine.recipients} recipients failed"
    run.save()
    return [*run.others, run.record], rows, size
