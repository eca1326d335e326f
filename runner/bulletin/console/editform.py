"""The schedule form, both ways: a ReportSchedule's spec (its wire dict) to form fields, and the
posted fields onto a spec that ReportScheduleSpec then validates (the model is the only schema:
the form holds no rule of its own). Fields the form does not show are kept from the schedule
being edited. Errors, pydantic's or the API server's, are told by the form field they name."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from typing import Any

import yaml
from pydantic import ValidationError

from bulletin.api.spec import GROUP, KIND, VERSION, ReportScheduleSpec
from bulletin.console.views import safe_url

Fields = Mapping[str, Sequence[str]]  # every value of each posted field
WHEN = ("daily", "weekly", "monthly", "cron")
DAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
FORMATS = ("csv", "xlsx", "pdf", "html")
MAX_DATASETS = 20
GENERAL = "form"  # errors that name no field of the form
# Spec paths (dots, list indexes as numbers) to the form field that sets them; the longest
# prefix wins; {n} is the dataset's index.
PATHS = {
    "metadata.name": "name", "metadata.namespace": "namespace",
    "spec.schedule": "when", "spec.schedule.cron": "cron", "spec.schedule.daily": "at",
    "spec.schedule.weekly": "at", "spec.schedule.weekly.days": "days",
    "spec.schedule.monthly": "monthly_day", "spec.schedule.monthly.at": "at",
    "spec.schedule.timeZone": "time_zone", "spec.schedule.calendarRef": "calendar",
    "spec.period": "period_kind",
    "spec.period.days": "period_days", "spec.source": "secret_name",
    "spec.source.connectionSecretRef.key": "secret_key",
    "spec.source.prometheus": "prometheus_url", "spec.datasets": "dataset_name_0",
    "spec.datasets.{n}": "dataset_query_{n}", "spec.datasets.{n}.name": "dataset_name_{n}",
    "spec.formats": "formats", "spec.delivery": "email_to",
    "spec.delivery.email.smtpSecretRef": "email_secret", "spec.delivery.email.cc": "email_cc",
    "spec.delivery.webhooks": "webhook_url", "spec.delivery.storage": "storage_bucket",
    "spec.delivery.storage.credentialsSecretRef": "storage_secret",
    "spec.delivery.storage.endpoint": "storage_endpoint",
}


def one(fields: Fields, name: str) -> str:
    """The first value of a field, stripped ("" when absent)."""
    values = fields.get(name) or [""]
    return values[0].strip()


def _lines(text: str) -> list[str]:
    return [part.strip() for part in re.split(r"[,\n]", text) if part.strip()]


def _schedule(fields: Fields, base: Mapping[str, Any]) -> dict[str, Any]:
    kept = {k: v for k, v in base.items()
            if k not in (*WHEN, "timeZone", "weekdaysOnly", "calendarRef")}
    when, at = one(fields, "when"), one(fields, "at")
    found: dict[str, Any] = {**kept, "timeZone": one(fields, "time_zone") or "UTC"}
    if one(fields, "weekdays_only"):
        found["weekdaysOnly"] = True
    if calendar := one(fields, "calendar"):
        found["calendarRef"] = {"name": calendar}
    if when == "cron":
        found["cron"] = one(fields, "cron")
    elif when == "weekly":
        found["weekly"] = {"days": [d for d in DAYS if d in (fields.get("days") or [])], "at": at}
    elif when == "monthly":
        day = one(fields, "monthly_day")
        rule: dict[str, Any] = ({"lastDay": True} if day == "last" else
                                {"day": int(day)} if day.isdigit() else
                                dict(zip(("occurrence", "weekday"), day.split(), strict=False)))
        found["monthly"] = {**rule, "at": at}
    elif when == "daily":
        found["daily"] = {"at": at}
    return found


def _period(fields: Fields) -> dict[str, Any] | None:
    kind, days = one(fields, "period_kind"), one(fields, "period_days")
    if not kind:
        return None
    return {"kind": kind, **({"days": int(days)} if days.isdigit() else {})}


def _source(fields: Fields, base: Mapping[str, Any]) -> dict[str, Any]:
    found = {k: v for k, v in base.items() if k != "connectionSecretRef"}
    if secret := one(fields, "secret_name"):
        found["connectionSecretRef"] = {"name": secret, "key": one(fields, "secret_key") or "url"}
    if url := one(fields, "prometheus_url"):  # else the saved one is kept (not shown)
        prometheus = {k: v for k, v in (found.get("prometheus") or {}).items()
                      if k != "urlSecretRef"}
        found["prometheus"] = {**prometheus, "url": url}
    return found


def _datasets(fields: Fields, base: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    before = {d.get("name"): d for d in base}
    found = []
    for n in range(MAX_DATASETS + 1):
        name, query = one(fields, f"dataset_name_{n}"), one(fields, f"dataset_query_{n}")
        if not (name or query):
            continue
        key = "promql" if one(fields, f"dataset_kind_{n}") == "promql" else "query"
        kept = {k: v for k, v in before.get(name, {}).items() if k not in ("query", "promql")}
        found.append({**kept, "name": name, key: query})
    return found


def _delivery(fields: Fields, base: Mapping[str, Any]) -> dict[str, Any]:
    found = {k: v for k, v in base.items() if k not in ("email", "storage")}
    secret, to, cc = (one(fields, n) for n in ("email_secret", "email_to", "email_cc"))
    if secret or to or cc:
        email = {k: v for k, v in (base.get("email") or {}).items() if k not in ("to", "cc")}
        found["email"] = {**email, "smtpSecretRef": {"name": secret},
                          **({"to": _lines(to)} if to else {}),
                          **({"cc": _lines(cc)} if cc else {})}
    hooks = [dict(h) for h in base.get("webhooks") or []]
    if url := one(fields, "webhook_url"):  # else the saved ones are kept (not shown)
        first = hooks.pop(0) if hooks and "url" in hooks[0] else {"name": "webhook"}
        found["webhooks"] = [{**first, "url": url}, *hooks]
    bucket, creds = one(fields, "storage_bucket"), one(fields, "storage_secret")
    if bucket or creds:
        storage = {k: v for k, v in (base.get("storage") or {}).items() if k != "endpoint"}
        endpoint = one(fields, "storage_endpoint")
        found["storage"] = {**storage, "bucket": bucket, "credentialsSecretRef": {"name": creds},
                            **({"endpoint": endpoint} if endpoint else {})}
    return found


def spec_from(fields: Fields, base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The spec the form describes, on top of ``base`` (the edited schedule's spec)."""
    spec = copy.deepcopy(dict(base or {}))
    if one(fields, "when") in WHEN or "schedules" not in spec:
        spec.pop("schedules", None)
        spec["schedule"] = _schedule(fields, spec.get("schedule") or {})
    if (period := _period(fields)) is not None:
        spec["period"] = {**(spec.get("period") or {}), **period}
        if period["kind"] != "TrailingDays":
            spec["period"].pop("days", None)
    else:
        spec.pop("period", None)
    spec["source"] = _source(fields, spec.get("source") or {})
    spec["datasets"] = _datasets(fields, spec.get("datasets") or [])
    spec["formats"] = [f for f in FORMATS if f in (fields.get("formats") or [])]
    spec["delivery"] = _delivery(fields, spec.get("delivery") or {})
    return spec


