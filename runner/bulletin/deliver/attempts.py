"""Attempts of one target (deliver.retry's loop), each saved to the ledger before and after."""

from __future__ import annotations

import logging
from collections.abc import Callable

from bulletin.api.backoff import Backoff
from bulletin.api.errors import DeliveryError
from bulletin.api.status import DeliveryRecord
from bulletin.deliver.retry import attempted, wait_after
from bulletin.deliver.runstate import FAILED, PENDING, SENT, DeliveryRun, Target
from bulletin.ledger import Ledger
from bulletin.redact import redact
from bulletin.shutdown import finishing

log = logging.getLogger("bulletin.deliver")


class RecordBook:
    """The run's records, and saving them (redacted) to the ledger."""

    def __init__(self, ledger: Ledger, records: list[DeliveryRecord], secrets: list[str]) -> None:
        self.ledger, self.records, self.secrets = ledger, records, secrets

    def save(self) -> None:
        for record in self.records:
            if record.error:
                record.error = redact(record.error, self.secrets)[:1000]
        self.ledger.save(self.records)


def attempt_until_done(target: Target, run: DeliveryRun, record: DeliveryRecord,
                       progress: RecordBook, backoff: Backoff,
                       sleep: Callable[[float], None]) -> None:
    """Try ``target`` until Sent, a permanent failure, or spec.delivery.retry gives up;
    the record is saved before every attempt and after it (a SIGTERM waits for both)."""
    limit = run.spec.delivery.retry.attempts

    def attempt(n: int) -> float | None:
        record.state, record.attempts, record.last_attempt_time = PENDING, record.attempts + 1, (
            run.now())
        progress.save()
        with finishing():
            return _attempt(target, run, record, progress, backoff, limit=limit, n=n)

    attempted(attempt, limit, sleep)


def _attempt(target: Target, run: DeliveryRun, record: DeliveryRecord, progress: RecordBook,
             backoff: Backoff, limit: int, n: int) -> float | None:
    """One attempt, its outcome saved; the wait before the next one (None: no next one)."""
    try:
        target.send(run, record)
    except DeliveryError as exc:
        delay = wait_after(exc, backoff, n, limit)
        record.error = str(exc)
        if delay is None:
            record.state = FAILED
            progress.save()
            log.warning("%s: Failed after attempt %d: %s", target.key, record.attempts,
                        redact(str(exc), progress.secrets))
            return None
        progress.save()
        log.info("%s: attempt %d failed, retrying in %.1fs: %s", target.key,
                 record.attempts, delay, redact(str(exc), progress.secrets))
        return delay
    except Exception as exc:  # a bug must not lose the run's other targets
        record.state, record.error = FAILED, f"internal error: {type(exc).__name__}: {exc}"
        progress.save()
        log.error("%s: %s", target.key, redact(record.error, progress.secrets))
        return None
    record.state, record.error = SENT, None
    progress.save()
    log.info("%s: Sent (attempt %d)", target.key, record.attempts)
    return None
