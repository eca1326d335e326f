"""Every Secret and ConfigMap a ReportSchedule makes its runner use, with the field naming it.

A schedule's author may name any object of the namespace; the operator lets a run use only those
whose owners opted in with the ``USABLE_LABEL`` (see README, Security model).
"""

from __future__ import annotations

from dataclasses import dataclass

from bulletin.api.spec import GROUP, ReportScheduleSpec

USABLE_LABEL = f"{GROUP}/usable-by-reports"


@dataclass(frozen=True)
class Reference:
    """One object a run would read, and where the spec names it."""

    kind: str  # "Secret" or "ConfigMap"
    name: str
    field: str


def references(spec: ReportScheduleSpec) -> list[Reference]:
    """The Secrets and ConfigMaps ``spec`` names, in spec order, each field once."""
    found = []
    if spec.source.connection_secret_ref is not None:
        found.append(Reference("Secret", spec.source.connection_secret_ref.name,
                               "spec.source.connectionSecretRef"))
    prometheus = spec.source.prometheus
    if prometheus is not None and prometheus.headers_secret_ref is not None:
        found.append(Reference("Secret", prometheus.headers_secret_ref.name,
                               "spec.source.prometheus.headersSecretRef"))
    delivery = spec.delivery
    if delivery.email is not None:
        found.append(Reference("Secret", delivery.email.smtp_secret_ref.name,
                               "spec.delivery.email.smtpSecretRef"))
    if delivery.storage is not None:
        found.append(Reference("Secret", delivery.storage.credentials_secret_ref.name,
                               "spec.delivery.storage.credentialsSecretRef"))
    for i, hook in enumerate(delivery.webhooks):
        for ref, key in ((hook.url_secret_ref, "urlSecretRef"),
                         (hook.signing_secret_ref, "signingSecretRef")):
            if ref is not None:
                found.append(Reference("Secret", ref.name, f"spec.delivery.webhooks[{i}].{key}"))
    for chat, key in ((delivery.slack, "slack"), (delivery.teams, "teams")):
        if chat is not None:
            found.append(Reference("Secret", chat.webhook_secret_ref.name,
                                   f"spec.delivery.{key}.webhookSecretRef"))
    on_failure = spec.notifications.on_failure
    if on_failure is not None and on_failure.webhook_secret_ref is not None:
        found.append(Reference("Secret", on_failure.webhook_secret_ref.name,
                               "spec.notifications.onFailure.webhookSecretRef"))
    if spec.report.template_config_map_ref is not None:
        found.append(Reference("ConfigMap", spec.report.template_config_map_ref.name,
                               "spec.report.templateConfigMapRef"))
    return found


def refusal(ref: Reference, labels: dict[str, str] | None) -> str | None:
    """Why a run may not use the object, or None when it may. A missing object (``labels``
    None) is no refusal: the pod's references are optional, and the run reports what it lacks.
    """
    if labels is not None and labels.get(USABLE_LABEL) != "true":
        return (f"{ref.kind} {ref.name!r} ({ref.field}) is not labelled {USABLE_LABEL}=true;"
                f" its owner must label it before ReportSchedules may use it")
    return None
