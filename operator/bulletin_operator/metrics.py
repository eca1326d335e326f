"""The operator's Prometheus metrics: a store of per-schedule samples fed by watch events, a
collector that turns it into gauges at scrape time, run counters, and reconcile timing.

Watch events only replace one schedule's precomputed samples; a scrape walks the store once.
Runs are counted when first seen ended (by run id); runs already in a schedule's status when
the operator first sees it are not, so a restart does not count them again. A namespace's
bulletin_runs_total series exist at 0 for every result and trigger from its first schedule on,
so increase() sees the first run that ends, also the first after a restart.
"""

from __future__ import annotations

import platform
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any
from wsgiref.simple_server import WSGIServer

from bulletin.api.status import ReportScheduleStatus, Trigger
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample as PromSample

from bulletin_operator.metrics_samples import (
    GAUGES,
    PREFIX,
    RESULTS,
    EndedRun,
    depends_on_name,
    interval_seconds,
    newly_ended,
    schedule_samples,
)

RUN_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600)
API_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
OUTCOMES = ("ok", "error", "refused")
TRIGGERS = tuple(t.value for t in Trigger)


@dataclass(frozen=True, slots=True)
class _Entry:
    samples: tuple[PromSample, ...]
    seen: frozenset[str]
    interval_of: tuple[str, datetime | None]  # (schedule as text, nextRunTime) the interval is for
    interval: float | None


class ScheduleStore:
    """Per (namespace, name): its samples, ready to expose, and the ids of its ended runs."""

    SHARED_INTERVALS = 1024  # distinct (schedule, next run) pairs kept for all schedules

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._lock = threading.Lock()
        # Schedule math costs milliseconds; many schedules share a schedule and a next run.
        self._intervals: dict[tuple[str, datetime | None], float | None] = {}

    def observe(self, namespace: str, name: str, spec: Mapping[str, Any],
                status: ReportScheduleStatus) -> list[EndedRun]:
        """Take a snapshot; the runs that ended since the previous one of this schedule."""
        key = (namespace, name)
        old = self._entries.get(key)
        schedule = spec.get("schedule") or {}
        interval_of = (repr(schedule), status.next_run_time)
        if old is not None and old.interval_of == interval_of:
            interval = old.interval  # the rule is compiled only when its inputs change
        else:
            interval = self._interval(namespace, name, schedule, interval_of)
        fresh, seen = newly_ended(status, old.seen if old is not None else None)
        series = {"namespace": namespace, "name": name}  # shared by its samples, read-only
        samples = tuple(PromSample(s.metric, _labels(series, s.metric, s.labels), s.value)
                        for s in schedule_samples(spec, status, interval))
        with self._lock:
            self._entries[key] = _Entry(samples, seen, interval_of, interval)
        return fresh

    def _interval(self, namespace: str, name: str, schedule: Any,
                  interval_of: tuple[str, datetime | None]) -> float | None:
        if not isinstance(schedule, Mapping):
            return None
        if depends_on_name(schedule):
            return interval_seconds(namespace, name, schedule, interval_of[1])
        if interval_of in self._intervals:
            return self._intervals[interval_of]
        if len(self._intervals) >= self.SHARED_INTERVALS:
            self._intervals.clear()
        found = self._intervals[interval_of] = interval_seconds(namespace, name, schedule,
                                                                interval_of[1])
        return found

    def forget(self, namespace: str, name: str) -> None:
        """The schedule is gone: drop its series."""
        with self._lock:
            self._entries.pop((namespace, name), None)

    def samples(self) -> tuple[int, list[tuple[PromSample, ...]]]:
        """How many schedules, and their samples (a consistent copy)."""
        with self._lock:
            return len(self._entries), [e.samples for e in self._entries.values()]


def _labels(series: dict[str, str], metric: str, values: tuple[str, ...]) -> dict[str, str]:
    if not values:
        return series
    extra = GAUGES[metric.removeprefix(PREFIX)][1]
    return {**series, **dict(zip(extra, values, strict=True))}


class ScheduleCollector(Collector):
    """Builds the per-schedule gauges and bulletin_operator_schedules from the store."""

    def __init__(self, store: ScheduleStore) -> None:
        self.store = store

    def _families(self) -> dict[str, GaugeMetricFamily]:
        return {PREFIX + key: GaugeMetricFamily(PREFIX + key, doc,
                                                labels=["namespace", "name", *extra])
                for key, (doc, extra) in GAUGES.items()}

    def describe(self) -> Iterable[Metric]:
        return [*self._families().values(), self._count(0)]

    def collect(self) -> Iterable[Metric]:
        families = self._families()
        count, per_schedule = self.store.samples()
        for samples in per_schedule:
            for sample in samples:
                families[sample.name].samples.append(sample)
        return [*families.values(), self._count(count)]

    @staticmethod
    def _count(count: int) -> GaugeMetricFamily:
        return GaugeMetricFamily("bulletin_operator_schedules",
                                 "ReportSchedules in the operator's cache.", value=count)


