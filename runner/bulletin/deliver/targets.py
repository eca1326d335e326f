"""The four delivery targets (archive, email, webhooks, Slack/Teams): one attempt each."""

from __future__ import annotations

from collections.abc import Sequence
from email.message import EmailMessage
from typing import Any

from bulletin.api.delivery import WebhookDelivery
from bulletin.api.podenv import SLACK_URL, TEAMS_URL, webhook_key_var, webhook_url_var
from bulletin.api.spec import ReportScheduleSpec
from bulletin.api.status import DeliveryRecord
from bulletin.deliver import allowlist, chat, webhook
from bulletin.deliver.compose import compose, unique
from bulletin.deliver.content import kpi_doc, template_vars
from bulletin.deliver.email import Smtp, build_message, send
from bulletin.deliver.email import sender_address as email_sender
from bulletin.deliver.http import post
from bulletin.deliver.netguard import NetPolicy
from bulletin.deliver.retry import Permanent, Transient
from bulletin.deliver.runstate import ARCHIVE, DeliveryRun, Target, artifacts_size


class ArchiveTarget:
    """Every artifact into storage, keys recorded."""

    key = ARCHIVE

    def send(self, run: DeliveryRun, record: DeliveryRecord) -> None:
        record.object_keys = run.uploads.keys()


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
        self.recipients = unique([*self.to, *self.cc, *self.bcc])
        self._message: EmailMessage | None = None
        self._data: bytes | None = None
        self._link_keys: list[str] = []

    def message(self, run: DeliveryRun, smtp: Smtp, record: DeliveryRecord) -> EmailMessage:
        """The report's message (attachments, or links when too large), made once."""
        if self._message is not None:
            record.link, record.object_keys = bool(self._link_keys), list(self._link_keys)
            return self._message
        artifacts, links = list(run.report.artifacts), []
        size = artifacts_size(artifacts)
        limit = run.spec.delivery.link_above_bytes
        if size > limit:
            if not run.uploads.configured:
                raise Permanent(f"the report is {size} bytes, above delivery.linkAboveBytes"
                                f" ({limit}): set delivery.storage to send a link instead")
            links, artifacts = run.links(record), []
            self._link_keys = list(record.object_keys)
        subject_vars = template_vars(
            title=run.title, namespace=run.ctx.namespace, schedule=run.ctx.schedule,
            run_id=run.ctx.run_id, period=run.period, report=run.report)
        letter = compose(run.spec, run.report.email, to=self.to, cc=self.cc,
                         secret_from=smtp.settings.sender, subject_vars=subject_vars,
                         attachments=artifacts, links=links, run_key=run.delivery_id(self.key))
        self._message = build_message(letter)
        return self._message

    def data(self, run: DeliveryRun, smtp: Smtp, record: DeliveryRecord) -> bytes:
        """The report's message as sent in the clear."""
        message = self.message(run, smtp, record)
        if self._data is None:
            self._data = message.as_bytes()
        return self._data

    def send(self, run: DeliveryRun, record: DeliveryRecord) -> None:
        config = run.ctx.config
        allowlist.check(self.recipients, config, "email")
        smtp = Smtp.of(config.smtp, self.email.smtp_secret_ref.name)
        done = {r.lower() for r in record.recipients}
        pending = [r for r in self.recipients if r.lower() not in done]
        if not pending:
            return
        if self.email.encryption is not None:
            from bulletin.deliver.encrypted import send_encrypted

            send_encrypted(self, self.email.encryption, run, smtp, record, pending)
            return
        self.deliver(smtp, pending, self.data(run, smtp, record), record)

    def deliver(self, smtp: Smtp, recipients: Sequence[str], data: bytes,
                record: DeliveryRecord) -> None:
        """One SMTP transaction of ``data`` to ``recipients``; the accepted are recorded."""
        result = send(smtp, email_sender(smtp.settings.sender, None), recipients, data)
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
        url = hook.url or run.secret(
            webhook_url_var(hook.name), f"webhooks[{hook.name}].urlSecretRef")
        signing_key = None
        if hook.signing_secret_ref is not None:
            signing_key = run.secret(webhook_key_var(hook.name),
                                         f"webhooks[{hook.name}].signingSecretRef")
        artifacts = list(run.report.artifacts)
        size = artifacts_size(artifacts)
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
                    "label": period.label(), "timeZone": period.time_zone},
            summary={"title": run.title, "rows": run.report.rows, "bytes": size,
                     "datasets": dict(run.report.datasets),
                     "kpis": [kpi_doc(k) for k in run.report.kpis]},
            artifacts=_artifact_doc(run, record, inline),
        )
        headers = webhook.signed_headers(signing_key, delivery_id, body)
        post(run.http, url, body, headers, what=self.key, timeout=hook.timeout_seconds,
             policy=NetPolicy.of(run.ctx.config))


class ChatTarget:
    """A Slack or Teams incoming webhook."""

    def __init__(self, kind: str) -> None:
        self.key = kind
        self.var = SLACK_URL if kind == "slack" else TEAMS_URL

    def send(self, run: DeliveryRun, record: DeliveryRecord) -> None:
        url = run.secret(self.var, f"{self.key}.webhookSecretRef")
        links = run.links(record) if run.uploads.configured else []
        summary = chat.Summary(
            title=run.title, period=f"{run.period.label()} ({run.period.time_zone})",
            rows=run.report.rows, kpis=run.report.kpis,
            links=[(link.name, link.url) for link in links],
            expires=links[0].expires if links else None)
        body = chat.slack(summary) if self.key == "slack" else chat.teams(summary)
        response = post(run.http, url, body, {}, what=self.key, timeout=30,
                        policy=NetPolicy.of(run.ctx.config))
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


