"""How delivery secrets reach the runner: environment variables of its pod, and nothing else.

The operator puts ``pod_env(spec)`` into the runner container; the runner reads the same names
back with the helpers below. Only the keys named here reach the pod (no ``envFrom``). Every
reference is optional, so a missing key fails only the target that needs it, with a message in
status, instead of keeping the pod from starting.

=============================  ===========================================================
variable                       source
=============================  ===========================================================
BULLETIN_SMTP_<key>            the email.smtpSecretRef Secret's keys in SMTP_KEYS
BULLETIN_S3_<key>              the storage.credentialsSecretRef Secret's keys in S3_KEYS
BULLETIN_WEBHOOK_<NAME>_URL    webhooks[].urlSecretRef (NAME: upper case, "-" as "_")
BULLETIN_WEBHOOK_<NAME>_KEY    webhooks[].signingSecretRef
BULLETIN_SLACK_URL             slack.webhookSecretRef
BULLETIN_TEAMS_URL             teams.webhookSecretRef
BULLETIN_ALLOWED_DOMAINS       set by the operator (operator-wide recipient domain allowlist)
BULLETIN_NAMESPACE_ALLOWED_DOMAINS  set by the operator from the namespace's annotation
BULLETIN_ALLOW_PRIVATE_NETWORKS  set by the operator (non-public CIDRs/hosts URLs may reach)
BULLETIN_ALLOWED_URL_HOSTS     set by the operator (the only hosts webhook/chat URLs may name)
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
SMTP_KEYS = ("host", "port", "security", "username", "password", "from", "ca")
S3_KEYS = ("accessKeyId", "secretAccessKey", "sessionToken")


def webhook_url_var(name: str) -> str:
    """The variable holding webhook ``name``'s URL (when it comes from a Secret)."""
    return f"BULLETIN_WEBHOOK_{name.upper().replace('-', '_')}_URL"


def webhook_key_var(name: str) -> str:
    """The variable holding webhook ``name``'s signing key."""
    return f"BULLETIN_WEBHOOK_{name.upper().replace('-', '_')}_KEY"


def _key_ref(var: str, ref: SecretKeyRef) -> dict[str, Any]:
    return {"name": var, "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key,
                                                        "optional": True}}}


def pod_env(spec: ReportScheduleSpec) -> list[dict[str, Any]]:
    """The runner container's env entries for every delivery secret of ``spec``: one entry per
    key the runner reads, never a whole Secret."""
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
