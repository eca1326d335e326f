"""The operator's answer to a run-now request: accepted (its Job exists) or refused (a
RunNowRefused Event naming the token), waited for with a timeout."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bulletin.api.names import run_now_job_name
from bulletin.api.status import ReportScheduleStatus, RunRecord
from bulletin.plugin.kube import KubeSession, PluginError

REFUSED = "RunNowRefused"
ANSWER_TIMEOUT = 60.0  # seconds for the operator to accept or refuse
EVENT_GRACE = 10.0  # seconds to wait for the refusal Event once the token is echoed
POLL_SECONDS = 0.5
END_POLL_SECONDS = 2.0


class NotAccepted(PluginError):
    """The operator refused the run (its reason in the message)."""


@dataclass(frozen=True)
class Observation:
    """What the cluster shows of a request at one moment."""

    job_exists: bool
    echoed: bool  # status.lastRunRequest is the token: the operator has handled it
    refusals: tuple[str, ...]  # messages of the schedule's RunNowRefused Events


def refusal_reason(token: str, messages: Iterable[str]) -> str | None:
    """The operator's reason from the RunNowRefused Event naming ``token``, if any.
    Its message reads: run-now 'TOKEN' not started: REASON."""
    named = f"{token!r}"
    for message in messages:
        if named in message:
            return message.split(" not started: ", 1)[-1]
    return None


def decide(token: str, seen: Observation, echoed_for: float | None) -> bool | str | None:
    """True when accepted, the reason (str) when refused, None while undecided.
    ``echoed_for``: seconds since the token was first seen echoed without a Job or Event
    (None if not yet): the operator refused without an Event we could read."""
    if seen.job_exists:
        return True
    reason = refusal_reason(token, seen.refusals)
    if reason is not None:
        return reason
    if echoed_for is not None and echoed_for >= EVENT_GRACE:
        return "no Job was started and no RunNowRefused Event says why"
    return None


def observe(kube: KubeSession, name: str, token: str) -> Observation:
    """Read the run's Job, the echo in status and the schedule's RunNowRefused Events."""
    from kubernetes.client.exceptions import ApiException

    try:
        kube.batch.read_namespaced_job(run_now_job_name(name, token), kube.namespace)
        job_exists = True
    except ApiException as exc:
        if exc.status != 404:
            raise
        job_exists = False
    echoed = ReportScheduleStatus.of(kube.get(name)).last_run_request == token
    try:
        events = kube.core.list_namespaced_event(
            kube.namespace, field_selector=f"involvedObject.name={name},reason={REFUSED}").items
    except ApiException as exc:
        if exc.status != 403:
            raise
        events = []  # no right to read Events: the echo without a Job still tells
    return Observation(job_exists, echoed,
                       tuple(str(e.message or "") for e in events))


def wait_answer(kube: KubeSession, name: str, token: str, timeout: float = ANSWER_TIMEOUT,
                clock: Callable[[], float] = time.monotonic,
                sleep: Callable[[float], None] = time.sleep) -> str:
    """The run id (the Job's name) once the operator accepted run-now ``token``; NotAccepted with
    the operator's reason, or PluginError when it did not answer within ``timeout`` seconds."""
    deadline, echoed_at = clock() + timeout, None
    while True:
        seen = observe(kube, name, token)
        if seen.echoed and echoed_at is None:
            echoed_at = clock()
        answer = decide(token, seen, None if echoed_at is None else clock() - echoed_at)
        if answer is True:
            return run_now_job_name(name, token)
        if isinstance(answer, str):
            raise NotAccepted(f"error: the operator refused to run {name} now: {answer}")
        if clock() > deadline:
            raise PluginError(f"error: the operator did not answer the run-now request of {name}"
                              f" within {timeout:.0f}s; is it running? The request stays"
                              " pending: it may still start later")
        sleep(POLL_SECONDS)


def job_finished(kube: KubeSession, run_id: str) -> bool:
    """Whether the run's Job is Complete or Failed (or gone: removed after it finished)."""
    from kubernetes.client.exceptions import ApiException

    try:
        job = kube.batch.read_namespaced_job(run_id, kube.namespace)
    except ApiException as exc:
        if exc.status == 404:
            return True
        raise
    return any(c.type in ("Complete", "Failed") and c.status == "True"
               for c in (job.status.conditions if job.status else None) or [])


def wait_ended(kube: KubeSession, name: str, token: str, timeout: float,
               sleep: Callable[[float], None] = time.sleep) -> RunRecord:
    """The history entry of run-now ``token`` once it has ended and its Job has finished;
    PluginError when the operator refused it or it did not end within ``timeout`` seconds."""
    from kubernetes.client.exceptions import ApiException

    run_id, deadline = run_now_job_name(name, token), time.monotonic() + timeout
    while True:
        status = ReportScheduleStatus.of(kube.get(name))
        entry = status.run(run_id)
        if entry is not None and entry.result and entry.end_time and job_finished(kube, run_id):
            return entry
        if entry is None and status.last_run_request == token:
            try:  # the operator starts the Job before it echoes the token
                kube.batch.read_namespaced_job(run_id, kube.namespace)
            except ApiException as exc:
                if exc.status != 404:
                    raise
                raise PluginError(f"error: the operator did not start run {run_id}; see the"
                                  f" RunNowRefused Event: kubectl describe reportschedule"
                                  f" {name}") from exc
        if time.monotonic() > deadline:
            raise PluginError(f"error: run {run_id} did not end within {timeout:.0f}s")
        sleep(END_POLL_SECONDS)


def result_line(entry: RunRecord) -> str:
    """One line for an ended run: its id, result, rows and message."""
    text = f"run {entry.run_id} {entry.result}, {entry.rows} rows"
    return f"{text}: {entry.message}" if entry.message else text
