"""The console's actions, each made as the requesting user (the API server's RBAC decides):
run now (with the operator's answer), suspend and resume, and a backfill of a range, one run
per period after the previous one ended (in a background thread)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bulletin.api.runrequest import RunOptions
from bulletin.console.reads import api_errors, status_code
from bulletin.plugin.kube import KubeSession, PluginError, server_error


def failures() -> tuple[type[BaseException], ...]:
    """What an action reports to the user instead of failing: API and plugin errors."""
    return (PluginError, *api_errors())


@dataclass(frozen=True)
class Outcome:
    """What an action did: ``ok`` and a sentence for the user."""

    ok: bool
    message: str
    run_id: str | None = None
    status: int = 200  # the page's HTTP status: 403 when RBAC refused, 409 otherwise


def refused(exc: BaseException) -> Outcome:
    """An API error or a plugin error as the user should read it."""
    if isinstance(exc, api_errors()):
        text = server_error(exc)
        if status_code(exc) == 403:
            return Outcome(False, f"Refused by Kubernetes RBAC: {text}", status=403)
        return Outcome(False, text, status=status_code(exc) or 409)
    return Outcome(False, str(exc).removeprefix("error: "), status=409)


def run_now(kube: KubeSession, name: str, period: str | None = None, timeout: float | None = None,
            to: list[str] | None = None) -> Outcome:
    """Ask the operator for a run now (only to ``to`` by email: a test send) and wait for
    its answer: the run id, or why it refused (the plugin's request and acceptance logic)."""
    from bulletin.plugin.accept import ANSWER_TIMEOUT, wait_answer
    from bulletin.plugin.runnow import options_of, request_run

    try:
        options = options_of(period or None, to)
        token = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        kube.get(name)
        request_run(kube.custom, kube.namespace, name, token, options)
    except failures() as exc:
        return refused(exc)
    try:
        run_id = wait_answer(kube, name, token, timeout or ANSWER_TIMEOUT)
    except api_errors() as exc:
        if status_code(exc) != 403:
            return refused(exc)
        return Outcome(True, f"Run of {name} requested. You may not read its Jobs in"
                             f" {kube.namespace}, so the console cannot tell whether the"
                             " operator started it: see Recent runs and Recent Events.")
    except PluginError as exc:
        return refused(exc)
    return Outcome(True, f"The operator started run {run_id}.", run_id)


def set_suspend(kube: KubeSession, name: str, suspend: bool) -> Outcome:
    """Set spec.suspend by a merge patch."""
    try:
        kube.patch(name, {"spec": {"suspend": suspend}})
    except api_errors() as exc:
        return refused(exc)
    verb = "suspended" if suspend else "resumed"
    return Outcome(True, f"{name} is {verb}. A GitOps tool may set spec.suspend back on its"
                         " next sync: change its source too.")


@dataclass
class Backfill:
    """A backfill in progress: one line per period as it ends."""

    namespace: str
    name: str
    periods: list[str]
    lines: list[str] = field(default_factory=list)
    done: bool = False


class Backfills:
    """The backfills this console runs, by namespace/name (one at a time per schedule)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[str, Backfill] = {}

    def get(self, namespace: str, name: str) -> Backfill | None:
        with self._lock:
            return self._running.get(f"{namespace}/{name}")

    def start(self, kube: KubeSession, name: str, period: str, each: str,
              timeout: float = 3600) -> Outcome:
        """Check the range, then run its periods one after another in a thread."""
        from bulletin.plugin.backfill import periods
        from bulletin.plugin.runnow import options_of

        try:
            wanted = periods(period, each)
            for text in wanted:
                options_of(text, None)
            kube.get(name)
        except failures() as exc:
            return refused(exc)
        job = Backfill(kube.namespace, name, wanted)
        with self._lock:
            current = self._running.get(f"{kube.namespace}/{name}")
            if current is not None and not current.done:
                return Outcome(False, f"a backfill of {name} is already running", status=409)
            self._running[f"{kube.namespace}/{name}"] = job
        threading.Thread(target=_backfill, args=(kube, job, timeout), daemon=True).start()
        return Outcome(True, f"Backfill of {name} started: {len(wanted)} run(s),"
                             f" {wanted[0]} to {wanted[-1]}, one after another.")


def _backfill(kube: KubeSession, job: Backfill, timeout: float) -> None:
    from bulletin.plugin.accept import result_line, wait_answer, wait_ended
    from bulletin.plugin.runnow import request_run

    try:
        for text in job.periods:
            token = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            request_run(kube.custom, kube.namespace, job.name, token, RunOptions(period=text))
            wait_answer(kube, job.name, token)
            entry = wait_ended(kube, job.name, token, timeout)
            job.lines.append(f"{text}: {result_line(entry)}")
    except failures() as exc:
        job.lines.append(f"stopped: {refused(exc).message}")
    finally:
        job.done = True
