"""Operator settings: kopf tuning and runner pod settings from the environment."""

from __future__ import annotations

import logging
import os

import kopf

from bulletin_operator.builders import RunnerSettings


def configure(settings: kopf.OperatorSettings) -> None:
    """Tune kopf for many small objects and GitOps-owned specs."""
    # kopf keeps its bookkeeping in annotations under its own prefix (it ignores changes there,
    # so it must differ from ours, e.g. bulletin.dev/run-requested-at); status is our schema.
    prefix = "kopf.bulletin.dev"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=prefix)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=prefix, key="last-handled-configuration"
    )
    settings.persistence.finalizer = "kopf.bulletin.dev/finalizer"
    # Events are for users: post only warnings from kopf itself, ours are explicit.
    settings.posting.level = logging.WARNING
    # One replica by design (Deployment strategy Recreate): no peering CRD needed.
    settings.peering.standalone = True
    settings.execution.max_workers = int(os.environ.get("BULLETIN_WORKERS", "20"))
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330


def runner_settings() -> RunnerSettings:
    """Runner pod settings; the chart sets BULLETIN_RUNNER_IMAGE."""
    defaults = RunnerSettings()
    return RunnerSettings(
        image=os.environ.get("BULLETIN_RUNNER_IMAGE", defaults.image),
        image_pull_policy=os.environ.get("BULLETIN_RUNNER_PULL_POLICY", defaults.image_pull_policy),
    )
