"""The operator-runner contract: every ``BULLETIN_*`` variable of the runner's pod.

The operator writes the container's env with ``runner_env`` (and ``run_now_env`` for run-now
Jobs); the runner reads it back once, at start, with ``bulletin.context.RunContext.from_env``
(its settings and Secret values into ``bulletin.runconfig.RunConfig``). Delivery secrets
are single Secret keys (no ``envFrom``), each optional, so a missing key fails only the target
that needs it, with a message in status, instead of keeping the pod from starting.

=================================== =========================================================
variable                            meaning
=================================== =========================================================
BULLETIN_NAMESPACE, _SCHEDULE       the ReportSchedule this run belongs to
BULLETIN_SCHEDULE_ENTRY             the spec.schedules entry whose CronJob started the run
BULLETIN_RUN_ID                     the Job's name (a CronJob's encodes the scheduled minute)
BULLETIN_TRIGGER                    Manual for run-now Jobs
BULLETIN_RUN_OPTIONS                run-now options as JSON (bulletin.api.runrequest)
BULLETIN_WORKDIR                    scratch directory
BULLETIN_DB_URL                     spec.source.connectionSecretRef
BULLETIN_PROMETHEUS_URL             spec.source.prometheus.urlSecretRef
BULLETIN_PROMETHEUS_HEADERS         spec.source.prometheus.headersSecretRef
BULLETIN_TEMPLATES_DIR              where spec.report.templateConfigMapRef is mounted
BULLETIN_CERTIFICATES_DIR           where email.encryption.certificatesRef is mounted
BULLETIN_ONFAILURE_WEBHOOK          spec.notifications.onFailure.webhookSecretRef
BULLETIN_PROTECTION_PASSWORD        spec.protection.passwordSecretRef
BULLETIN_LOG_LEVEL                  the runner's log level (default INFO)
BULLETIN_LOG_FORMAT                 text (default) or json (bulletin.api.logformat)
BULLETIN_SMTP_<key>                 the email.smtpSecretRef Secret's keys in SMTP_KEYS
BULLETIN_S3_<key>                   the storage.credentialsSecretRef Secret's keys in S3_KEYS
BULLETIN_WEBHOOK_<NAME>_URL         webhooks[].urlSecretRef (NAME: upper case, "-" as "_")
BULLETIN_WEBHOOK_<NAME>_KEY         webhooks[].signingSecretRef
BULLETIN_SLACK_URL, _TEAMS_URL      slack/teams.webhookSecretRef
BULLETIN_ALLOWED_DOMAINS            operator-wide recipient domain allowlist
BULLETIN_NAMESPACE_ALLOWED_DOMAINS  the namespace's allowlist annotation
BULLETIN_ALLOW_PRIVATE_NETWORKS     non-public CIDRs/hosts outbound URLs may reach
BULLETIN_ALLOWED_URL_HOSTS          the only hosts webhook/chat URLs may name
BULLETIN_BURST_SHARDS               a burst run's shards (its Indexed Job's completions)
BULLETIN_JOB_UID                    the run's Job's uid (owner of the shards' ledgers)
JOB_COMPLETION_INDEX                Kubernetes': the shard of this pod (Indexed Job)
=================================== =========================================================
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bulletin.api.delivery import SecretKeyRef
from bulletin.api.runrequest import RunOptions
from bulletin.api.spec import ReportScheduleSpec

NAMESPACE = "BULLETIN_NAMESPACE"
SCHEDULE = "BULLETIN_SCHEDULE"
SCHEDULE_ENTRY = "BULLETIN_SCHEDULE_ENTRY"
RUN_ID = "BULLETIN_RUN_ID"
TRIGGER = "BULLETIN_TRIGGER"
RUN_OPTIONS = "BULLETIN_RUN_OPTIONS"
WORKDIR = "BULLETIN_WORKDIR"
DB_URL = "BULLETIN_DB_URL"
PROMETHEUS_URL = "BULLETIN_PROMETHEUS_URL"
PROMETHEUS_HEADERS = "BULLETIN_PROMETHEUS_HEADERS"
TEMPLATES_DIR = "BULLETIN_TEMPLATES_DIR"
CERTIFICATES_DIR = "BULLETIN_CERTIFICATES_DIR"
ONFAILURE_WEBHOOK = "BULLETIN_ONFAILURE_WEBHOOK"
PROTECTION_PASSWORD = "BULLETIN_PROTECTION_PASSWORD"
LOG_LEVEL = "BULLETIN_LOG_LEVEL"
LOG_FORMAT = "BULLETIN_LOG_FORMAT"
SMTP_PREFIX = "BULLETIN_SMTP_"
S3_PREFIX = "BULLETIN_S3_"
WEBHOOK_PREFIX = "BULLETIN_WEBHOOK_"
SLACK_URL = "BULLETIN_SLACK_URL"
TEAMS_URL = "BULLETIN_TEAMS_URL"
ALLOWED_DOMAINS = "BULLETIN_ALLOWED_DOMAINS"
NAMESPACE_ALLOWED_DOMAINS = "BULLETIN_NAMESPACE_ALLOWED_DOMAINS"
ALLOW_PRIVATE_NETWORKS = "BULLETIN_ALLOW_PRIVATE_NETWORKS"
ALLOWED_URL_HOSTS = "BULLETIN_ALLOWED_URL_HOSTS"
BURST_SHARDS = "BULLETIN_BURST_SHARDS"
JOB_UID = "BULLETIN_JOB_UID"
COMPLETION_INDEX = "JOB_COMPLETION_INDEX"
NAMESPACE_ALLOWED_DOMAINS_ANNOTATION = "bulletin.dev/allowed-email-domains"
SMTP_KEYS = ("host", "port", "security", "username", "password", "from", "ca",
             "allowInsecureAuth")
S3_KEYS = ("accessKeyId", "secretAccessKey", "sessionToken", "endpoint", "kmsKeyId")
MANUAL = "Manual"  # the TRIGGER value of run-now Jobs (bulletin.api.status.Trigger.MANUAL)
WORKDIR_PATH = "/work"
TEMPLATES_PATH = "/etc/bulletin/templates"
CERTIFICATES_PATH = "/etc/bulletin/certificates"


def webhook_url_var(name: str) -> str:
    """The variable holding webhook ``name``'s URL (when it comes from a Secret)."""
    return f"{WEBHOOK_PREFIX}{name.upper().replace('-', '_')}_URL"


