"""`kubectl bulletin run` and `link`: ask the operator for a run now; presign a run's files."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from bulletin.api.runrequest import RUN_OPTIONS_ANNOTATION, RUN_REQUEST_ANNOTATION, RunOptions
from bulletin.period import PeriodError, parse_override
from bulletin.plugin.kube import KIND, Kube, PluginError


class UsageError(PluginError):
    """Bad arguments (exit status 2)."""


def request_run(
    custom: Any, namespace: str, name: str, token: str, options: RunOptions
) -> None:
    """Ask the operator for a run now: the run-request token, and its options (or none)."""
    from bulletin.api.spec import GROUP, PLURAL, VERSION

    wire = options.wire()
    annotations = {RUN_REQUEST_ANNOTATION: token,
                   RUN_OPTIONS_ANNOTATION: json.dumps(wire) if wire else None}
    body = {"metadata": {"annotations": annotations}}
    custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, body,
                                          _content_type="application/merge-patch+json")


def options_of(period: str | None, to: list[str] | None) -> RunOptions:
    """The run options, checked here rather than failing in the run."""
    try:
        options = RunOptions(period=period, to=to)
        if options.period:
            parse_override(options.period, ZoneInfo("UTC"))
    except (PeriodError, ValidationError) as exc:
        raise UsageError(f"error: {exc}") from exc
    return options


def run(kube: Kube, name: str, period: str | None, to: list[str] | None) -> None:
    """Request a run of ``name`` now."""
    options = options_of(period, to)
    token = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    kube.get(name)  # NotFound as kubectl says it, before annotating
    request_run(kube.custom, kube.namespace, name, token, options)
    print(f"{KIND}/{name} run requested ({RUN_REQUEST_ANNOTATION}={token})")


def link(kube: Kube, name: str, run_id: str | None, file: str | None, expires: int | None,
         endpoint: str | None) -> None:
    """Print fresh presigned links to a run's stored files."""
    from bulletin.links import LinkError, print_links

    try:
        print_links(kube.api, kube.namespace, name, run=run_id, file=file, expires=expires,
                    endpoint=endpoint, out=sys.stdout)
    except LinkError as exc:
        raise PluginError(f"error: {exc}") from exc