class Reconcile:
    """The outcome of one reconcile: ok unless refused() or an exception escapes."""

    outcome = "ok"

    def refused(self) -> None:
        self.outcome = "refused"


class ApiRequest:
    """One request to the API server: its HTTP status, or "error" when none came back."""

    code: int | str = "error"


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"


class OperatorMetrics:
    """Everything the operator exposes, registered in ``registry``."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        Gauge("bulletin_build_info", "The operator's versions (value 1).",
              ["version", "kopf", "python"], registry=registry).labels(
            _version("bulletin"), _version("kopf"), platform.python_version()).set(1)
        self.leader = Gauge("bulletin_operator_leader", "1 on the replica that acts (the Lease"
                            " holder, or the only replica), 0 on a standby.", registry=registry)
        self.api_duration = Histogram(
            "bulletin_operator_api_request_duration_seconds", "The operator's own requests to"
            " the API server (kopf's watches and status patches not included).", ["verb"],
            buckets=API_BUCKETS, registry=registry)
        self.api_errors = Counter(
            "bulletin_operator_api_request_errors", "The operator's own API requests answered"
            " with an error status (code), or with none (code=\"error\").", ["verb", "code"],
            registry=registry)
        self.store = ScheduleStore()
        self.runs = Counter("bulletin_runs", "Runs seen ending while the operator watched"
                            " (0 for each result and trigger from a namespace's first schedule"
                            " on).", ["namespace", "result", "trigger"], registry=registry)
        self._counted: set[str] = set()  # namespaces whose runs series exist
        self.run_duration = Histogram(
            "bulletin_run_duration_seconds", "Durations of runs seen ending.", ["namespace"],
            buckets=RUN_BUCKETS, registry=registry)
        self.reconciles = Counter("bulletin_operator_reconciles",
                                  "Reconciles of ReportSchedules by outcome.", ["outcome"],
                                  registry=registry)
        for outcome in OUTCOMES:
            self.reconciles.labels(outcome)  # exported as 0 before the first one
        self.reconcile_duration = Histogram("bulletin_operator_reconcile_duration_seconds",
                                            "How long reconciles take.", registry=registry)
        self.reconciling_now = Gauge("bulletin_operator_reconciles_in_progress",
                                     "Reconciles running now (kopf's workers busy with one).",
                                     registry=registry)
        registry.register(ScheduleCollector(self.store))

    def observe(self, namespace: str, name: str, spec: Mapping[str, Any],
                status: ReportScheduleStatus) -> None:
        """A watch event of a ReportSchedule: refresh its gauges, count its newly ended runs."""
        if namespace not in self._counted:
            self._counted.add(namespace)
            for result in RESULTS:
                for trigger in TRIGGERS:
                    self.runs.labels(namespace, result, trigger)  # exported as 0 from now on
        for run in self.store.observe(namespace, name, spec, status):
            self.runs.labels(namespace, run.result, run.trigger).inc()
            if run.duration is not None:
                self.run_duration.labels(namespace).observe(run.duration)

    def forget(self, namespace: str, name: str) -> None:
        self.store.forget(namespace, name)

    @contextmanager
    def reconciling(self) -> Iterator[Reconcile]:
        """Time a reconcile and count its outcome (an exception is an error, and re-raised)."""
        found, start = Reconcile(), time.perf_counter()
        self.reconciling_now.inc()
        try:
            yield found
        except BaseException:
            found.outcome = "error"
            raise
        finally:
            self.reconciling_now.dec()
            self.reconcile_duration.observe(time.perf_counter() - start)
            self.reconciles.labels(found.outcome).inc()

    @contextmanager
    def api_request(self, verb: str) -> Iterator[ApiRequest]:
        """Time one API request; count it as an error unless it set a status below 400
        (404 is an answer, not an error)."""
        found, start = ApiRequest(), time.perf_counter()
        try:
            yield found
        finally:
            self.api_duration.labels(verb).observe(time.perf_counter() - start)
            if found.code == "error" or (int(found.code) >= 400 and found.code != 404):
                self.api_errors.labels(verb, str(found.code)).inc()


def serve(address: str, port: int, registry: CollectorRegistry = REGISTRY
          ) -> WSGIServer | None:
    """Serve ``registry`` on http://address:port/metrics in a daemon thread (port 0: not)."""
    if port == 0:
        return None
    server, _thread = start_http_server(port, addr=address, registry=registry)
    return server


disable_created_metrics()  # no *_created series: nothing reads them
METRICS = OperatorMetrics()
