"""The schedule form's mapping: posted fields onto the spec the model validates, a spec back to
the form's values, errors filed under the field they name, and the manifest kept in Git."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from bulletin.api.spec import ReportScheduleSpec
from bulletin.console import editform

FORM: dict[str, list[str]] = {
    "name": ["weekly-sales"], "namespace": ["team-a"], "when": ["weekly"], "at": ["09:00"],
    "days": ["THU", "MON"], "time_zone": ["Europe/Berlin"], "period_kind": [""],
    "secret_name": ["db"], "secret_key": ["url"], "dataset_name_0": ["sales"],
    "dataset_kind_0": ["sql"], "dataset_query_0": ["SELECT 1"], "dataset_name_1": [""],
    "dataset_query_1": [""], "formats": ["xlsx", "csv"],
    "email_to": ["a@example.com, b@example.com"],
    "email_secret": ["smtp"], "email_cc": [""], "webhook_url": [""], "storage_bucket": [""],
}


def form(**changes: str | list[str]) -> dict[str, list[str]]:
    return {**FORM, **{k: v if isinstance(v, list) else [v] for k, v in changes.items()}}


def test_a_filled_form_is_a_valid_spec() -> None:
    spec = editform.spec_from(form())
    assert spec == {
        "schedule": {"timeZone": "Europe/Berlin",
                     "weekly": {"days": ["MON", "THU"], "at": "09:00"}},
        "source": {"connectionSecretRef": {"name": "db", "key": "url"}},
        "datasets": [{"name": "sales", "query": "SELECT 1"}],
        "formats": ["csv", "xlsx"],
        "delivery": {"email": {"smtpSecretRef": {"name": "smtp"},
                               "to": ["a@example.com", "b@example.com"]}},
    }
    assert editform.validate(spec) == {}
    ReportScheduleSpec.model_validate(spec)


@pytest.mark.parametrize(("changes", "schedule"), [
    ({"when": "daily", "at": "06:30"}, {"daily": {"at": "06:30"}}),
    ({"when": "monthly", "monthly_day": "last"}, {"monthly": {"lastDay": True, "at": "09:00"}}),
    ({"when": "monthly", "monthly_day": "15"}, {"monthly": {"day": 15, "at": "09:00"}}),
    ({"when": "monthly", "monthly_day": "Second TUE"},
     {"monthly": {"occurrence": "Second", "weekday": "TUE", "at": "09:00"}}),
    ({"when": "cron", "cron": "H 9 * * 1-5"}, {"cron": "H 9 * * 1-5"}),
    ({"when": "daily", "calendar": "de", "weekdays_only": "on"},
     {"daily": {"at": "09:00"}, "calendarRef": {"name": "de"}, "weekdaysOnly": True}),
])
def test_presets_and_cron(changes: dict[str, str], schedule: dict[str, Any]) -> None:
    spec = editform.spec_from(form(**changes))
    assert spec["schedule"] == {"timeZone": "Europe/Berlin", **schedule}
    assert editform.validate(spec) == {}


@pytest.mark.parametrize(("changes", "field", "text"), [
    ({"at": "25:00"}, "at", "spec.schedule.weekly.at"),
    ({"days": []}, "days", "spec.schedule.weekly.days"),
    ({"when": "monthly", "monthly_day": ""}, "monthly_day", "set exactly one of day"),
    ({"when": "cron", "cron": "every day"}, "cron", "spec.schedule.cron"),
    ({"formats": []}, "formats", "spec.formats"),
    ({"dataset_name_0": "Sales!"}, "dataset_name_0", "spec.datasets.0.name"),
    ({"dataset_query_0": "", "dataset_name_0": "x", "dataset_kind_0": "sql"}, "dataset_query_0",
     "spec.datasets.0.query"),
    ({"secret_name": ""}, "secret_name", "spec.source"),
    ({"email_to": "", "email_secret": ""}, "email_to", "spec.delivery: set at least one target"),
    ({"email_to": "not an address"}, "email_to", "spec.delivery.email.to.0"),
    ({"period_kind": "TrailingDays", "period_days": "999"}, "period_days", "spec.period.days"),
])
def test_errors_are_filed_under_their_field(changes: dict[str, Any], field: str,
                                            text: str) -> None:
    errors = editform.validate(editform.spec_from(form(**changes)))
    assert field in errors, errors
    assert any(text in message for message in errors[field]), errors


@pytest.mark.parametrize(("path", "field"), [
    ("spec.schedule.daily.at", "at"), ("spec.datasets[2].query", "dataset_query_2"),
    ("spec.datasets[1].name", "dataset_name_1"), ("metadata.name", "name"),
    ("spec.delivery.email.smtpSecretRef.name", "email_secret"),
    ("spec.delivery.storage.bucket", "storage_bucket"), ("spec.historyLimit", "form"),
    ("spec.schedule.calendarRef.name", "calendar"),
])
def test_api_server_paths_name_form_fields(path: str, field: str) -> None:
    assert editform.field_for(path) == field


def test_a_cel_message_names_its_own_field() -> None:
    errors: dict[str, list[str]] = {}
    editform.add_error(errors, "spec", 'spec: Invalid value: "object": spec.delivery.webhooks:'
                       " names must be unique")
    assert list(errors) == ["webhook_url"]


def test_editing_keeps_what_the_form_does_not_show() -> None:
    base: dict[str, Any] = {
        "schedule": {"cron": "0 9 * * MON", "timeZone": "UTC", "skipDates": ["2026-12-25"]},
        "source": {"connectionSecretRef": {"name": "db", "key": "url"},
                   "statementTimeoutSeconds": 60},
        "datasets": [{"name": "sales", "query": "SELECT 2"}],
        "report": {"title": "Sales"}, "historyLimit": 20,
        "delivery": {"email": {"smtpSecretRef": {"name": "smtp"}, "to": ["a@example.com"],
                               "bcc": ["boss@example.com"]},
                     "webhooks": [{"name": "ops", "urlSecretRef": {"name": "h", "key": "u"}}]},
    }
    values = editform.values_of(base)
    assert values["when"] == "cron" and values["cron"] == "0 9 * * MON"
    assert values["datasets"] == [("sales", "sql", "SELECT 2")]
    assert values["email_to"] == "a@example.com" and values["webhook_set"] == ""
    posted = {k: [v] if isinstance(v, str) else v for k, v in values.items()
              if k != "datasets"}
    posted.update(dataset_name_0=["sales"], dataset_query_0=["SELECT 3"], time_zone=["Asia/Tokyo"])
    spec = editform.spec_from(posted, base)
    assert spec["schedule"] == {"skipDates": ["2026-12-25"], "timeZone": "Asia/Tokyo",
                                "cron": "0 9 * * MON"}
    assert spec["source"]["statementTimeoutSeconds"] == 60
    assert spec["report"] == {"title": "Sales"} and spec["historyLimit"] == 20
    assert spec["delivery"]["email"]["bcc"] == ["boss@example.com"]
    assert spec["delivery"]["webhooks"] == base["delivery"]["webhooks"]
    assert spec["datasets"] == [{"name": "sales", "query": "SELECT 3"}]
    assert editform.validate(spec) == {}


def test_several_schedule_entries_are_kept() -> None:
    base = {"schedules": [{"name": "emea", "daily": {"at": "08:00"}}]}
    assert editform.values_of(base)["when"] == "keep"
    spec = editform.spec_from(form(when="keep"), base)
    assert spec["schedules"] == base["schedules"] and "schedule" not in spec


def test_webhook_and_storage() -> None:
    spec = editform.spec_from(form(webhook_url="https://hooks.example.com/x",
                                   storage_bucket="reports", storage_secret="s3",
                                   storage_endpoint="https://minio.example.com"))
    assert spec["delivery"]["webhooks"] == [{"name": "webhook",
                                             "url": "https://hooks.example.com/x"}]
    assert spec["delivery"]["storage"] == {"bucket": "reports",
                                           "credentialsSecretRef": {"name": "s3"},
                                           "endpoint": "https://minio.example.com"}
    assert editform.validate(spec) == {}
    kept = editform.spec_from(form(), spec)  # an empty URL field keeps the saved URL
    assert kept["delivery"]["webhooks"] == spec["delivery"]["webhooks"]
    values = editform.values_of(spec)
    assert values["webhook_url"] == "" and values["webhook_set"] == "https://hooks.example.com/\u2026"
    shown = editform.shown(kept, spec)
    assert shown["delivery"]["webhooks"][0]["url"] == "https://hooks.example.com/\u2026"
    typed = editform.spec_from(form(webhook_url="https://other.example.com/y"), spec)
    assert editform.shown(typed, spec)["delivery"]["webhooks"][0]["url"] == (
        "https://other.example.com/y")


def test_the_manifest_is_gitops_ready() -> None:
    spec = editform.spec_from(form())
    text = editform.as_yaml(editform.manifest("weekly-sales", "team-a", spec, {"owner": "ana"}))
    doc = yaml.safe_load(text)
    assert list(doc) == ["apiVersion", "kind", "metadata", "spec"]
    assert doc["metadata"] == {"name": "weekly-sales", "namespace": "team-a",
                               "labels": {"owner": "ana"}}
    assert doc["apiVersion"] == "bulletin.dev/v1alpha1" and doc["kind"] == "ReportSchedule"
    assert doc["spec"] == spec
