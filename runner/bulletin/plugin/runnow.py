"""`kubectl bulletin run` and `link`: ask the operator for a run now; presign a run's files."""

from __future__ import annotations

import io
import json
import sys
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from bulletin.api.runrequest import RUN_OPTIONS_ANNOTATION, RUN_REQUEST_ANNOTATION, RunOptions
from bulletin.period import PeriodError, parse_override
from bulletin.plugin.kube import KIND, KubeSession, PluginError, UsageError

__all__ = ["UsageError", "link", "options_of", "request_run", "run"]


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


def run(kube: KubeSession, name: str, period: str | None, to: list[str] | None,
        wait: float | None = None) -> str:
    """Request a run of ``name`` now and print its id once the operator accepted it (NotAccepted
    when it refused it); with ``wait`` (seconds), wait for the run to end and print how.
    The run id."""
    from bulletin.api.status import RunResult
    from bulletin.plugin.accept import result_line, wait_answer, wait_ended

    options = options_of(period, to)
    token = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    kube.get(name)  # NotFound as kubectl says it, before annotating
    request_run(kube.custom, kube.namespace, name, token, options)
    run_id = wait_answer(kube, name, token)
    print(f"{KIND}/{name} run requested, started as {run_id}")  # the id last, for scripts
    if wait is not None:
        sys.stdout.flush()
        entry = wait_ended(kube, name, token, wait)
        print(result_line(entry))
        if entry.result not in (RunResult.SUCCEEDED, RunResult.SKIPPED):
            raise PluginError(f"error: run {run_id} {entry.result}"
                              f" (see kubectl bulletin logs {name} --run {run_id})")
    return run_id


def link(kube: KubeSession, name: str, run_id: str | None, file: str | None, expires: int | None,
         endpoint: str | None) -> None:
    """Print fresh presigned links to a run's stored files, once the run archive (if there is
    one) has recorded them."""
    from bulletin.links import LinkError, print_links
    from bulletin.plugin.archived import audit_links

    links = io.StringIO()
    try:
        linked, keys = print_links(kube.api, kube.namespace, name, run=run_id, file=file,
                                   expires=expires, endpoint=endpoint, out=links)
    except LinkError as exc:
        raise PluginError(f"error: {exc}") from exc
    audit_links(kube, name, linked, keys)
    sys.stdout.write(links.getvalue())
