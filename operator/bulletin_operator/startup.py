"""The operator's start and stop: /metrics and the lead, credentials and kopf's settings,
and the startup check that spares kopf resuming every schedule one by one."""

from __future__ import annotations

import asyncio
import functools
import time
from typing import Any

import kopf
from bulletin.api.gateway import load_credentials

from bulletin_operator import leadership, prefetch, resuming
from bulletin_operator.cluster import Cluster
from bulletin_operator.desired import in_sync
from bulletin_operator.metrics import METRICS, serve
from bulletin_operator.nextrun import NextRunRefresher
from bulletin_operator.settings import config, configure


@kopf.on.startup()
async def lead(memo: kopf.Memo, **_: Any) -> None:
    """Serve /metrics, then, with more than one replica, wait here (a standby, its
    bulletin_operator_leader 0) until this one leads."""
    memo.config = settings = config()  # read once, here: invalid settings stop the start
    address, port = settings.metrics_address, settings.metrics_port
    try:
        memo.metrics_server = serve(address, port)
    except OSError as exc:  # e.g. the port is taken: stop rather than run unobserved
        raise kopf.PermanentError(f"/metrics on {address}:{port}: {exc}") from exc
    memo.elector = await leadership.lead(settings.lease, settings.lease_timing, settings.host)
    METRICS.leader.set(1)


@kopf.on.startup()
def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Load credentials, tune kopf, and start keeping nextRunTime current."""
    load_credentials()
    configure(settings)
    memo.cluster = Cluster()
    memo.refresher = NextRunRefresher()
    memo.refresher.start()


@kopf.on.startup()
async def check_at_startup(memo: kopf.Memo, logger: kopf.Logger,
                           settings: kopf.OperatorSettings, **_: Any) -> None:
    """Read the owned objects' metadata with one LIST per kind, then check every schedule
    against it in one pass; kopf resumes only the rest (async: kopf's command line is known
    in the event loop's thread only)."""
    if "cluster" not in memo:  # startup failed (e.g. bad settings): let kopf stop on that
        return
    cluster: Cluster = memo.cluster
    scope = prefetch.kopf_scope(config().kopf_namespace)
    begin = time.monotonic()
    found = await asyncio.to_thread(cluster.owned.prime, scope)
    primed = time.monotonic()
    try:
        memo.up_to_date, checked = await asyncio.to_thread(
            resuming.up_to_date, cluster.schedule_pages(scope),
            functools.partial(in_sync, cluster), settings.execution.max_workers or 1)
    except Exception as exc:  # e.g. an outage: kopf resumes every schedule itself
        logger.warning("no startup check of the schedules (%r): kopf resumes each", exc)
        memo.up_to_date, checked = set(), 0
    logger.info("startup: %d of %d schedules up to date; %d resume one by one (snapshot of %d"
                " owned objects in %s: %.1fs; check: %.1fs)", len(memo.up_to_date), checked,
                checked - len(memo.up_to_date), found,
                ", ".join(ns or "all namespaces" for ns in scope) or "no namespace",
                primed - begin, time.monotonic() - primed)


@kopf.on.cleanup()
def cleanup(memo: kopf.Memo, **_: Any) -> None:
    """Stop the background refresher and the metrics server; hand the lead over."""
    if "refresher" in memo:
        memo.refresher.stop()
    if memo.get("metrics_server") is not None:
        memo.metrics_server.shutdown()
    if memo.get("elector") is not None:
        memo.elector.release()
