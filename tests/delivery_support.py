"""Builders for delivery tests: a run context, a spec, a report made of real files."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bulletin.api.runrequest import RunOptions
from bulletin.api.spec import ReportScheduleSpec
from bulletin.api.status import Trigger
from bulletin.context import RunContext
from bulletin.period import Period
from bulletin.runconfig import RunConfig
from devstack.ports import HOST
from doubles import FileArtifact, PlainEmail

PERIOD = Period(start=datetime(2026, 11, 16, tzinfo=UTC), end=datetime(2026, 11, 23, tzinfo=UTC),
                previous_start=datetime(2026, 11, 9, tzinfo=UTC),
                previous_end=datetime(2026, 11, 16, tzinfo=UTC))


def spec(delivery: dict[str, Any], **extra: Any) -> ReportScheduleSpec:
    """A valid spec with ``delivery`` (retries fast unless the test sets them)."""
    delivery = {"retry": {"attempts": 5, "initialBackoffSeconds": 1, "maxBackoffSeconds": 2},
                **delivery}
    return ReportScheduleSpec.model_validate({
        "schedule": {"cron": "0 9 * * MON"},
        "source": {"connectionSecretRef": {"name": "db", "key": "url"}},
        "datasets": [{"name": "main", "query": "SELECT 1"}],
        "delivery": delivery, **extra,
    })


LOCAL_SERVERS = {"BULLETIN_ALLOW_PRIVATE_NETWORKS": f"127.0.0.0/8,{HOST}/32"}


def context(env: dict[str, str], workdir: Path, run_id: str = "weekly-29000000",
            to: list[str] | None = None, local_servers: bool = True) -> RunContext:
    """A run context as the pod would have it; ``local_servers`` lets it reach the test servers
    on HOST (the operator setting BULLETIN_ALLOW_PRIVATE_NETWORKS)."""
    env = {**(LOCAL_SERVERS if local_servers else {}), **env}
    return RunContext(namespace="analytics", schedule="weekly", run_id=run_id,
                      trigger=Trigger.SCHEDULED, scheduled_time=datetime(2026, 11, 23, 8,
                                                                         tzinfo=UTC),
                      options=RunOptions(to=to), workdir=workdir,
                      config=RunConfig.from_env(env))


@dataclass(frozen=True)
class Kpi:
    label: str
    value_text: str
    change_text: str = ""


@dataclass(frozen=True)
class Image:
    cid: str
    data: bytes
    content_type: str


@dataclass(frozen=True)
class Report:
    """A report of real files, shaped like bulletin.report.BuiltReport."""

    artifacts: list[FileArtifact]
    email: PlainEmail
    rows: int = 3
    datasets: dict[str, int] = field(default_factory=lambda: {"main": 3})
    kpis: list[Kpi] = field(default_factory=lambda: [Kpi("Revenue", "€1,200", "+5%")])


def report(directory: Path, files: dict[str, bytes] | None = None,
           images: list[Image] | None = None) -> Report:
    """Write ``files`` (default: a small CSV) and describe them as a report."""
    directory.mkdir(parents=True, exist_ok=True)
    artifacts = []
    for name, data in (files or {"main.csv": b"day,requests\n2026-11-16,3\n"}).items():
        path = directory / name
        path.write_bytes(data)
        kind = "text/csv" if name.endswith(".csv") else "application/octet-stream"
        artifacts.append(FileArtifact(path, kind))
    html = "<html><body><h1>Weekly</h1><img src=\"cid:chart1\"></body></html>"
    return Report(artifacts, PlainEmail("Weekly: 2026-11-16..2026-11-22", "Weekly report.\n",
                                        html, images or []))


def no_sleep(seconds: float) -> None:
    """Retries in unit tests do not wait."""
