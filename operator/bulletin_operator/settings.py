"""Operator settings: kopf tuning and runner pod settings from the environment."""

from __future__ import annotations

import functools
import logging
import os
from typing import TypeVar

import kopf
from bulletin.api import logformat
from bulletin.api.burst import BurstPolicy
from bulletin.api.podpolicy import RunnerPodPolicy
from bulletin.api.runnerpod import RunnerPod
from kubernetes import client
from pydantic import ValidationError

from bulletin_operator.builders import RunnerSettings
from bulletin_operator.diffbase import StatusDiffBaseStorage

WORKER_SLOTS = 10  # kopf object workers per handler thread


def configure(settings: kopf.OperatorSettings) -> None:
    """Tune kopf for many small objects and GitOps-owned specs; check the runner settings."""
    runner_settings.cache_clear()
    runner_settings()  # invalid pod defaults stop the operator here, not at each reconcile
    pod_policy.cache_clear()
    pod_policy()  # read once; an invalid policy fails the start for good
    burst_policy.cache_clear()
    burst_policy()
    # kopf keeps its bookkeeping in annotations under its own prefix (it ignores changes there,
    # so it must differ from ours, e.g. bulletin.dev/run-requested-at); status is our schema.
    prefix = "kopf.bulletin.dev"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=prefix)
    # What was last handled is read from status (observedGeneration, lastRunRequest): no
    # annotation write besides the status patch.
    settings.persistence.diffbase_storage = StatusDiffBaseStorage()
    settings.persistence.finalizer = "kopf.bulletin.dev/finalizer"
    # Events are for users: none from kopf's own log lines (one per object and handler run,
    # "Resuming is processed" included, would be an API write each), ours are explicit.
    # kopf.info() posts only at level INFO: with WARNING, our RunRequested Event was dropped.
    # kopf >= 1.45 keeps log lines out by itself (posting.loggers=False); older kopf posts log
    # lines at or above the level, so there we stay at WARNING and lose kopf.info().
    if hasattr(settings.posting, "loggers"):
        settings.posting.loggers = False
        settings.posting.level = logging.INFO
    else:
        settings.posting.level = logging.WARNING
    # One replica acts at a time: the only one, or the Lease holder (leadership.py), so kopf's
    # own peering (a CRD, and a pause that our background threads would not see) stays off.
    settings.peering.standalone = True
    workers = int(os.environ.get("BULLETIN_WORKERS", "20"))
    settings.execution.max_workers = workers
    # Handlers call the API from up to `workers` threads at once through the kubernetes client,
    # whose urllib3 pool keeps 5 x cores connections (10 on 2 cores): with more threads, every
    # surplus request opened a new TLS connection and threw it away ("Connection pool is full"),
    # a handshake on both sides each time. Keep one connection per worker thread.
    config = client.Configuration.get_default_copy()
    config.connection_pool_maxsize = max(workers, config.connection_pool_maxsize or 0)
    client.Configuration.set_default(config)
    # kopf starts one asyncio worker per object with events and keeps it 5 s after its last
    # event. At start, or when schedules arrive faster than they are handled, that was one
    # worker (with its body, loggers and timers) per schedule at once: 4,000 schedules
    # restarted into 265 MB. Bound the workers to WORKER_SLOTS per handler thread (the rest
    # wait as plain coroutines) and let an idle one go after 0.3 s; list in pages.
    settings.queueing.worker_limit = WORKER_SLOTS * workers
    settings.queueing.idle_timeout = 0.05
    settings.watching.chunk_size = 500
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    # The metrics and archive handlers run on every watch event; their success is not news.
    quiet = {f"Handler '{h}' succeeded." for h in ("observe_metrics", "archive_runs")}
    logging.getLogger("kopf.objects").addFilter(
        lambda record: record.getMessage() not in quiet)


def metrics_endpoint() -> tuple[str, int]:
    """Where /metrics listens: BULLETIN_METRICS_ADDRESS (default all addresses) and
    BULLETIN_METRICS_PORT (default 8080; 0 turns it off). A bad port stops the operator."""
    port = int(os.environ.get("BULLETIN_METRICS_PORT", "8080"))
    if not 0 <= port <= 65535:
        raise ValueError(f"BULLETIN_METRICS_PORT: {port} is not a TCP port (0 turns it off)")
    return os.environ.get("BULLETIN_METRICS_ADDRESS", "0.0.0.0"), port


def log_format() -> str:
    """BULLETIN_LOG_FORMAT: text or json; anything else stops the operator at start."""
    return logformat.log_format(os.environ)


def configure_logging() -> None:
    """kopf's log handler writes our JSON lines when BULLETIN_LOG_FORMAT=json. Called when
    kopf imports the handlers, after its CLI set up logging and before the operator's first
    line; object lines carry the ReportSchedule's namespace and name (kopf's k8s_ref)."""
    logformat.apply(log_format())


POD_DEFAULTS = "BULLETIN_RUNNER_POD_DEFAULTS"


def pod_defaults() -> RunnerPod:
    """The runner pods' placement defaults: the chart's value runnerPod, as JSON in
    BULLETIN_RUNNER_POD_DEFAULTS. Invalid JSON or fields stop the operator at start."""
    raw = os.environ.get(POD_DEFAULTS, "").strip()
    return RunnerPod.model_validate_json(raw) if raw else RunnerPod()


POD_POLICY = "BULLETIN_RUNNER_POD_POLICY"


Policy = TypeVar("Policy", RunnerPodPolicy, BurstPolicy)


def _chart_policy(model: type[Policy], var: str, value: str, what: str) -> Policy:
    """The chart value ``value``, as JSON in ``var`` (unset: the built-in policy). Invalid JSON
    or fields fail the startup handler for good, and the operator exits."""
    raw = os.environ.get(var, "").strip()
    try:
        return model.model_validate_json(raw) if raw else model()
    except ValidationError as exc:
        raise kopf.PermanentError(f"{var} (chart value {value}) is not a valid {what}:"
                                  f" {exc}") from exc


@functools.cache
def pod_policy() -> RunnerPodPolicy:
    """What a schedule's spec.runner may ask for (chart value runnerPodPolicy), read once."""
    return _chart_policy(RunnerPodPolicy, POD_POLICY, "runnerPodPolicy", "runner pod policy")


BURST_POLICY = "BULLETIN_BURST_POLICY"


@functools.cache
def burst_policy() -> BurstPolicy:
    """How many pods a burst may ask for (chart value burstPolicy), read once."""
    return _chart_policy(BurstPolicy, BURST_POLICY, "burstPolicy", "burst policy")


@functools.cache
def runner_settings() -> RunnerSettings:
    """Runner pod settings; the chart sets BULLETIN_RUNNER_IMAGE. Read once (configure() reads
    them at start, where invalid pod defaults stop the operator), not at every reconcile."""
    defaults = RunnerSettings()
    return RunnerSettings(
        image=os.environ.get("BULLETIN_RUNNER_IMAGE", defaults.image),
        image_pull_policy=os.environ.get("BULLETIN_RUNNER_PULL_POLICY", defaults.image_pull_policy),
        allowed_domains=os.environ.get("BULLETIN_ALLOWED_DOMAINS", ""),
        allow_private_networks=os.environ.get("BULLETIN_ALLOW_PRIVATE_NETWORKS", ""),
        allowed_url_hosts=os.environ.get("BULLETIN_ALLOWED_URL_HOSTS", ""),
        # runner pods log as the operator does; text is their default, so it is not written
        log_format="" if log_format() == logformat.TEXT else log_format(),
        pod=pod_defaults(),
    )
