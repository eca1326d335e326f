"""Operator settings: kopf tuning, and the operator's configuration read once from the
environment (OperatorConfig)."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TypeVar

import kopf
from bulletin.api import logformat, podenv
from bulletin.api.burst import BurstPolicy
from bulletin.api.podpolicy import RunnerPodPolicy
from bulletin.api.runnerpod import RunnerPod
from kubernetes import client
from pydantic import ValidationError

from bulletin_operator.builders import RunnerSettings
from bulletin_operator.diffbase import StatusDiffBaseStorage
from bulletin_operator.leadership import LEASE_ENV, TIMING_ENV, LeaseTiming

WORKER_SLOTS = 10  # kopf object workers per handler thread


def configure(settings: kopf.OperatorSettings) -> None:
    """Tune kopf for many small objects and GitOps-owned specs; read the operator's
    configuration (invalid settings stop the operator here, not at each reconcile)."""
    workers = config().workers
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
    settings.execution.max_workers = workers
    # Handlers call the API from up to `workers` threads at once through the kubernetes client,
    # whose urllib3 pool keeps 5 x cores connections (10 on 2 cores): with more threads, every
    # surplus request opened a new TLS connection and threw it away ("Connection pool is full"),
    # a handshake on both sides each time. Keep one connection per worker thread.
    pool = client.Configuration.get_default_copy()
    pool.connection_pool_maxsize = max(workers, pool.connection_pool_maxsize or 0)
    client.Configuration.set_default(pool)
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


def configure_logging() -> None:
    """kopf's log handler writes our JSON lines when BULLETIN_LOG_FORMAT=json. Called when
    kopf imports the handlers, after its CLI set up logging and before the operator's first
    line (before the configuration is read: an invalid format stops the operator there);
    object lines carry the ReportSchedule's namespace and name (kopf's k8s_ref)."""
    logformat.apply(logformat.log_format(os.environ))


POD_DEFAULTS = "BULLETIN_RUNNER_POD_DEFAULTS"
POD_POLICY = "BULLETIN_RUNNER_POD_POLICY"
BURST_POLICY = "BULLETIN_BURST_POLICY"
Policy = TypeVar("Policy", RunnerPodPolicy, BurstPolicy)


def _chart_policy(model: type[Policy], raw: str, var: str, value: str, what: str) -> Policy:
    """The chart value ``value``, as JSON in ``var`` (unset: the built-in policy). Invalid JSON
    or fields fail the startup handler for good, and the operator exits."""
    try:
        return model.model_validate_json(raw.strip()) if raw.strip() else model()
    except ValidationError as exc:
        raise kopf.PermanentError(f"{var} (chart value {value}) is not a valid {what}:"
                                  f" {exc}") from exc


def _runner(env: Mapping[str, str]) -> RunnerSettings:
    """Runner pod settings; the chart sets BULLETIN_RUNNER_IMAGE and, as JSON in
    BULLETIN_RUNNER_POD_DEFAULTS, the placement defaults (its value runnerPod)."""
    defaults = RunnerSettings()
    raw = env.get(POD_DEFAULTS, "").strip()
    fmt = logformat.log_format(env)
    return RunnerSettings(
        image=env.get("BULLETIN_RUNNER_IMAGE", defaults.image),
        image_pull_policy=env.get("BULLETIN_RUNNER_PULL_POLICY", defaults.image_pull_policy),
        allowed_domains=env.get(podenv.ALLOWED_DOMAINS, ""),
        allow_private_networks=env.get(podenv.ALLOW_PRIVATE_NETWORKS, ""),
        allowed_url_hosts=env.get(podenv.ALLOWED_URL_HOSTS, ""),
        # runner pods log as the operator does; text is their default, so it is not written
        log_format="" if fmt == logformat.TEXT else fmt,
        pod=RunnerPod.model_validate_json(raw) if raw else RunnerPod(),
    )


@dataclass(frozen=True)
class OperatorConfig:
    """The operator's configuration (the chart's values, in its pod env), read once at start:
    kopf's workers, /metrics, the runner pods' settings and policies, leader election, and the
    run archive's variables (bulletin_operator.archiving reads them)."""

    workers: int = 20
    metrics_address: str = "0.0.0.0"  # BULLETIN_METRICS_ADDRESS
    metrics_port: int = 8080  # BULLETIN_METRICS_PORT; 0 turns /metrics off
    runner: RunnerSettings = field(default_factory=RunnerSettings)
    pod_policy: RunnerPodPolicy = field(default_factory=RunnerPodPolicy)  # runnerPodPolicy
    burst_policy: BurstPolicy = field(default_factory=BurstPolicy)  # burstPolicy
    lease: str = ""  # BULLETIN_LEADER_ELECTION: namespace/name; empty: no election
    lease_timing: LeaseTiming = field(default_factory=lambda: LeaseTiming.model_validate({}))
    host: str = ""  # HOSTNAME: the pod's name
    kopf_namespace: str = ""  # KOPF_RUN_NAMESPACE: kopf's own option, for the prefetch scope
    archive: Mapping[str, str] = field(default_factory=dict)  # BULLETIN_ARCHIVE_*

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> OperatorConfig:
        """Parse ``env``; invalid pod defaults, policies, port or Lease timing raise."""
        runner = _runner(env)
        pod_policy = _chart_policy(RunnerPodPolicy, env.get(POD_POLICY, ""), POD_POLICY,
                                   "runnerPodPolicy", "runner pod policy")
        burst_policy = _chart_policy(BurstPolicy, env.get(BURST_POLICY, ""), BURST_POLICY,
                                     "burstPolicy", "burst policy")
        port = int(env.get("BULLETIN_METRICS_PORT", "8080"))
        if not 0 <= port <= 65535:
            raise ValueError(f"BULLETIN_METRICS_PORT: {port} is not a TCP port (0 turns it off)")
        return cls(
            workers=int(env.get("BULLETIN_WORKERS", "20")),
            metrics_address=env.get("BULLETIN_METRICS_ADDRESS", "0.0.0.0"), metrics_port=port,
            runner=runner, pod_policy=pod_policy, burst_policy=burst_policy,
            lease=env.get(LEASE_ENV, "").strip(),
            lease_timing=LeaseTiming.model_validate_json(env.get(TIMING_ENV, "").strip() or "{}"),
            host=env.get("HOSTNAME", ""), kopf_namespace=env.get("KOPF_RUN_NAMESPACE", ""),
            archive=MappingProxyType({k: v for k, v in env.items()
                                      if k.startswith("BULLETIN_ARCHIVE_")}),
        )


@functools.cache
def config() -> OperatorConfig:
    """The operator's configuration: read from the environment at the first call (a startup
    handler), then kept for the life of the process."""
    return OperatorConfig.from_env(os.environ)
