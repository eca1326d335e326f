"""Every Secret and ConfigMap a ReportSchedule makes its runner use, with the field naming it
and what the run uses it for.

A schedule's author may name any object of the namespace; the operator lets a run use only those
whose owners opted in with the ``USABLE_LABEL``, whose value names the use (``database``,
``smtp``, ...): a Secret opened for one use is refused for another. The value ``true`` (before
uses had names) still opens a Secret for every use; a schedule that uses such a Secret for two
different things gets a Warning Event (see README, Security model).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from bulletin.api.spec import GROUP, ReportScheduleSpec

USABLE_LABEL = f"{GROUP}/usable-by-reports"
ANY_USE = "true"  # the label's value before uses had names: every use


class Use(StrEnum):
    """What a run does with a Secret or ConfigMap: the values of USABLE_LABEL."""

    DATABASE = "database"
    PROMETHEUS = "prometheus"
    SMTP = "smtp"
    STORAGE = "storage"
    WEBHOOK = "webhook"
    CHAT = "chat"
    IMAGE_PULL = "imagepull"
    TEMPLATES = "templates"
    ENCRYPTION = "encryption"  # passwords and keys that protect reports


@dataclass(frozen=True)
class Reference:
    """One object a run would read, where the spec names it, and for what."""

    kind: str  # "Secret" or "ConfigMap"
    name: str
    field: str
    use: Use


def references(spec: ReportScheduleSpec) -> list[Reference]:
    """The Secrets and ConfigMaps ``spec`` names, in spec order, each field once."""
    source, delivery = spec.source, spec.delivery
    found = [Reference("Secret", source.connection_secret_ref.name,
                       "spec.source.connectionSecretRef", Use.DATABASE)
             ] if source.connection_secret_ref is not None else []
    if (prometheus := source.prometheus) is not None:
        found += [Reference("Secret", ref.name, f"spec.source.prometheus.{key}", Use.PROMETHEUS)
                  for ref, key in ((prometheus.url_secret_ref, "urlSecretRef"),
                                   (prometheus.headers_secret_ref, "headersSecretRef"))
                  if ref is not None]
    if delivery.email is not None:
        found.append(Reference("Secret", delivery.email.smtp_secret_ref.name,
                               "spec.delivery.email.smtpSecretRef", Use.SMTP))
        if (crypt := delivery.email.encryption) is not None:
            found.append(Reference(crypt.certificates_ref.kind, crypt.certificates_ref.name,
                                   "spec.delivery.email.encryption.certificatesRef",
                                   Use.ENCRYPTION))
    if delivery.storage is not None:
        found.append(Reference("Secret", delivery.storage.credentials_secret_ref.name,
                               "spec.delivery.storage.credentialsSecretRef", Use.STORAGE))
    for i, hook in enumerate(delivery.webhooks):
        found += [Reference("Secret", ref.name, f"spec.delivery.webhooks[{i}].{key}", Use.WEBHOOK)
                  for ref, key in ((hook.url_secret_ref, "urlSecretRef"),
                                   (hook.signing_secret_ref, "signingSecretRef"))
                  if ref is not None]
    for chat, key in ((delivery.slack, "slack"), (delivery.teams, "teams")):
        if chat is not None:
            found.append(Reference("Secret", chat.webhook_secret_ref.name,
                                   f"spec.delivery.{key}.webhookSecretRef", Use.CHAT))
    on_failure = spec.notifications.on_failure
    if on_failure is not None and on_failure.webhook_secret_ref is not None:
        found.append(Reference("Secret", on_failure.webhook_secret_ref.name,
                               "spec.notifications.onFailure.webhookSecretRef", Use.CHAT))
    if spec.protection is not None and spec.protection.password_secret_ref is not None:
        found.append(Reference("Secret", spec.protection.password_secret_ref.name,
                               "spec.protection.passwordSecretRef", Use.ENCRYPTION))
    if spec.report.template_config_map_ref is not None:
        found.append(Reference("ConfigMap", spec.report.template_config_map_ref.name,
                               "spec.report.templateConfigMapRef", Use.TEMPLATES))
    return found


def opened_for(labels: dict[str, str] | None) -> set[str]:
    """The uses an object's labels open it for (``true``: any use; none: not opened)."""
    value = (labels or {}).get(USABLE_LABEL, "")
    return {use for use in value.split(".") if use}


def refusal(ref: Reference, labels: dict[str, str] | None) -> str | None:
    """Why a run may not use the object, or None when it may. A missing object (``labels``
    None) is no refusal: the pod's references are optional, and the run reports what it lacks.
    """
    if labels is None:
        return None
    uses = opened_for(labels)
    if ANY_USE in uses or ref.use in uses:
        return None
    if not uses:
        return (f"{ref.kind} {ref.name!r} ({ref.field}) is not labelled"
                f" {USABLE_LABEL}={ref.use}; its owner must label it before ReportSchedules"
                " may use it")
    return (f"{ref.kind} {ref.name!r} ({ref.field}) is opened to reports for"
            f" {', '.join(sorted(uses))} only ({USABLE_LABEL}={labels[USABLE_LABEL]}), not"
            f" for {ref.use}; a Secret serves one use: name one opened for {ref.use}")


def ambiguous_uses(refs: Iterable[Reference],
                   labels_of: Callable[[Reference], dict[str, str] | None]) -> list[str]:
    """Warnings for objects labelled ``true`` (any use) that ``refs`` use for two or more
    different things: the label should name the one use."""
    uses: dict[tuple[str, str], set[str]] = {}
    for ref in refs:
        if ANY_USE in opened_for(labels_of(ref)):
            uses.setdefault((ref.kind, ref.name), set()).add(ref.use)
    return [f"{kind} {name!r} is labelled {USABLE_LABEL}={ANY_USE} and used here for"
            f" {' and '.join(sorted(found))}: label it with the one use it is for (e.g."
            f" {USABLE_LABEL}={min(found)}) and give the other use its own {kind}"
            for (kind, name), found in uses.items() if len(found) > 1]
