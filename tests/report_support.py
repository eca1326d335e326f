"""Building reports in tests: a spec like the README's, sample data, and build_report on both."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from bulletin.api.spec import ReportScheduleSpec
from bulletin.period import compute
from bulletin.report import BuiltReport, build_report
from bulletin.schedule import zone

# A fixed instant on purpose: the period and the sample rows are chosen to match it, and a
# report built for a past week never goes stale.
AT = dt.datetime(2026, 1, 12, 8, tzinfo=dt.UTC)


def make_spec(**overrides: Any) -> ReportScheduleSpec:
    """A spec like the README's example, with top-level fields (and report keys) overridden."""
    doc: dict[str, Any] = {
        "schedule": {"weekly": {"days": ["MON"], "at": "09:00"}, "timeZone": "Europe/Berlin"},
        "source": {"connectionSecretRef": {"name": "db", "key": "url"}},
        "datasets": [{"name": "usage", "query": "SELECT * FROM usage"},
                     {"name": "totals", "query": "SELECT * FROM totals"}],
        "formats": ["csv"],
        "report": {"title": "Weekly usage", "summaryDataset": "totals",
                   "columns": {"totals": [{"name": "cost", "type": "money", "currency": "EUR"}]}},
        "delivery": {"email": {"smtpSecretRef": {"name": "smtp"}, "to": ["team@example.com"]}},
    }
    for key, value in overrides.items():
        doc[key] = {**doc[key], **value} if isinstance(value, dict) and key == "report" else value
    return ReportScheduleSpec.model_validate(doc)


def sample(rows: int = 12) -> dict[str, Any]:
    """Twelve usage rows in the week of AT, and totals for it and the week before."""
    users = ["alice", "bob", "chen"]
    return {
        "datasets": {
            "usage": [{"day": dt.date(2026, 1, 5) + dt.timedelta(days=i % 7),
                       "user_name": users[i % 3], "requests": 100 + i, "cost": 1.5 * i}
                      for i in range(rows)],
            "totals": [{"requests": 1200, "cost": 99.5, "users": 3}],
        },
        "previous": {"totals": [{"requests": 1000, "cost": 110.0, "users": 3}]},
    }


def build(tmp_path: Path, spec: ReportScheduleSpec, **kwargs: Any) -> BuiltReport:
    """build_report on sample() unless ``sample`` or ``db_url`` is given."""
    period = compute(spec.period_kind(), AT, zone(spec.schedule))
    kwargs.setdefault("sample", None if kwargs.get("db_url") else sample())
    kwargs.setdefault("db_url", None)
    kwargs.setdefault("templates_dir", None)
    return build_report(spec, schedule_name="weekly-usage", namespace="analytics",
                        period=period, outdir=tmp_path, **kwargs)
