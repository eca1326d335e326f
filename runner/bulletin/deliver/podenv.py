"""How delivery secrets reach the runner: environment variables of its pod, and nothing else.

The operator puts ``pod_env(spec)`` into the runner container; the runner reads the same names
back with the helpers below. Every reference is optional, so a missing Secret or key fails only
the target that needs it, with a message in status, instead of keeping the pod from starting.

=============================  ===========================================================
variable                       source
=============================  ===========================================================
BULLETIN_SMTP_<key>            envFrom the email.smtpSecretRef Secret (host, port, ...)
BULLETIN_S3_<key>              envFrom the storage.credentialsSecretRef Secret
BULLETIN_WEBHOOK_<NAME>_URL    webhooks[].urlSecretRef (NAME: upper case, "-" as "_")
BULLETIN_WEBHOOK_<NAME>_KEY    webhooks[].signingSecretRef
BULLETIN_SLACK_URL             slack.webhookSecretRef
BULLETIN_TEAMS_URL             teams.webhookSecretRef
BULLETIN_ALLOWED_DOMAINS       set by the operator (operator-wide recipient domain allowlist)
BULLETIN_NAMESPACE_ALLOWED_DOMAINS  set by the operator from the namespace's annotation
=============================  ===========================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from bulletin.api.delivery import SecretKeyRef
from bulletin.api.spec import ReportScheduleSpec
from bulletin.redact import url_secrets

SMTP_PREFIX = "BULLETIN_SMTP_"
S3_PREFIX = "BULLETIN_S3_"
SLACK_URL = "BULLETIN_SLACK_URL"
TEAMS_URL = "BULLETIN_TEAMS_URL"
ALLOWED_DOMAINS = "BULLETIN_ALLOWED_DOMAINS"
NAMESPACE_ALLOWED_DOMAINS = "BULLETIN_NAMESPACE_ALLOWED_DOMAINS"
NAMESPACE_ALLOWED_DOMAINS_ANNOTATION = "bulletin.dev/allowed-email-domains"


def webhook_url_var(name: str) -> str:
    """The variable holding webhook ``name``'s URL (when it comes from a Secret)."""
    return f"BULLETIN_WEBHOOK_{name.upper().replace('-', '_')}_URL"


def webhook_key_var(name: str) -> str:
    """The variable holding webhook ``name``'s signing key."""
    return f"BULLETIN_WEBHOOK_{name.upper().replace('-', '_')}_KEY"


def _key_ref(var: str, ref: SecretKeyRef) -> dict[str, Any]:
    return {"name": var, "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key,
                                                        "optional": True}}}


def pod_env(spec: ReportScheduleSpec) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(env, envFrom) entries of the runner container for every delivery secret of ``spec``."""
    delivery = spec.delivery
    env: list[dict[str, Any]] = []
    env_from: list[dict[str, Any]] = []
    if delivery.email is not None:
        env_from.append({"prefix": SMTP_PREFIX, "secretRef": {
            "name": delivery.email.smtp_secret_ref.name, "optional": True}})
    if delivery.storage is not None:
        env_from.append({"prefix": S3_PREFIX, "secretRef": {
            "name": delivery.storage.credentials_secret_ref.name, "optional": True}})
    for hook in delivery.webhooks:
        if hook.url_secret_ref is not None:
            env.append(_key_ref(webhook_url_var(hook.name), hook.url_secret_ref))
        if hook.signing_secret_ref is not None:
            env.append(_key_ref(webhook_key_var(hook.name), hook.signing_secret_ref))
    if delivery.slack is not None:
        env.append(_key_ref(SLACK_URL, delivery.slack.webhook_secret_ref))
    if delivery.teams is not None:
        env.append(_key_ref(TEAMS_URL, delivery.teams.webhook_secret_ref))
    return env, env_from


def _url_parts(url: str) -> list[str]:
    """A secret URL and the parts of it that carry the secret (path and query, password)."""
    parts = urlsplit(url)
    tail = parts.path + (f"?{parts.query}" if parts.query else "")
    return [url, *url_secrets(url), *([tail] if len(tail) >= 8 else [])]


def delivery_secrets(env: Mapping[str, str]) -> list[str]:
    """Every delivery secret value in ``env``, for redaction (bulletin.redact)."""
    found: list[str] = []
    for name, value in env.items():
        if not value:
            continue
        if name in (SLACK_URL, TEAMS_URL) or (
            name.startswith("BULLETIN_WEBHOOK_") and name.endswith("_URL")
        ):
            found += _url_parts(value)
        elif (name.startswith("BULLETIN_WEBHOOK_") and name.endswith("_KEY")) or name in (
            SMTP_PREFIX + "password", S3_PREFIX + "secretAccessKey", S3_PREFIX + "sessionToken"
        ):
            found.append(value)
    return found
