"""Slack and Microsoft Teams incoming-webhook messages: title, period, KPIs, link."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from bulletin.api.errors import DeliveryError
from bulletin.deliver.content import KpiLike
from bulletin.deliver.retry import http_error

MAX_KPIS = 10


@dataclass(frozen=True)
class Summary:
    """What a chat message says."""

    title: str
    period: str
    rows: int
    kpis: Sequence[KpiLike]
    links: Sequence[tuple[str, str]] = ()  # (file name, presigned URL)
    expires: str | None = None


def _kpi_text(kpi: KpiLike) -> str:
    return f"{kpi.value_text} ({kpi.change_text})" if kpi.change_text else kpi.value_text


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack(summary: Summary) -> bytes:
    """A Block Kit message with a plain-text fallback."""
    title = _slack_escape(summary.title)
    fallback = f"{summary.title}: {summary.period}"
    blocks: list[dict[str, object]] = [
        {"type": "header", "text": {"type": "plain_text", "text": summary.title[:150]}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text":
            f"{_slack_escape(summary.period)} · {summary.rows} rows"}]},
    ]
    fields = [{"type": "mrkdwn",
               "text": f"*{_slack_escape(k.label)}*\n{_slack_escape(_kpi_text(k))}"}
              for k in summary.kpis[:MAX_KPIS]]
    if fields:
        blocks.append({"type": "section", "fields": fields})
    if summary.links:
        fallback += " " + " ".join(url for _, url in summary.links)
        lines = [f"<{url}|{_slack_escape(name)}>" for name, url in summary.links]
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text":
            f"Download {title}: {' · '.join(lines)} (links expire {summary.expires})"}})
    return json.dumps({"text": fallback, "blocks": blocks}).encode()


def teams(summary: Summary) -> bytes:
    """An Adaptive Card in the message envelope both Workflows and connector webhooks take."""
    body: list[dict[str, object]] = [
        {"type": "TextBlock", "text": summary.title, "weight": "Bolder", "size": "Large",
         "wrap": True},
        {"type": "TextBlock", "text": f"{summary.period} · {summary.rows} rows",
         "isSubtle": True, "wrap": True},
    ]
    if summary.kpis:
        body.append({"type": "FactSet", "facts": [
            {"title": k.label, "value": _kpi_text(k)} for k in summary.kpis[:MAX_KPIS]]})
    card: dict[str, object] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard", "version": "1.4", "body": body,
    }
    if summary.links:
        body.append({"type": "TextBlock", "text": f"Links expire {summary.expires}.",
                     "isSubtle": True, "wrap": True})
        card["actions"] = [{"type": "Action.OpenUrl", "title": f"Download {name}", "url": url}
                           for name, url in summary.links]
    message = {"type": "message", "attachments": [
        {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}]}
    return json.dumps(message).encode()


_TEAMS_FAILURE = re.compile(r"returned HTTP error (\d{3})")


def teams_failure(body: str) -> DeliveryError | None:
    """Legacy Teams connectors answer 200 with an error text when delivery failed."""
    if "delivery failed" not in body.lower():
        return None
    match = _TEAMS_FAILURE.search(body)
    return http_error(int(match.group(1)) if match else 502, "teams",
                      detail=" ".join(body[:200].split()))