def _monthly_day(monthly: Mapping[str, Any]) -> str:
    if monthly.get("lastDay"):
        return "last"
    if monthly.get("weekday"):
        return f"{monthly.get('occurrence', '')} {monthly['weekday']}"
    return str(monthly.get("day", ""))


def values_of(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The form's values for a spec: each field's text, or a list (days, formats), and the
    datasets as (name, kind, query)."""
    sched = spec.get("schedule") or {}
    when = next((w for w in WHEN if w in sched), "keep" if spec.get("schedules") else "weekly")
    rule = sched.get(when) or {}
    source, delivery = spec.get("source") or {}, spec.get("delivery") or {}
    ref, email = source.get("connectionSecretRef") or {}, delivery.get("email") or {}
    storage, hooks = delivery.get("storage") or {}, delivery.get("webhooks") or [{}]
    return {
        "when": when, "cron": sched.get("cron", ""), "at": rule.get("at", "09:00")
        if isinstance(rule, Mapping) else "", "days": rule.get("days", ["MON"])
        if isinstance(rule, Mapping) else [], "monthly_day": _monthly_day(sched.get(
            "monthly") or {}), "time_zone": sched.get("timeZone", "UTC"),
        "weekdays_only": "on" if sched.get("weekdaysOnly") else "",
        "calendar": (sched.get("calendarRef") or {}).get("name", ""),
        "period_kind": (spec.get("period") or {}).get("kind", ""),
        "period_days": str((spec.get("period") or {}).get("days", "")),
        "secret_name": ref.get("name", ""), "secret_key": ref.get("key", "url"),
        "prometheus_url": "", "prometheus_set": _hidden((source.get("prometheus") or {}).get(
            "url")),
        "datasets": [(d.get("name", ""), "promql" if "promql" in d else "sql",
                      d.get("promql", d.get("query", ""))) for d in spec.get("datasets") or []],
        "formats": list(spec.get("formats") or ["csv"]),
        "email_secret": (email.get("smtpSecretRef") or {}).get("name", ""),
        "email_to": ", ".join(email.get("to") or []), "email_cc": ", ".join(email.get("cc") or []),
        "webhook_url": "", "webhook_set": _hidden(hooks[0].get("url")),
        "storage_bucket": storage.get("bucket", ""),
        "storage_secret": (storage.get("credentialsSecretRef") or {}).get("name", ""),
        "storage_endpoint": storage.get("endpoint", ""),
    }


def _hidden(url: str | None) -> str:
    """A saved URL as the form tells of it: scheme and host (its path may hold a token)."""
    return f"{safe_url(url)}/\u2026" if url else ""


def shown(spec: Mapping[str, Any], base: Mapping[str, Any]) -> dict[str, Any]:
    """``spec`` for the page: the URLs kept from the saved ``base`` (webhooks, Prometheus)
    cut to scheme and host, as the schedule's page shows them; typed ones as typed."""
    saved = {h.get("url") for h in (base.get("delivery") or {}).get("webhooks") or []}
    saved.add(((base.get("source") or {}).get("prometheus") or {}).get("url"))
    saved.discard(None)
    found = copy.deepcopy(dict(spec))
    hooks = (found.get("delivery") or {}).get("webhooks") or []
    for target in [*hooks, (found.get("source") or {}).get("prometheus") or {}]:
        if target.get("url") in saved:
            target["url"] = _hidden(target["url"])
    return found


def values_from(fields: Fields) -> dict[str, Any]:
    """The form's values as posted (shown again next to their errors)."""
    found: dict[str, Any] = {k: one(fields, k) for k in fields}
    found["days"], found["formats"] = list(fields.get("days") or []), list(
        fields.get("formats") or [])
    found["datasets"] = [(one(fields, f"dataset_name_{n}"), one(fields, f"dataset_kind_{n}"),
                          one(fields, f"dataset_query_{n}")) for n in range(MAX_DATASETS + 1)
                         if one(fields, f"dataset_name_{n}") or one(fields, f"dataset_query_{n}")]
    return found


def field_for(path: str) -> str:
    """The form field that sets the spec path (``spec.datasets[1].query`` or
    ``spec.datasets.1.query``), or GENERAL."""
    path = re.sub(r"\[(\d+)\]", r".\1", path)
    index = re.search(r"^spec\.datasets\.(\d+)", path)
    generic = re.sub(r"^spec\.datasets\.\d+", "spec.datasets.{n}", path)
    parts = generic.split(".")
    for end in range(len(parts), 0, -1):
        if (found := PATHS.get(".".join(parts[:end]))) is not None:
            return found.format(n=index.group(1) if index else 0)
    return GENERAL


def add_error(errors: dict[str, list[str]], path: str, message: str) -> None:
    """File ``message`` under the field of ``path``, or of the first spec path the message
    names that the form sets (a CEL rule's message names its field; the error's path may be
    only ``spec``)."""
    named = [field_for(p.rstrip(".")) for p in re.findall(r"\bspec\.[\w.\[\]]+", message)]
    field = field_for(path)
    if field in (GENERAL, "when", "secret_name", "email_to"):  # the path names only a parent
        field = next((f for f in named if f != GENERAL), field)
    errors.setdefault(field, []).append(message)


def validate(spec: Mapping[str, Any]) -> dict[str, list[str]]:
    """The model's errors of ``spec``, by form field."""
    errors: dict[str, list[str]] = {}
    try:
        ReportScheduleSpec.model_validate(spec)
    except ValidationError as exc:
        for err in exc.errors():
            path = ".".join(["spec", *(str(p) for p in err["loc"])])
            text = err["msg"].removeprefix("Value error, ")
            add_error(errors, path, text if text.startswith("spec") else f"{path}: {text}")
    return errors


def manifest(name: str, namespace: str, spec: Mapping[str, Any],
             labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The ReportSchedule to keep in Git: apiVersion, kind, metadata (name, namespace,
    labels), spec; never status or server-set metadata."""
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if labels:
        meta["labels"] = dict(labels)
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": KIND, "metadata": meta,
            "spec": dict(spec)}


def as_yaml(obj: Mapping[str, Any]) -> str:
    """The manifest as YAML, in the order written."""
    return yaml.safe_dump(dict(obj), sort_keys=False, allow_unicode=True, width=100)
