"""/metrics with 10,000 ReportSchedules in the operator's cache (issue 10), no cluster needed.

Ours: the operator's ScheduleStore fed with 10,000 status snapshots (a mix of succeeded,
failed, paused and never-run schedules in 100 namespaces), scraped through its collector with
generate_latest. Baseline: a bare prometheus-client registry holding the very same series as
plain Gauges, set directly. Both exposition texts must be identical; their scrapes alternate,
medians compared. Also: the process's RSS growth for filling the store (the snapshots
themselves stand for kopf's cache, which the operator holds anyway), and the time to fill it.
Goal: ratio <= 1.5. The last line is the BENCH line.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from typing import Any

from bulletin.api.status import ReportScheduleStatus
from bulletin_operator.metrics import ScheduleCollector, ScheduleStore
from bulletin_operator.metrics_samples import GAUGES, PREFIX
from prometheus_client import CollectorRegistry, Gauge, generate_latest

GOAL = 1.5
# Schedules as teams write them; the last spreads its start by namespace/name, so its
# interval is worked out for each schedule (the others' are shared by equal schedules).
SCHEDULES: list[dict[str, Any]] = [
    {"cron": "0 9 * * MON", "timeZone": "Europe/Berlin"},
    {"cron": "30 6 * * *", "timeZone": "UTC"},
    {"monthly": {"lastDay": True, "at": "07:00"}, "timeZone": "Asia/Tokyo"},
    {"daily": {"at": "06:00"}, "staggerMinutes": 30, "timeZone": "Europe/Berlin"},
]
NEXT_RUNS = ["2026-11-30T08:00:00Z", "2026-11-24T06:30:00Z", "2026-11-29T22:00:00Z",
             "2026-11-24T05:10:00Z"]


def _run(i: int, k: int, result: str) -> dict[str, Any]:
    return {"runId": f"r{i}-{k}", "trigger": "Scheduled", "result": result,
            "startTime": f"2026-11-{22 - k % 20:02d}T08:00:00Z",
            "endTime": f"2026-11-{22 - k % 20:02d}T08:00:{10 + i % 40:02d}Z",
            "rows": 100 + i, "bytes": 4096 + i, "recipients": ["team@example.com"],
            "deliveries": [{"target": "email", "state": "Sent", "attempts": 1}]}


def snapshot(i: int) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
    """Schedule ``i``: namespace, name, spec, status."""
    spec = {"schedule": SCHEDULES[i % len(SCHEDULES)], "suspend": i % 50 == 0}
    kind = i % 20
    paused = kind == 1
    status: dict[str, Any] = {
        "observedGeneration": 1, "schedule": "0 9 * * 1", "cronJobName": f"report-{i}",
        "nextRunTime": NEXT_RUNS[i % len(NEXT_RUNS)],
        "conditions": [
            {"type": "Ready", "status": "False" if paused else "True"},
            {"type": "Stalled", "status": "True" if paused else "False"},
            {"type": "Paused", "status": "True" if paused else "False"}],
    }
    if kind != 0:  # kind 0 never ran
        result = "Failed" if kind in (1, 2, 3) else "Succeeded"
        history = [_run(i, k, result if k == 0 else "Succeeded") for k in range(10)]
        status |= {"lastRun": history[0], "history": history,
                   "consecutiveFailures": 5 if paused else int(result == "Failed"),
                   "lastSuccessTime": history[1]["endTime"]}
    return f"team-{i % 100}", f"report-{i}", spec, status


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def baseline(store: ScheduleStore) -> CollectorRegistry:
    """The same series as plain Gauges in a bare registry, set directly."""
    registry = CollectorRegistry()
    gauges = {PREFIX + key: Gauge(PREFIX + key, doc, ["namespace", "name", *extra],
                                  registry=registry)
              for key, (doc, extra) in GAUGES.items()}
    count, per_schedule = store.samples()
    for samples in per_schedule:
        for s in samples:
            gauges[s.name].labels(**s.labels).set(s.value)
    Gauge("bulletin_operator_schedules", "ReportSchedules in the operator's cache.",
          registry=registry).set(count)
    return registry


def timed(registry: CollectorRegistry) -> tuple[float, bytes]:
    start = time.perf_counter()
    text = generate_latest(registry)
    return time.perf_counter() - start, text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedules", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    snapshots = [snapshot(i) for i in range(args.schedules)]
    gc.collect()
    before = rss_mb()
    store = ScheduleStore()
    start = time.perf_counter()
    for namespace, name, spec, status in snapshots:
        store.observe(namespace, name, spec, ReportScheduleStatus.parse(status))  # as handlers do
    fill_s = time.perf_counter() - start
    gc.collect()
    store_mb = rss_mb() - before
    ours = CollectorRegistry()
    ours.register(ScheduleCollector(store))
    before = rss_mb()
    bare = baseline(store)
    gc.collect()
    bare_mb = rss_mb() - before

    ours_s: list[float] = []
    bare_s: list[float] = []
    for _ in range(args.rounds):  # alternate, so both see the same machine
        took, ours_text = timed(ours)
        ours_s.append(took)
        took, bare_text = timed(bare)
        bare_s.append(took)
    assert ours_text == bare_text, "the two registries must expose the same text"
    series = sum(1 for line in ours_text.splitlines() if not line.startswith(b"#"))
    scrape_ms, base_ms = statistics.median(ours_s) * 1000, statistics.median(bare_s) * 1000
    print(f"{args.schedules} schedules, {series} series, {len(ours_text) / 1e6:.1f} MB of text;"
          f" store filled in {fill_s:.2f}s ({fill_s / args.schedules * 1e6:.0f} us each),"
          f" RSS +{store_mb:.1f} MB (the same series as plain Gauges: +{bare_mb:.1f} MB)")
    print(f"scrape: ours {scrape_ms:.1f} ms, plain Gauges {base_ms:.1f} ms (medians of"
          f" {args.rounds})")
    print(f"BENCH metrics_10k ratio={scrape_ms / base_ms:.2f} goal=<={GOAL} "
          f"scrape_ms={scrape_ms:.1f} baseline_ms={base_ms:.1f} series={series} "
          f"rss_mb={store_mb:.1f}")


if __name__ == "__main__":
    main()