def webhook_key_var(name: str) -> str:
    """The variable holding webhook ``name``'s signing key."""
    return f"{WEBHOOK_PREFIX}{name.upper().replace('-', '_')}_KEY"


def _key_ref(var: str, ref: SecretKeyRef, optional: bool = True) -> dict[str, Any]:
    key_ref: dict[str, Any] = {"name": ref.name, "key": ref.key}
    if optional:
        key_ref["optional"] = True
    return {"name": var, "valueFrom": {"secretKeyRef": key_ref}}


def _field(var: str, path: str) -> dict[str, Any]:
    return {"name": var, "valueFrom": {"fieldRef": {"fieldPath": path}}}


def delivery_env(spec: ReportScheduleSpec) -> list[dict[str, Any]]:
    """The env entries for every delivery secret of ``spec``: one per key the runner reads."""
    delivery = spec.delivery
    env: list[dict[str, Any]] = []
    if delivery.email is not None:
        smtp = delivery.email.smtp_secret_ref.name
        env += [_key_ref(SMTP_PREFIX + key, SecretKeyRef(name=smtp, key=key)) for key in SMTP_KEYS]
    if delivery.storage is not None:
        s3 = delivery.storage.credentials_secret_ref.name
        env += [_key_ref(S3_PREFIX + key, SecretKeyRef(name=s3, key=key)) for key in S3_KEYS]
    for hook in delivery.webhooks:
        if hook.url_secret_ref is not None:
            env.append(_key_ref(webhook_url_var(hook.name), hook.url_secret_ref))
        if hook.signing_secret_ref is not None:
            env.append(_key_ref(webhook_key_var(hook.name), hook.signing_secret_ref))
    if delivery.slack is not None:
        env.append(_key_ref(SLACK_URL, delivery.slack.webhook_secret_ref))
    if delivery.teams is not None:
        env.append(_key_ref(TEAMS_URL, delivery.teams.webhook_secret_ref))
    return env


