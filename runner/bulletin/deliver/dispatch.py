"""Deliver one run to every target exactly once, recording each step in the ledger first.

For each target: the record is saved as Pending with the attempt counted *before* the send,
and as Sent or Failed right after. A retried run (same Job, same run id) loads the records and
skips targets already Sent; for email it sends only to recipients not yet accepted. The only
window for a repeat is a crash between the receiver's acknowledgement and the Sent write; the
email Message-ID and the webhook X-Bulletin-Delivery header stay the same, so receivers can
drop such a repeat.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

import httpx

from bulletin.api.backoff import Backoff
from bulletin.api.spec import ReportScheduleSpec
from bulletin.api.status import DeliveryRecord, RunResult
from bulletin.context import RunContext
from bulletin.deliver.attempts import RecordBook, attempt_until_done
from bulletin.deliver.content import ReportLike
from bulletin.deliver.netguard import guarded_client
from bulletin.deliver.runstate import ARCHIVE, PENDING, SENT, DeliveryRun
from bulletin.deliver.targets import plan
from bulletin.deliver.uploads import Uploads, apply_retention, open_store, upload_prefix
from bulletin.ledger import Ledger
from bulletin.period import Period
from bulletin.redact import redacted_logs
from bulletin.runconfig import RunConfig
from bulletin.shutdown import pause

log = logging.getLogger("bulletin.deliver")


@contextmanager
def _client(given: httpx.Client | None, config: RunConfig) -> Iterator[httpx.Client]:
    if given is not None:
        yield given
        return
    with guarded_client(config) as client:
        yield client


def deliver_all(
    spec: ReportScheduleSpec,
    ctx: RunContext,
    report: ReportLike,
    ledger: Ledger,
    period: Period,
    *,
    http: httpx.Client | None = None,
    sleep: Callable[[float], None] = pause,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    backoff: Backoff | None = None,
) -> list[DeliveryRecord]:
    """Deliver ``report`` to every target not yet Sent in this run; the run's records.

    Records of a previous try (same run id) are kept; targets no longer in the spec keep
    their records too, since what happened to them did happen.
    """
    secrets = ctx.secrets()
    targets = plan(spec, ctx.options.to)
    previous = {r.target: r for r in ledger.load()}
    records = [previous.pop(t.key) if t.key in previous
               else DeliveryRecord(target=t.key, state=PENDING) for t in targets]
    progress = RecordBook(ledger, [*records, *previous.values()], secrets)
    progress.save()
    store, store_error = open_store(spec, ctx.config)
    uploads = Uploads(store, store_error, upload_prefix(ctx, progress.records, now()),
                      report.artifacts)
    for target, record in zip(targets, records, strict=True):
        if target.key == ARCHIVE and record.state == SENT:
            uploads.adopt(record.object_keys)
    backoff = backoff or Backoff.of(spec.delivery.retry)
    with redacted_logs(secrets), _client(http, ctx.config) as client:
        run = DeliveryRun(spec, ctx, report, period, uploads, client, now)
        for target, record in zip(targets, records, strict=True):
            if record.state == SENT:
                log.info("%s: already Sent in an earlier try of this run", target.key)
                continue
            attempt_until_done(target, run, record, progress, backoff, sleep)
        apply_retention(spec, ctx, store, now(), secrets)
    return progress.records


def run_result(records: Sequence[DeliveryRecord]) -> tuple[RunResult, str | None]:
    """The run's result from its records, never claiming more than happened.

    Succeeded: every record Sent. Failed: nobody got the report (archive alone does not
    count). PartiallyDelivered: anything in between, including an email that reached some
    recipients and not others.
    """
    failed = [r for r in records if r.state != SENT]
    message = "; ".join(f"{r.target}: {r.error or r.state}" for r in failed) or None
    if not failed:
        return RunResult.SUCCEEDED, None
    reached = [r for r in records if r.target != ARCHIVE and (r.state == SENT or r.recipients)]
    return (RunResult.PARTIALLY_DELIVERED if reached else RunResult.FAILED), message
