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
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx

from bulletin.api.delivery import WebhookDelivery
from bulletin.api.podenv import S3_PREFIX, SLACK_URL, TEAMS_URL, webhook_key_var, webhook_url_var
from bulletin.api.spec import ReportScheduleSpec
from bulletin.api.status import DeliveryRecord, RunResult
from bulletin.context import RunContext
from bulletin.deliver import allowlist, chat, webhook
from bulletin.deliver.content import (
    ArtifactLike,
    ReportLike,
    kpi_doc,
    render_subject,
    template_vars,
)
from bulletin.deliver.email import Letter, Link, Smtp, build_message, message_id, send
from bulletin.deliver.email import sender_address as email_sender
from bulletin.deliver.http import post
from bulletin.deliver.netguard import NetPolicy, guarded_client
from bulletin.deliver.retry import Backoff, DeliveryError, Permanent, Transient
from bulletin.deliver.storage import ObjectStore, run_prefix, schedule_prefix
from bulletin.ledger import Ledger
from bulletin.period import Period
from bulletin.redact import delivery_secrets, redact, redacted_logs

log = logging.getLogger("bulletin.deliver")
SENT, PENDING, FAILED = "Sent", "Pending", "Failed"
ARCHIVE = "archive"


def _size(artifacts: Sequence[ArtifactLike]) -> int:
    return sum(a.path.stat().st_size for a in artifacts)


class Uploads:
    """The run's artifacts in storage: uploaded once per process, presigned on demand."""

    def __init__(self, store: ObjectStore | None, store_error: DeliveryError | None,
                 prefix: str, artifacts: Sequence[ArtifactLike]) -> None:
        self.store, self.store_error, self.prefix = store, store_error, prefix
        self.artifacts = artifacts
        self._done: list[str] | None = None

    @property
    def configured(self) -> bool:
        return self.store is not None or self.store_error is not None

    def _store(self) -> ObjectStore:
        if self.store is None:
            raise self.store_error or Permanent("delivery.storage is not set")
        return self.store

    def adopt(self, keys: Sequence[str]) -> None:
        """Keys a previous try of this run already uploaded (its archive record is Sent)."""
        if keys:
            self._done = list(keys)

    def keys(self) -> list[str]:
        """Upload every artifact (the first time) and return the object keys."""
        if self._done is None:
            store = self._store()
            keys = []
            for artifact in self.artifacts:
                key = f"{self.prefix}/{artifact.path.name}"
                store.put_file(key, artifact.path, artifact.content_type)
                keys.append(key)
            self._done = keys
        return list(self._done)

    def links(self, now: datetime) -> list[Link]:
        """Fresh presigned links to every artifact (uploading them first if need be)."""
        store = self._store()
        seconds = store.storage.link_expiry_seconds
        sizes = {a.path.name: a.path.stat().st_size for a in self.artifacts}
        when = f"{now + timedelta(seconds=seconds):%Y-%m-%d %H:%M} UTC"
        return [Link(name=k.rsplit("/", 1)[-1], url=store.presign(k, seconds),
                     size=sizes.get(k.rsplit("/", 1)[-1], 0), expires=when)
                for k in self.keys()]


@dataclass
class DeliveryRun:
    """What every target of one run shares."""

    spec: ReportScheduleSpec
    ctx: RunContext
    report: ReportLike
    period: Period
    uploads: Uploads
    http: httpx.Client
    now: Callable[[], datetime]
    title: str = field(init=False)

    def __post_init__(self) -> None:
        self.title = self.spec.report.title or self.ctx.schedule

    def delivery_id(self, target: str) -> str:
        return f"{self.ctx.namespace}/{self.ctx.schedule}/{self.ctx.run_id}/{target}"

    def links(self, record: DeliveryRecord) -> list[Link]:
        """Links to the report for ``record``'s message, noted in the record."""
        links = self.uploads.links(self.now())
        record.link, record.object_keys = True, self.uploads.keys()
        return links

    def secret_env(self, var: str, what: str) -> str:
        value = self.ctx.env.get(var)
        if not value:
            raise Permanent(f"{what} is missing: check that the Secret and key exist")
        return value


class Target(Protocol):
    """One delivery target."""

    key: str

    def send(self, run: DeliveryRun, record: DeliveryRecord) -> None:
        """One attempt; raises DeliveryError. May fill in record (recipients, link, keys)."""
        ...


