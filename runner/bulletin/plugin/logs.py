"""`kubectl bulletin logs`: a run's pod log, read through the API (the run id names its Job)."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from typing import Any

from bulletin.plugin.kube import Kube, PluginError

CONTAINER = "runner"  # the runner's container in every run's pod
START_WAIT = 30.0  # seconds to wait for a pending pod's container, as kubectl logs does


def newest_run(status: Mapping[str, Any]) -> str:
    """The id of the newest run status knows of."""
    entries = [status.get("lastRun") or {}, *(status.get("history") or [])]
    ids = sorted(((e.get("startTime") or "", e["runId"]) for e in entries if e.get("runId")),
                 reverse=True)
    if not ids:
        raise PluginError("error: no run in status yet: start one with `kubectl bulletin run`")
    return str(ids[0][1])


def run_pod(kube: Kube, job: str) -> Any:
    """The newest pod of the run's Job (a retried run has one pod per try)."""
    kube.batch.read_namespaced_job(job, kube.namespace)  # NotFound names the Job
    pods = kube.core.list_namespaced_pod(kube.namespace, label_selector=f"job-name={job}").items
    if not pods:
        raise PluginError(f"error: run {job} has no pod (yet, or any more)")
    return max(pods, key=lambda p: (p.metadata.creation_timestamp, p.metadata.name))


def _container(pod: Any) -> str | None:
    names = [c.name for c in pod.spec.containers]
    return CONTAINER if CONTAINER in names else None


def _wait_started(kube: Kube, pod: Any) -> Any:
    deadline = time.monotonic() + START_WAIT
    while pod.status.phase == "Pending" and time.monotonic() < deadline:
        time.sleep(0.5)
        pod = kube.core.read_namespaced_pod(pod.metadata.name, kube.namespace)
    return pod


def logs(kube: Kube, name: str, run: str | None, follow: bool) -> None:
    """Print the log of run ``run`` (default: the newest) of schedule ``name``."""
    job = run or newest_run(kube.get(name).get("status") or {})
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
