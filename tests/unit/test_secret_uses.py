"""Which Secret a run may use, and where its credentials may go: the opt-in label names the use
(a Secret opened for one use is refused for another), the older value `true` still opens every
use with a warning when one schedule uses it for two things, and credentials go only to the
endpoint named in their own Secret (Prometheus headers, S3 keys, webhook signing keys)."""

from __future__ import annotations

from typing import Any

import pytest
from bulletin.api.references import (
    USABLE_LABEL,
    Reference,
    Use,
    ambiguous_uses,
    references,
    refusal,
)
from bulletin.api.spec import ReportScheduleSpec
from bulletin.api.storage import Storage
from bulletin.deliver.retry import Permanent
from bulletin.deliver.storage import ObjectStore, bound_endpoint
from support import report_schedule

DB = Reference("Secret", "db", "spec.source.connectionSecretRef", Use.DATABASE)
PROM = Reference("Secret", "db", "spec.source.prometheus.urlSecretRef", Use.PROMETHEUS)


def _labels(value: str) -> dict[str, str]:
    return {USABLE_LABEL: value, "team": "b"}


def test_a_secret_opened_for_one_use_is_refused_for_another() -> None:
    assert refusal(DB, _labels("database")) is None
    why = refusal(PROM, _labels("database"))
    assert why == ("Secret 'db' (spec.source.prometheus.urlSecretRef) is opened to reports for"
                   f" database only ({USABLE_LABEL}=database), not for prometheus; a Secret"
                   " serves one use: name one opened for prometheus")
    assert refusal(PROM, _labels("database.prometheus")) is None


def test_an_unlabelled_secret_is_refused_naming_the_label_to_set() -> None:
    assert refusal(DB, {"team": "b"}) == (
        f"Secret 'db' (spec.source.connectionSecretRef) is not labelled {USABLE_LABEL}=database;"
        " its owner must label it before ReportSchedules may use it")
    assert refusal(DB, None) is None  # missing: the run reports what it lacks


def test_the_older_value_true_opens_every_use_and_warns_when_two_uses_share_it() -> None:
    assert refusal(PROM, _labels("true")) is None
    assert ambiguous_uses([DB], lambda _ref: _labels("true")) == []
    assert ambiguous_uses([DB, PROM], lambda _ref: _labels("database")) == []
    [warning] = ambiguous_uses([DB, PROM], lambda _ref: _labels("true"))
    assert warning == (f"Secret 'db' is labelled {USABLE_LABEL}=true and used here for database"
                       f" and prometheus: label it with the one use it is for (e.g."
                       f" {USABLE_LABEL}=database) and give the other use its own Secret")


def test_every_reference_names_its_use() -> None:
    spec = ReportScheduleSpec.model_validate(report_schedule("x", source={
        "connectionSecretRef": {"name": "db", "key": "url"},
        "prometheus": {"urlSecretRef": {"name": "prom", "key": "url"},
                       "headersSecretRef": {"name": "prom", "key": "headers"}}},
        delivery={"email": {"smtpSecretRef": {"name": "smtp"}, "to": ["a@example.com"]},
                  "webhooks": [{"name": "w", "urlSecretRef": {"name": "hooks", "key": "u"},
                                "signingSecretRef": {"name": "hooks", "key": "k"}}],
                  "slack": {"webhookSecretRef": {"name": "chat", "key": "slack"}},
                  "storage": {"bucket": "reports", "credentialsSecretRef": {"name": "s3"}}},
        report={"templateConfigMapRef": {"name": "brand"}})["spec"])
    assert [(r.name, r.use) for r in references(spec)] == [
        ("db", "database"), ("prom", "prometheus"), ("prom", "prometheus"), ("smtp", "smtp"),
        ("s3", "storage"), ("hooks", "webhook"), ("hooks", "webhook"), ("chat", "chat"),
        ("brand", "templates")]


@pytest.mark.parametrize("hook", [
    {"name": "w", "url": "https://listener.example/x",
     "signingSecretRef": {"name": "hooks", "key": "k"}},
    {"name": "w", "urlSecretRef": {"name": "mine", "key": "u"},
     "signingSecretRef": {"name": "hooks", "key": "k"}},
])
def test_a_signing_key_signs_only_for_the_url_of_its_own_secret(hook: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"spec.delivery.webhooks\[w\]: signingSecretRef signs"
                       r" only for the URL of its own Secret"):
        ReportScheduleSpec.model_validate(report_schedule("x", delivery={"webhooks": [hook]})[
            "spec"])


STORAGE = Storage.model_validate({"bucket": "reports", "credentialsSecretRef": {"name": "s3"}})
KEYS = {"accessKeyId": "AKIA-team-b", "secretAccessKey": "very-secret"}


def test_s3_credentials_go_only_to_the_endpoint_their_secret_names() -> None:
    named = {**KEYS, "endpoint": "https://minio.team-b.svc:9000/"}
    assert bound_endpoint(STORAGE, named, "s3") == "https://minio.team-b.svc:9000"
    assert bound_endpoint(STORAGE, KEYS, "s3") is None  # AWS S3
    same = STORAGE.model_copy(update={"endpoint": "https://minio.team-b.svc:9000"})
    assert ObjectStore(same, named, "s3").endpoint == "https://minio.team-b.svc:9000"
    elsewhere = STORAGE.model_copy(update={"endpoint": "https://listener.attacker.example"})
    for credentials, names in ((named, "another"), (KEYS, "none (AWS S3)")):
        with pytest.raises(Permanent) as caught:
            ObjectStore(elsewhere, credentials, "s3")
        assert str(caught.value) == (
            "spec.delivery.storage.endpoint: the credentials of Secret 's3' go only to the"
            f" endpoint that Secret names in its key endpoint, and it names {names}; add or"
            " correct the key endpoint in the Secret, or drop spec's endpoint")
