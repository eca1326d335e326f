"""The console's schedules page with 1,000 ReportSchedules against a raw list of the same
objects (issue 21).

On a fresh local control plane with the CRD and N ReportSchedules, each with a status history
of ten runs (written directly: no operator), the console runs in local mode (the kubeconfig's
user, as `kubectl bulletin console` runs it) and its schedules page of that namespace is
fetched over HTTP, as a browser would (it reads the state of all of them for the filter and the
count, and shows the first page of 100 rows); the baseline is the same user's raw LIST of the
same objects, decoded. One warm-up each, then RUNS timed runs, alternating. Medians; goal: the
page in under 300 ms. Also timed, not in the BENCH line: the second page (its rows are not the
first of the listing: read one by one). Runs inside the harness's network namespace (`make bench`
starts it there; started alone, it re-enters itself there).
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "runner"), str(ROOT / "operator")]

from _plane import crd_plane, in_netns  # noqa: E402
from _reconcile import G, P, V, in_parallel, names, say, schedule, wait  # noqa: E402
from localkube.controlplane import ControlPlane  # noqa: E402
from localkube.kube import ns_path  # noqa: E402

NS = "bench"
RUNS = 9
GOAL_MS = 300


def serve(plane: ControlPlane) -> tuple[Any, int, str]:
    """The console in local mode on a free loopback port: (server, port, URL token)."""
    import uvicorn
    from bulletin.console.access import Access
    from bulletin.console.app import build
    from bulletin.console.core import Console
    from bulletin.console.serve import free_port
    from bulletin.plugin.kube import connect

    kube = connect(str(plane.kubeconfig), None, NS)
    kube.api  # noqa: B018 - one client, made before the first request
    token, port = "bench-token", free_port()
    app = build(Console(Access("local", NS, local=kube, local_token=token)))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    threading.Thread(target=server.run, daemon=True).start()
    wait(lambda: server.started, "the console", timeout=30, interval=0.1)
    return server, port, token


def page(port: int, token: str, count: int, query: str = "") -> float:
    """Seconds to fetch the schedules page; it must list ``count`` schedules."""
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", f"/?namespace={NS}{query}",
                 headers={"Cookie": f"bulletin_console={token}"})
    response = conn.getresponse()
    body = response.read().decode()
    seconds = time.perf_counter() - start
    conn.close()
    if response.status != 200 or f"{count} schedules" not in body:
        raise SystemExit(f"the schedules page answered {response.status}: {body[:300]}")
    return seconds


def raw(count: int, plane: ControlPlane) -> float:
    """Seconds for the same user's LIST of the namespace's ReportSchedules, decoded."""
    from bulletin.plugin.rest import load

    rest = load(str(plane.kubeconfig), None)
    assert rest is not None
    start = time.perf_counter()
    found = rest.get(f"/apis/{G}/{V}/namespaces/{NS}/{P}")
    seconds = time.perf_counter() - start
    assert len(found["items"]) == count
    return seconds


def populate(plane: ControlPlane, count: int) -> None:
    """N schedules with a ten-run history each."""
    import consoledata

    admin = plane.client(timeout=120)
    now = datetime.now(UTC)

    def one(name: str) -> None:
        admin.create(ns_path(NS, P, group=G, version=V), schedule(name))
        admin.patch(ns_path(NS, P, name, group=G, version=V, sub="status"),
                    {"status": consoledata.status(name, now)}, patch_type="merge")

    in_parallel(16, one, names(count))


def main() -> None:
    """Print the figures and the BENCH line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="schedules (default 1000)")
    args = parser.parse_args()
    in_netns()
    with crd_plane("bench-console-", NS) as (plane, _admin):
        populate(plane, args.count)
        server, port, token = serve(plane)
        page(port, token, args.count), raw(args.count, plane)  # warm-up
        times: dict[str, list[float]] = {"ours": [], "raw": []}
        for _ in range(RUNS):
            times["ours"].append(page(port, token, args.count))
            times["raw"].append(raw(args.count, plane))
        second = statistics.median(page(port, token, args.count, "&page=2") for _ in range(RUNS))
        server.should_exit = True
    ours, base = (statistics.median(times[k]) * 1000 for k in ("ours", "raw"))
    say(f"{args.count} schedules with ten runs each: the schedules page {ours:.0f} ms, the raw"
        f" list {base:.0f} ms (medians of {RUNS}); its second page {second * 1000:.0f} ms")
    from bulletin.console.views import PER_PAGE

    say(f"BENCH console_1000 ratio={ours / base:.2f} goal=ms<{GOAL_MS} ms={ours:.0f}"
        f" raw_ms={base:.0f} schedules={args.count} shown={min(PER_PAGE, args.count)}"
        f" runs={RUNS}")


if __name__ == "__main__":
    main()
