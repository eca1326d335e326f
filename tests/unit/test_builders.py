"""Golden tests of the pure builders (regenerate with UPDATE_GOLDEN=1 after a deliberate change)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from bulletin.api.runnerpod import RunnerPod
from bulletin.api.runrequest import RunOptions
from bulletin.api.schedule import CatchUp
from bulletin.api.spec import ReportScheduleSpec
from bulletin.timing import compile_timing
from bulletin_operator import builders, owned

GOLDEN = Path(__file__).parent / "golden"
OWNER = builders.Owner(name="weekly-usage", namespace="analytics", uid="1111-2222")
SPEC = ReportScheduleSpec.model_validate(
    {
        "schedule": {"weekly": {"days": ["MON"], "at": "09:00"}, "timeZone": "Europe/Berlin"},
        "source": {"connectionSecretRef": {"name": "analytics-db", "key": "url"}},
        "datasets": [{"name": "usage", "query": "SELECT 1"}],
        "delivery": {"email": {"smtpSecretRef": {"name": "smtp"}, "to": ["team@example.com"]}},
    }
)
SETTINGS = builders.RunnerSettings(image="example.org/bulletin-runner:test")
FULL = ReportScheduleSpec.model_validate({
    **SPEC.model_dump(by_alias=True, exclude_none=True),
    "report": {"templateConfigMapRef": {"name": "brand-templates"}},
    "protection": {"passwordSecretRef": {"name": "report-password", "key": "password"},
                   "instructions": "Ask the payroll desk."},
    "delivery": {
        "email": {"smtpSecretRef": {"name": "smtp"}, "to": ["team@example.com"],
                  "encryption": {"certificatesRef": {"name": "mail-certs"}}},
        "webhooks": [{"name": "bi-hook", "urlSecretRef": {"name": "hooks", "key": "bi"},
                      "signingSecretRef": {"name": "hooks", "key": "key"}}],
        "slack": {"webhookSecretRef": {"name": "chat", "key": "slack"}},
        "storage": {"endpoint": "https://s3.example.com", "bucket": "reports",
                    "credentialsSecretRef": {"name": "s3"}, "archive": True},
    },
    "notifications": {"onFailure": {"email": ["owners@example.com"],
                                    "webhookSecretRef": {"name": "chat", "key": "alerts"}}},
})
POD_DEFAULTS = RunnerPod.model_validate({
    "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
    "nodeSelector": {"pool": "batch", "disk": "hdd"},
    "tolerations": [{"key": "batch", "operator": "Exists", "effect": "NoSchedule"}],
    "priorityClassName": "reports-low",
    "imagePullSecrets": [{"name": "registry"}],
    "podLabels": {"team": "platform", "cost-center": "shared"},
    "podAnnotations": {"sidecar.istio.io/inject": "false"},
})
SETTINGS_PLACED = builders.RunnerSettings(image="example.org/bulletin-runner:test",
                                          pod=POD_DEFAULTS)
PLACED = ReportScheduleSpec.model_validate({
    **SPEC.model_dump(by_alias=True, exclude_none=True),
    "runner": {
        "resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "4Gi"}},
        "nodeSelector": {"disk": "ssd"},
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [
                {"key": "zone", "operator": "In", "values": ["a", "b"]}]}]}}},
        "imagePullSecrets": [{"name": "registry"}, {"name": "team-registry"}],
        "podLabels": {"cost-center": "analytics"},
        "podAnnotations": {"example.com/owner": "analytics"},
    },
})
OWNER_LISTED = builders.Owner(name="weekly-usage", namespace="analytics", uid="1111-2222",
                              allowed_domains="example.com")
MULTI = ReportScheduleSpec.model_validate({
    **SPEC.model_dump(by_alias=True, exclude_none=True, exclude={"single"}),
    "schedules": [{"name": "emea", "daily": {"at": "09:00"}, "timeZone": "Europe/Berlin"},
                  {"name": "amer", "weekly": {"days": ["MON", "FRI"], "at": "09:00"},
                   "timeZone": "America/New_York", "staggerMinutes": 15}],
})
SETTINGS_LISTED = builders.RunnerSettings(image="example.org/bulletin-runner:test",
                                          allowed_domains="example.com,*.example.org")


def _check(name: str, obj: Any) -> None:
    path = GOLDEN / f"{name}.yaml"
    text = yaml.safe_dump(obj, sort_keys=False)
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text)
    assert path.exists(), f"missing golden file {path}; run with UPDATE_GOLDEN=1"
    assert text == path.read_text(), f"{name} differs from {path}"


@pytest.mark.parametrize(
    ("name", "build"),
    [
        ("cronjob", lambda: builders.cronjob(OWNER, SPEC, SETTINGS, "0 9 * * 1")),
        ("cronjob-full", lambda: builders.cronjob(OWNER_LISTED, FULL, SETTINGS_LISTED,
                                                  "0 9 * * 1")),
        ("cronjob-placed-defaults", lambda: builders.cronjob(OWNER, SPEC, SETTINGS_PLACED,
                                                             "0 9 * * 1")),
        ("cronjob-placed", lambda: builders.cronjob(OWNER, PLACED, SETTINGS_PLACED,
                                                    "0 9 * * 1")),
        ("cronjobs-entries", lambda: owned.owned_objects(
            OWNER, MULTI, SETTINGS,
            compile_timing(MULTI, "analytics/weekly-usage", datetime(2026, 3, 1, tzinfo=UTC)
                           ).crons())[3:]),
        ("serviceaccount", lambda: builders.service_account(OWNER)),
        ("role", lambda: builders.role(OWNER)),
        ("rolebinding", lambda: builders.role_binding(OWNER)),
        ("run-now-job", lambda: builders.run_now_job(OWNER, SPEC, SETTINGS, "2026-11-21T10:00")),
        ("run-now-job-options", lambda: builders.run_now_job(
            OWNER, SPEC, SETTINGS, "t2", RunOptions(period="2026-10", to=["me@example.com"]))),
    ],
)
def test_golden(name: str, build: Any) -> None:
    _check(name, build())


def test_cronjob_follows_spec_changes() -> None:
    changed = SPEC.model_copy(update={"suspend": True})
    job = builders.cronjob(OWNER, changed, SETTINGS, "0 9 * * 1")
    assert job["spec"]["suspend"] is True
    assert job["spec"]["concurrencyPolicy"] == "Forbid"
    original = builders.cronjob(OWNER, SPEC, SETTINGS, "0 9 * * 1")
    key = builders.HASH_ANNOTATION
    assert job["metadata"]["annotations"][key] != original["metadata"]["annotations"][key]


def test_long_names_are_cut_and_stay_unique() -> None:
    a = builders.Owner(name="x" * 60 + "a", namespace="ns", uid="u")
    b = builders.Owner(name="x" * 60 + "b", namespace="ns", uid="u")
    assert len(builders.cronjob_name(a)) <= 52
    assert builders.cronjob_name(a) != builders.cronjob_name(b)
    job = builders.run_now_job(a, SPEC, SETTINGS, "t")
    assert len(job["metadata"]["name"]) <= 63


def test_run_now_job_name_depends_on_token() -> None:
    one = builders.run_now_job(OWNER, SPEC, SETTINGS, "a")["metadata"]["name"]
    two = builders.run_now_job(OWNER, SPEC, SETTINGS, "b")["metadata"]["name"]
    assert one != two


def test_catch_up_policy_sets_the_starting_deadline() -> None:
    none = SPEC.model_copy(update={"catch_up": CatchUp.NONE})
    explicit = SPEC.model_copy(update={"starting_deadline_seconds": 42})
    assert builders.starting_deadline(SPEC) == 86400
    assert builders.starting_deadline(none) == 300
    assert builders.starting_deadline(explicit) == 42


def test_placement_never_touches_bulletins_labels_or_the_security_context() -> None:
    pod = builders.cronjob(OWNER, PLACED, SETTINGS_PLACED, "0 9 * * 1")[
        "spec"]["jobTemplate"]["spec"]["template"]
    plain = builders.cronjob(OWNER, SPEC, SETTINGS, "0 9 * * 1")[
        "spec"]["jobTemplate"]["spec"]["template"]
    assert plain["metadata"]["labels"].items() <= pod["metadata"]["labels"].items()
    assert pod["spec"]["securityContext"] == plain["spec"]["securityContext"]
    runner = pod["spec"]["containers"][0]
    assert runner["securityContext"] == plain["spec"]["containers"][0]["securityContext"]


@pytest.mark.parametrize(
    ("runner", "error"),
    [
        ({"podLabels": {"app.kubernetes.io/component": "x"}}, "app.kubernetes.io/component"),
        ({"podLabels": {"bulletin.dev/schedule": "other"}}, "bulletin.dev/schedule"),
        ({"podLabels": {"team": "not a value"}}, "pattern"),
        ({"podAnnotations": {"container.apparmor.security.beta.kubernetes.io/runner":
                             "unconfined"}}, "container.apparmor"),
        ({"podAnnotations": {f"k{i}": "v" for i in range(33)}}, "at most 32"),
        ({"priorityClassName": "system-cluster-critical"}, "system-"),
        ({"resources": {"limits": {"memory": "lots"}}}, "pattern"),
        ({"tolerations": [{"operator": "Maybe"}]}, "Exists"),
        ({"imagePullSecrets": [{"name": f"s{i}"} for i in range(9)]}, "at most 8"),
    ],
)
def test_spec_runner_is_bounded_and_keeps_bulletins_keys(runner: dict[str, Any],
                                                         error: str) -> None:
    with pytest.raises(ValueError, match=error):
        ReportScheduleSpec.model_validate({**SPEC.wire(), "runner": runner})


def test_operator_defaults_may_use_system_priority_classes() -> None:
    pod = RunnerPod.model_validate({"priorityClassName": "system-cluster-critical"})
    merged = builders.cronjob(OWNER, SPEC, builders.RunnerSettings(pod=pod), "0 9 * * 1")
    template = merged["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert template["priorityClassName"] == "system-cluster-critical"


def test_pod_defaults_come_from_one_json_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    from bulletin_operator import settings

    monkeypatch.setenv(settings.POD_DEFAULTS, POD_DEFAULTS.model_dump_json(by_alias=True))
    settings.config.cache_clear()  # read once per process: a new start here
    assert settings.config().runner.pod == POD_DEFAULTS
    monkeypatch.setenv(settings.POD_DEFAULTS, '{"job-name": "x"}')
    assert settings.config().runner.pod == POD_DEFAULTS  # not read again
    monkeypatch.setenv(settings.POD_DEFAULTS, '{"podLabels": {"job-name": "x"}}')
    settings.config.cache_clear()
    with pytest.raises(ValueError, match="job-name"):
        settings.config()
    monkeypatch.delenv(settings.POD_DEFAULTS)
    settings.config.cache_clear()
    assert settings.config().runner.pod == RunnerPod()


@pytest.mark.parametrize(("job", "expected"), [
    ("weekly-29897820", ("weekly", 29897820)),
    ("weekly-monday-29897820", ("weekly-monday", 29897820)),
    ("weekly-now-4cd0e21a", None),  # a run-now Job
    ("weekly-1234567", None),  # too few digits for a minute since the epoch
    ("local-20261208003600", None),  # a run outside a Job (no BULLETIN_RUN_ID): a timestamp
])
def test_a_cronjobs_job_name_gives_its_scheduled_minute(
        job: str, expected: tuple[str, int] | None) -> None:
    from bulletin.api.names import scheduled_minute

    assert scheduled_minute(job) == expected