@dataclass(frozen=True)
class Policy:
    """Operator settings passed to every runner pod (empty: not set)."""

    allowed_domains: str = ""
    namespace_allowed_domains: str = ""
    allow_private_networks: str = ""
    allowed_url_hosts: str = ""
    log_format: str = ""


def runner_env(schedule: str, spec: ReportScheduleSpec, policy: Policy) -> list[dict[str, Any]]:
    """The runner container's env for a ReportSchedule named ``schedule``."""
    extra: list[dict[str, Any]] = [
        {"name": var, "value": value}
        for var, value in ((ALLOWED_DOMAINS, policy.allowed_domains),
                           (NAMESPACE_ALLOWED_DOMAINS, policy.namespace_allowed_domains),
                           (ALLOW_PRIVATE_NETWORKS, policy.allow_private_networks),
                           (ALLOWED_URL_HOSTS, policy.allowed_url_hosts),
                           (LOG_FORMAT, policy.log_format))
        if value
    ]
    if spec.report.template_config_map_ref is not None:
        extra.append({"name": TEMPLATES_DIR, "value": TEMPLATES_PATH})
    if spec.delivery.email is not None and spec.delivery.email.encryption is not None:
        extra.append({"name": CERTIFICATES_DIR, "value": CERTIFICATES_PATH})
    prometheus = spec.source.prometheus
    if prometheus is not None:
        extra += [_key_ref(var, ref) for var, ref in (
            (PROMETHEUS_URL, prometheus.url_secret_ref),
            (PROMETHEUS_HEADERS, prometheus.headers_secret_ref)) if ref is not None]
    on_failure = spec.notifications.on_failure
    if on_failure is not None and on_failure.webhook_secret_ref is not None:
        extra.append(_key_ref(ONFAILURE_WEBHOOK, on_failure.webhook_secret_ref, optional=False))
    if spec.protection is not None and spec.protection.password_secret_ref is not None:
        extra.append(_key_ref(PROTECTION_PASSWORD, spec.protection.password_secret_ref))
    if spec.delivery.burst is not None:  # the shard count is the Job's, fixed for the run
        extra += [{"name": BURST_SHARDS, "value": str(spec.delivery.burst.shards)},
                  _field(JOB_UID, "metadata.labels['batch.kubernetes.io/controller-uid']")]
    return [
        _field(NAMESPACE, "metadata.namespace"),
        {"name": SCHEDULE, "value": schedule},
        _field(RUN_ID, "metadata.labels['job-name']"),
        {"name": WORKDIR, "value": WORKDIR_PATH},
        # Optional, like every reference: without it the runner records "no database URL"
        # at once, where a kubelet would keep the pod waiting until the Job's deadline.
        *([_key_ref(DB_URL, spec.source.connection_secret_ref)]
          if spec.source.connection_secret_ref is not None else []),
        *delivery_env(spec),
        *extra,
    ]


def run_now_env(options: RunOptions | None) -> list[dict[str, Any]]:
    """The entries a run-now Job adds to the CronJob's env."""
    env: list[dict[str, Any]] = [{"name": TRIGGER, "value": MANUAL}]
    if options is not None and options.wire():
        env.append({"name": RUN_OPTIONS, "value": json.dumps(options.wire(), sort_keys=True)})
    return env


def value_in(env: Sequence[Mapping[str, Any]], name: str) -> str | None:
    """The literal value of ``name`` in a container's env entries (None: absent or a reference)."""
    for var in env:
        if var.get("name") == name and "value" in var:
            return str(var["value"])
    return None


def is_delivery_secret(name: str) -> bool:
    """Whether variable ``name`` carries a delivery secret worth redacting."""
    return name in (SLACK_URL, TEAMS_URL, PROMETHEUS_URL, PROMETHEUS_HEADERS,
                    SMTP_PREFIX + "password", PROTECTION_PASSWORD,
                    S3_PREFIX + "secretAccessKey", S3_PREFIX + "sessionToken") or (
        name.startswith(WEBHOOK_PREFIX) and name.endswith(("_URL", "_KEY")))


def is_secret_url(name: str) -> bool:
    """Whether variable ``name`` holds a URL whose path or query is the secret."""
    return name in (SLACK_URL, TEAMS_URL, PROMETHEUS_URL) or (
        name.startswith(WEBHOOK_PREFIX) and name.endswith("_URL"))
