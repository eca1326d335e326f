"""Failure notifications: tell the owners what failed and how to fix it (spec.notifications)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from bulletin.api.errors import HINTS
from bulletin.api.spec import ReportScheduleSpec
from bulletin.api.status import RunRecord
from bulletin.context import RunContext

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Notice:
    """A failure notice's email content: plain text only."""

    subject: str
    text: str
    html: str | None = None
    inline_images: tuple[()] = ()


def explain(ctx: RunContext, record: RunRecord) -> str:
    """The notification text: what failed, why, and where to look."""
    result = record.result.value if record.result else "Failed"
    message = record.message or "no details"
    lines = [
        f"Report {ctx.namespace}/{ctx.schedule}: run {record.run_id} {result}.",
        f"Reason: {message}",
    ]
    if record.reason is not None:
        lines.append(f"How to fix: {HINTS[record.reason]}.")
    lines.append(f"History: kubectl describe reportschedule {ctx.schedule} -n {ctx.namespace}")
    lines.append(f"Retry:   kubectl bulletin run {ctx.schedule} -n {ctx.namespace}")
    return "\n".join(lines)


def notify_failure(ctx: RunContext, spec: ReportScheduleSpec, record: RunRecord) -> list[str]:
    """Send the failure notice to the configured owners; returns problems (never raises)."""
    on_failure = spec.notifications.on_failure
    if on_failure is None:
        return []
    text = explain(ctx, record)
    problems: list[str] = []
    if on_failure.email and spec.delivery.email is not None:
        try:
            _email(ctx, spec, on_failure.email, text)
        except Exception as exc:  # a notice must never turn into a crash
            problems.append(f"failure email: {exc}")
    url = ctx.config.onfailure_webhook
    if on_failure.webhook_secret_ref is not None:
        if not url:
            problems.append("failure webhook: its Secret key is missing")
        else:
            try:
                _webhook(ctx, url, text)
            except Exception as exc:  # as above
                problems.append(f"failure webhook: {exc}")
    for problem in problems:
        log.warning("%s", problem)
    return problems


def _email(ctx: RunContext, spec: ReportScheduleSpec, to: list[str], text: str) -> None:
    from bulletin.deliver import allowlist
    from bulletin.deliver.compose import compose
    from bulletin.deliver.email import Smtp, build_message, send

    allowlist.check(to, ctx.config, "spec.notifications.onFailure.email")
    email = spec.delivery.email
    assert email is not None
    smtp = Smtp.of(ctx.config.smtp, email.smtp_secret_ref.name)
    notice = Notice(subject=f"[Bulletin] {ctx.schedule} failed", text=text)
    letter = compose(spec, notice, to=to, secret_from=smtp.settings.sender)
    send(smtp, letter.sender, to, bytes(build_message(letter)))


def _webhook(ctx: RunContext, url: str, text: str) -> None:
    from bulletin.deliver.http import post
    from bulletin.deliver.netguard import NetPolicy, guarded_client

    with guarded_client(ctx.config) as client:
        post(client, url, json.dumps({"text": text}).encode(), {}, what="failure webhook",
             timeout=30.0, policy=NetPolicy.of(ctx.config))
