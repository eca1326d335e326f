"""Log lines of the runner and the operator: text (the default) or one JSON object per line.

``BULLETIN_LOG_FORMAT=json`` (the chart's ``logFormat``) makes every line an object with
``time`` (RFC 3339, UTC), ``level``, ``logger``, ``message``, the fields that say what it is
about (the runner: ``runId``, ``namespace`` and ``schedule`` on every line; the operator:
``namespace`` and ``schedule`` of the object a line is about, from kopf's object reference)
and ``exception`` (the traceback) when there is one. Formatting happens after the handlers'
filters, so the runner's secret redaction (bulletin.redact) applies to JSON lines as well.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from bulletin.api.podenv import LOG_FORMAT

TEXT, JSON = "text", "json"
TEXT_LINE = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Attributes a caller may pass with ``extra=`` to say what a line is about.
CONTEXT_KEYS = ("runId", "namespace", "schedule", "job")


def log_format(env: Mapping[str, str]) -> str:
    """The format ``env`` asks for (text when unset); ValueError for anything else."""
    raw = env.get(LOG_FORMAT, "").strip()
    value = raw.lower() or TEXT
    if value not in (TEXT, JSON):
        raise ValueError(f"{LOG_FORMAT}: unknown format {raw!r}; use text or json")
    return value


def rfc3339(timestamp: float) -> str:
    """``timestamp`` as RFC 3339 in UTC with milliseconds, e.g. 2026-11-30T22:35:01.123Z."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _object_fields(record: logging.LogRecord) -> dict[str, str]:
    """What kopf's object loggers attach (``k8s_ref``): the schedule, namespace or object."""
    ref = getattr(record, "k8s_ref", None)
    if not isinstance(ref, Mapping) or not ref.get("name"):
        return {}
    kind, name, namespace = ref.get("kind"), str(ref["name"]), ref.get("namespace")
    if kind == "ReportSchedule":
        return {"namespace": str(namespace), "schedule": name}
    if kind == "Namespace":
        return {"namespace": name}
    fields = {"object": f"{kind}/{name}"}
    if namespace:
        fields["namespace"] = str(namespace)
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object per record, with ``fields`` on every line."""

    def __init__(self, fields: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self.fields = {k: v for k, v in (fields or {}).items() if v}

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {"time": rfc3339(record.created), "level": record.levelname,
                               "logger": record.name, "message": record.getMessage()}
        doc.update(self.fields)
        doc.update(_object_fields(record))
        doc.update({k: str(v) for k in CONTEXT_KEYS if (v := getattr(record, k, None))})
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            doc["exception"] = record.exc_text
        if record.stack_info:
            doc["stack"] = self.formatStack(record.stack_info)
        return json.dumps(doc, ensure_ascii=False, default=str)


def _log_uncaught(kind: type[BaseException], exc: BaseException,
                  tb: TracebackType | None) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, exc, tb)
        return
    logging.getLogger("bulletin").critical("uncaught exception", exc_info=(kind, exc, tb))


def apply(fmt: str, fields: Mapping[str, str] | None = None) -> None:
    """Make every handler of the root logger write ``fmt``. For json, also route Python
    warnings and uncaught exceptions through logging, so no line of the process is plain
    text. Text leaves the handlers' formatters as they are."""
    if fmt != JSON:
        return
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler())
    for handler in root.handlers:
        handler.setFormatter(JsonFormatter(fields))
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught


def json_line(message: str, level: str = "ERROR", logger: str = "bulletin",
              fields: Mapping[str, str] | None = None) -> str:
    """A line like JsonFormatter's, for output written before logging is set up."""
    record = logging.LogRecord(logger, logging.getLevelName(level), __file__, 0, message,
                               None, None)
    return JsonFormatter(fields).format(record)