class ArchiveTarget:
    """Every artifact into storage, keys recorded."""

    key = ARCHIVE

    def send(self, run: DeliveryRun, record: DeliveryRecord) -> None:
        record.object_keys = run.uploads.keys()


def _unique(addresses: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for address in addresses:
        if address.lower() not in seen:
            seen.add(address.lower())
            out.append(address)
    return out


class EmailTarget:
    """One message over SMTP; a retry goes only to recipients not yet accepted."""

    key = "email"

    def __init__(self, spec: ReportScheduleSpec, override_to: Sequence[str] | None) -> None:
        email = spec.delivery.email
        assert email is not None
        self.email = email
        self.to = list(override_to or email.to)
        self.cc = [] if override_to else list(email.cc)
        self.bcc = [] if override_to else list(email.bcc)
        self.recipients = _unique([*self.to, *self.cc, *self.bcc])
        self._data: bytes | None = None
        self._link_keys: list[str] = []

    def _message(self, run: DeliveryRun, smtp: Smtp, record: DeliveryRecord) -> bytes:
        if self._data is not None:
            record.link, record.object_keys = bool(self._link_keys), list(self._link_keys)
            return self._data
        content = run.report.email
        subject = content.subject
        if self.email.subject:
            subject = render_subject(self.email.subject, template_vars(
                title=run.title, namespace=run.ctx.namespace, schedule=run.ctx.schedule,
                run_id=run.ctx.run_id, period=run.period, report=run.report))
        artifacts, links = list(run.report.artifacts), []
        size = _size(artifacts)
        limit = run.spec.delivery.link_above_bytes
        if size > limit:
            if not run.uploads.configured:
                raise Permanent(f"the report is {size} bytes, above delivery.linkAboveBytes"
                                f" ({limit}): set delivery.storage to send a link instead")
            links, artifacts = run.links(record), []
            self._link_keys = list(record.object_keys)
        sender = email_sender(smtp.settings.sender, self.email.from_name)
        letter = Letter(
            sender=sender, to=self.to, cc=self.cc, subject=subject, text=content.text,
            html=content.html, reply_to=self.email.reply_to,
            message_id=message_id(run.delivery_id(self.key), sender),
            extra_headers={"X-Bulletin-Run": run.delivery_id(self.key)},
            inline_images=content.inline_images, attachments=artifacts, links=links)
        self._data = build_message(letter).as_bytes()
        return self._data

    def send(self, run: DeliveryRun, record: DeliveryRecord) -> None:
        env = run.ctx.env
        allowlist.check(self.recipients, env, "email")
        smtp = Smtp.from_env(env, self.email.smtp_secret_ref.name)
        done = {r.lower() for r in record.recipients}
        pending = [r for r in self.recipients if r.lower() not in done]
        if not pending:
            return
        data = self._message(run, smtp, record)
        result = send(smtp, email_sender(smtp.settings.sender, None), pending, data)
        record.recipients = [*record.recipients, *result.accepted]
        if result.refused:
            detail = "; ".join(f"{a}: {c} {m}" for a, (c, m) in result.refused.items())
            retry = any(400 <= c < 500 for c, _ in result.refused.values())
            error = Transient if retry else Permanent
            raise error(f"SMTP {smtp.settings.host}:{smtp.settings.port} refused {detail}")


def _artifact_doc(run: DeliveryRun, record: DeliveryRecord, inline: bool) -> list[dict[str, Any]]:
    if inline:
        return [webhook.inline_artifact(a.path.name, a.content_type, a.path.read_bytes())
                for a in run.report.artifacts]
    types = {a.path.name: a.content_type for a in run.report.artifacts}
    return [{"name": link.name, "contentType": types.get(link.name, "application/octet-stream"),
             "bytes": link.size, "url": link.url, "expiresAt": link.expires}
            for link in run.links(record)]


class WebhookTarget:
    """A signed JSON POST."""

    def __init__(self, hook: WebhookDelivery) -> None:
        self.hook = hook
        self.key = f"webhook/{hook.name}"

    def send(self, run: DeliveryRun, record: DeliveryRecord) -> None:
        hook = self.hook
        url = hook.url or run.secret_env(
            webhook_url_var(hook.name), f"webhooks[{hook.name}].urlSecretRef")
        signing_key = None
        if hook.signing_secret_ref is not None:
            signing_key = run.secret_env(webhook_key_var(hook.name),
                                         f"webhooks[{hook.name}].signingSecretRef")
        artifacts = list(run.report.artifacts)
        size = _size(artifacts)
        inline = size <= hook.link_above_bytes
        if not inline and not run.uploads.configured:
            raise Permanent(f"the report is {size} bytes, above linkAboveBytes"
                            f" ({hook.link_above_bytes}): set delivery.storage to send a link")
        ctx, period = run.ctx, run.period
        delivery_id = run.delivery_id(self.key)
        body = webhook.payload(
            delivery_id=delivery_id,
            schedule={"namespace": ctx.namespace, "name": ctx.schedule},
            run={"id": ctx.run_id, "trigger": ctx.trigger.value,
                 "scheduledTime": ctx.scheduled_time.isoformat() if ctx.scheduled_time else None},
            period={"start": period.start.isoformat(), "end": period.end.isoformat(),
                    "label": period.label(), "timeZone": run.spec.schedule.time_zone},
            summary={"title": run.title, "rows": run.report.rows, "bytes": size,
                     "datasets": dict(run.report.datasets),
                     "kpis": [kpi_doc(k) for k in run.report.kpis]},
            artifacts=_artifact_doc(run, record, inline),
        )
        headers = webhook.signed_headers(signing_key, delivery_id, body)
        post(run.http, url, body, headers, what=self.key, timeout=hook.timeout_seconds,
             policy=NetPolicy.from_env(run.ctx.env))


class ChatTarget:
    """A Slack or Teams incoming webhook."""

    def __init__(self, kind: str) -> None:
        self.key = kind
        self.var = SLACK_URL if kind == "slack" else TEAMS_URL

    def send(self, run: DeliveryRun, record: DeliveryRecord) -> None:
        url = run.secret_env(self.var, f"{self.key}.webhookSecretRef")
        links = run.links(record) if run.uploads.configured else []
        summary = chat.Summary(
            title=run.title, period=f"{run.period.label()} ({run.spec.schedule.time_zone})",
            rows=run.report.rows, kpis=run.report.kpis,
            links=[(link.name, link.url) for link in links],
            expires=links[0].expires if links else None)
        body = chat.slack(summary) if self.key == "slack" else chat.teams(summary)
        response = post(run.http, url, body, {}, what=self.key, timeout=30,
                        policy=NetPolicy.from_env(run.ctx.env))
        if self.key == "teams" and (failure := chat.teams_failure(response.text)):
            raise failure


def plan(spec: ReportScheduleSpec, override_to: Sequence[str] | None) -> list[Target]:
    """The run's targets in delivery order (archive first: links reuse its objects). A
    run-now test send (override_to) goes to those addresses by email only."""
    delivery = spec.delivery
    if override_to:
        return [EmailTarget(spec, override_to)] if delivery.email else []
    targets: list[Target] = []
    if delivery.storage is not None and delivery.storage.archive:
        targets.append(ArchiveTarget())
    if delivery.email is not None:
        targets.append(EmailTarget(spec, None))
    targets += [WebhookTarget(hook) for hook in delivery.webhooks]
    if delivery.slack is not None:
        targets.append(ChatTarget("slack"))
    if delivery.teams is not None:
        targets.append(ChatTarget("teams"))
    return targets


class _Progress:
    """The run's records, and saving them (redacted) to the ledger."""

    def __init__(self, ledger: Ledger, records: list[DeliveryRecord], secrets: list[str]) -> None:
        self.ledger, self.records, self.secrets = ledger, records, secrets

    def save(self) -> None:
        for record in self.records:
            if record.error:
                record.error = redact(record.error, self.secrets)[:1000]
        self.ledger.save(self.records)


def _attempts(target: Target, run: DeliveryRun, record: DeliveryRecord, progress: _Progress,
              backoff: Backoff, sleep: Callable[[float], None]) -> None:
    limit = run.spec.delivery.retry.attempts
    for n in range(1, limit + 1):
        record.state, record.attempts, record.last_attempt_time = PENDING, record.attempts + 1, (
            run.now())
        progress.save()
        try:
            target.send(run, record)
        except DeliveryError as exc:
            delay = backoff.delay(n, exc.retry_after) if exc.transient and n < limit else None
            record.error = str(exc)
            if delay is None:
                record.state = FAILED
                progress.save()
                log.warning("%s: Failed after attempt %d: %s", target.key, record.attempts,
                            redact(str(exc), progress.secrets))
                return
            progress.save()
            log.info("%s: attempt %d failed, retrying in %.1fs: %s", target.key,
                     record.attempts, delay, redact(str(exc), progress.secrets))
            sleep(delay)
            continue
        except Exception as exc:  # a bug must not lose the run's other targets
            record.state, record.error = FAILED, f"internal error: {type(exc).__name__}: {exc}"
            progress.save()
            log.error("%s: %s", target.key, redact(record.error, progress.secrets))
            return
        record.state, record.error = SENT, None
        progress.save()
        log.info("%s: Sent (attempt %d)", target.key, record.attempts)
        return


def _store(spec: ReportScheduleSpec, env: Mapping[str, str]
           ) -> tuple[ObjectStore | None, DeliveryError | None]:
    storage = spec.delivery.storage
    if storage is None:
        return None, None
    credentials = {k[len(S3_PREFIX):]: v for k, v in env.items() if k.startswith(S3_PREFIX)}
    try:
        return ObjectStore(storage, credentials, storage.credentials_secret_ref.name,
                           env), None
    except DeliveryError as exc:
        return None, exc


def _prefix(ctx: RunContext, records: Sequence[DeliveryRecord], now: datetime) -> str:
    for record in records:  # a retried run keeps the first try's folder
        if record.object_keys:
            return record.object_keys[0].rsplit("/", 1)[0]
    return run_prefix(ctx.namespace, ctx.schedule, ctx.scheduled_time or now, ctx.run_id)


def _retention(run: DeliveryRun, secrets: list[str]) -> None:
    storage, store = run.spec.delivery.storage, run.uploads.store
    if storage is None or store is None or storage.retention_days == 0:
        return
    cutoff = run.now() - timedelta(days=storage.retention_days)
    try:
        deleted = store.prune(schedule_prefix(run.ctx.namespace, run.ctx.schedule), cutoff)
    except DeliveryError as exc:
        log.warning("retention: %s", redact(str(exc), secrets))
        return
    if deleted:
        log.info("retention: deleted %d object(s) older than %d days", len(deleted),
                 storage.retention_days)


@contextmanager
def _client(given: httpx.Client | None, env: Mapping[str, str]) -> Iterator[httpx.Client]:
    if given is not None:
        yield given
        return
    with guarded_client(env) as client:
        yield client


def deliver_all(
    spec: ReportScheduleSpec,
    ctx: RunContext,
    report: ReportLike,
    ledger: Ledger,
    period: Period,
    *,
    http: httpx.Client | None = None,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    backoff: Backoff | None = None,
) -> list[DeliveryRecord]:
    """Deliver ``report`` to every target not yet Sent in this run; the run's records.

    Records of a previous try (same run id) are kept; targets no longer in the spec keep
    their records too, since what happened to them did happen.
    """
    secrets = [*ctx.secrets(), *delivery_secrets(ctx.env)]
    targets = plan(spec, ctx.options.to)
    previous = {r.target: r for r in ledger.load()}
    records = [previous.pop(t.key) if t.key in previous
               else DeliveryRecord(target=t.key, state=PENDING) for t in targets]
    progress = _Progress(ledger, [*records, *previous.values()], secrets)
    progress.save()
    store, store_error = _store(spec, ctx.env)
    uploads = Uploads(store, store_error, _prefix(ctx, progress.records, now()),
                      report.artifacts)
    for target, record in zip(targets, records, strict=True):
        if target.key == ARCHIVE and record.state == SENT:
            uploads.adopt(record.object_keys)
    backoff = backoff or Backoff(spec.delivery.retry)
    with redacted_logs(secrets), _client(http, ctx.env) as client:
        run = DeliveryRun(spec, ctx, report, period, uploads, client, now)
        for target, record in zip(targets, records, strict=True):
            if record.state == SENT:
                log.info("%s: already Sent in an earlier try of this run", target.key)
                continue
            _attempts(target, run, record, progress, backoff, sleep)
        _retention(run, secrets)
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
