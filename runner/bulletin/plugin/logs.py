"""`kubectl bulletin logs`: a run's pod log, read through the API (the run id names its Job)."""

from __future__ import annotations

import sys
import time
from typing import Any

from bulletin.api.status import ReportScheduleStatus
from bulletin.plugin.kube import KubeSession, PluginError

CONTAINER = "runner"  # the runner's container in every run's pod
START_WAIT = 30.0  # seconds to wait for a pending pod's container, as kubectl logs does
SCHEDULE_LABEL = "bulletin.dev/schedule"  # on every Job of a schedule, as the operator sets it


def newest_run(status: ReportScheduleStatus) -> str:
    """The id of the newest run status knows of."""
    ids = sorted(((e.start_time, e.run_id) for e in status.runs() if e.run_id), reverse=True)
    if not ids:
        raise PluginError("error: no run in status yet: start one with `kubectl bulletin run`")
    return ids[0][1]


def newest_job(jobs: list[Any]) -> str | None:
    """The name of the newest of a schedule's Jobs (scheduled or run-now), if any."""
    if not jobs:
        return None
    newest = max(jobs, key=lambda j: (j.metadata.creation_timestamp, j.metadata.name))
    return str(newest.metadata.name)


def latest_run(kube: KubeSession, name: str) -> str:
    """The newest run of ``name``: a run-now request still unanswered is waited for, then the
    newest of its Jobs (a run just requested has a Job before status knows of it), else the
    newest run in status."""
    from bulletin.api.names import short_name
    from bulletin.api.runrequest import RUN_REQUEST_ANNOTATION
    from bulletin.plugin.accept import wait_answer

    obj = kube.get(name)
    status = ReportScheduleStatus.of(obj)
    token = ((obj.get("metadata") or {}).get("annotations") or {}).get(RUN_REQUEST_ANNOTATION)
    if token and token != status.last_run_request:
        return wait_answer(kube, name, token)
    selector = f"{SCHEDULE_LABEL}={short_name(name, 63)}"
    jobs = kube.batch.list_namespaced_job(kube.namespace, label_selector=selector).items
    return newest_job(jobs) or newest_run(status)


def run_pod(kube: KubeSession, job: str, wait: float = START_WAIT) -> Any:
    """The newest pod of the run's Job (a retried run has one pod per try), waiting up to
    ``wait`` seconds for a Job just created to get one."""
    kube.batch.read_namespaced_job(job, kube.namespace)  # NotFound names the Job
    deadline = time.monotonic() + wait
    while not (pods := kube.core.list_namespaced_pod(
            kube.namespace, label_selector=f"job-name={job}").items):
        if time.monotonic() >= deadline:
            raise PluginError(f"error: run {job} has no pod (yet, or any more)")
        time.sleep(0.5)
    return max(pods, key=lambda p: (p.metadata.creation_timestamp, p.metadata.name))


def _container(pod: Any) -> str | None:
    names = [c.name for c in pod.spec.containers]
    return CONTAINER if CONTAINER in names else None


def _wait_started(kube: KubeSession, pod: Any) -> Any:
    deadline = time.monotonic() + START_WAIT
    while pod.status.phase == "Pending" and time.monotonic() < deadline:
        time.sleep(0.5)
        pod = kube.core.read_namespaced_pod(pod.metadata.name, kube.namespace)
    return pod


def logs(kube: KubeSession, name: str, run: str | None, follow: bool) -> None:
    """Print the log of run ``run`` (default: the newest) of schedule ``name``."""
    job = run or latest_run(kube, name)
    pod = _wait_started(kube, run_pod(kube, job))
    container = _container(pod)
    if not follow:
        text = kube.core.read_namespaced_pod_log(pod.metadata.name, kube.namespace,
                                                 container=container)
        sys.stdout.write(str(text))
        return
    stream = kube.core.read_namespaced_pod_log(pod.metadata.name, kube.namespace,
                                               container=container, follow=True,
                                               _preload_content=False)
    try:
        for chunk in stream.stream(4096, decode_content=True):
            sys.stdout.write(chunk.decode(errors="replace"))
            sys.stdout.flush()
    finally:
        stream.release_conn()
