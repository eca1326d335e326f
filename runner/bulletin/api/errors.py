"""The error tree (one root, a family per kind of failure, one table of what each means),
and readable validation errors.

Every error Bulletin raises on purpose is a ``BulletinError``. Its family says why a run failed
(``Reason``, recorded in the run's record), whether the Job should try again, and the hint that
users read in the failure notice and the console. Errors are converted into a family once, where
they enter (a driver, a library, the API server); above that they pass through unchanged.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import ValidationError


class Reason(StrEnum):
    """Why a run failed, as its record says (a Kubernetes-style CamelCase reason)."""

    SPEC_INVALID = "SpecInvalid"
    MISCONFIGURED = "Misconfigured"
    QUERY_FAILED = "QueryFailed"
    PROMQL_FAILED = "PromQLFailed"
    RENDER_FAILED = "RenderFailed"
    DELIVERY_FAILED = "DeliveryFailed"
    KUBERNETES_UNAVAILABLE = "KubernetesUnavailable"
    INTERNAL_ERROR = "InternalError"


# What users should do about each reason: the one table notices and the console read.
HINTS: dict[Reason, str] = {
    Reason.SPEC_INVALID: "fix the field named above in the ReportSchedule's spec",
    Reason.MISCONFIGURED: "a Secret, ConfigMap or setting the run needs is missing or"
    " unreadable: check the reference named above",
    Reason.QUERY_FAILED: "check the dataset's SQL and that the database in"
    " spec.source.connectionSecretRef is reachable",
    Reason.PROMQL_FAILED: "check the dataset's PromQL, spec.source.prometheus (URL, headers"
    " Secret) and that the operator allows its address",
    Reason.RENDER_FAILED: "fix the template or format named above, in spec.report (the"
    " templates come from spec.report.templateConfigMapRef)",
    Reason.DELIVERY_FAILED: "check the target named above: for email the SMTP Secret"
    " (spec.delivery.email.smtpSecretRef) and the server; for a webhook, its URL and that the"
    " receiver answers 2xx",
    Reason.KUBERNETES_UNAVAILABLE: "the API server could not be reached or refused the write;"
    " the Job tries again",
    Reason.INTERNAL_ERROR: "a bug in Bulletin: the runner's log has the traceback",
}

# Reasons whose run the Job retries (the failure may pass); every other one is final.
RETRIED = frozenset({Reason.KUBERNETES_UNAVAILABLE, Reason.INTERNAL_ERROR})


class BulletinError(Exception):
    """Root of the tree: a failure with a message fit for users (never a secret value)."""

    run_reason: ClassVar[Reason] = Reason.INTERNAL_ERROR


class SpecError(BulletinError):
    """The ReportSchedule (or a calendar it names) asks for something that cannot be done."""

    run_reason = Reason.SPEC_INVALID


class ConfigurationError(BulletinError):
    """The run's configuration (pod env, a referenced Secret or ConfigMap) is missing or bad."""

    run_reason = Reason.MISCONFIGURED


class SourceError(BulletinError):
    """A dataset could not be read (SQL by default; PromQL sets its own reason)."""

    run_reason = Reason.QUERY_FAILED


class RenderError(BulletinError):
    """A report could not be rendered: a template, chart or format failed."""

    run_reason = Reason.RENDER_FAILED


class DeliveryError(BulletinError):
    """A failed delivery attempt; ``transient`` says whether another attempt may succeed."""

    run_reason = Reason.DELIVERY_FAILED
    transient: ClassVar[bool] = False

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class KubernetesError(BulletinError):
    """The API server could not be read or written as the work needs."""

    run_reason = Reason.KUBERNETES_UNAVAILABLE


class CommandError(BulletinError):
    """A user-facing tool's error (kubectl bulletin, bulletin preview, the console), shown as
    it stands."""


def reason_of(exc: BaseException) -> Reason:
    """The reason a run that ended in ``exc`` failed: its family's; a spec that does not
    validate is SpecInvalid; anything else is InternalError."""
    if isinstance(exc, BulletinError):
        return exc.run_reason
    return Reason.SPEC_INVALID if isinstance(exc, ValidationError) else Reason.INTERNAL_ERROR


def describe(exc: ValidationError, root: str = "spec") -> str:
    """One line per problem, e.g. ``spec.schedule.daily.at: String should match pattern ...``."""
    lines = []
    for err in exc.errors():
        path = ".".join([root, *(str(p) for p in err["loc"])]) if err["loc"] else root
        message = err["msg"].removeprefix("Value error, ")
        lines.append(message if message.startswith(root + ".") else f"{path}: {message}")
    return "; ".join(lines)
