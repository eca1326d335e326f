"""A throwaway Prometheus server (built from its Go module by tests/prometheus/build.sh) that
serves recorded samples: `promtool tsdb create-blocks-from openmetrics` writes them into its
data directory before it starts, so their times are fixed and no test depends on today's date.
It asks for HTTP basic auth (USER and PASSWORD), so a test sees whether headers arrive."""

from __future__ import annotations

import base64
import subprocess
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from localkube._proc import stop_proc

from devstack.ports import HOST, LISTEN, free_port

ROOT = Path(__file__).resolve().parents[2]
USER = "reports"
PASSWORD = "prom-test-pw"
# bcrypt of PASSWORD (Prometheus' web config wants a hash; computed once with libcrypt).
PASSWORD_HASH = "$2b$10$5kYeOJbLNGlY6mMT0YYppOUCRnKgnLUwi.A3h3ZekJOZpmkq2gykO"


def _tool(script: str) -> str:
    proc = subprocess.run(["bash", str(ROOT / "tests" / script / "build.sh")],
                          check=True, capture_output=True, text=True)
    return proc.stdout.strip().splitlines()[-1]


def openmetrics(families: Iterable[tuple[str, str, Iterable[tuple[str, datetime, float]]]]
                ) -> str:
    """OpenMetrics text of (name, type, [(labels, time, value)]) families, with timestamps."""
    lines = []
    for name, kind, samples in families:
        lines.append(f"# TYPE {name} {kind}")
        lines += [f"{name}{{{labels}}} {value} {when.timestamp():.0f}"
                  for labels, when, value in samples]
    return "\n".join([*lines, "# EOF", ""])


def every(start: datetime, end: datetime, step: timedelta) -> Iterable[datetime]:
    """start, start + step, ... before end."""
    when = start
    while when < end:
        yield when
        when += step


class Prometheus:
    """A Prometheus on a free loopback port, its TSDB filled from OpenMetrics text."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def auth_header(self) -> str:
        """The header line a headers Secret holds to pass the server's basic auth."""
        token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        return f"Authorization: Basic {token}"

    def start(self, samples: str | None, config: str = "global: {}\n") -> Prometheus:
        """Load ``samples`` (OpenMetrics text; None: none) into the TSDB, then serve it with
        ``config`` as prometheus.yml (e.g. scrape_configs of a live target)."""
        data = self.root / "data"
        data.mkdir(parents=True)
        if samples is not None:
            (self.root / "samples.om").write_text(samples)
            subprocess.run([_tool("promtool"), "tsdb", "create-blocks-from", "openmetrics",
                            "--quiet", "--max-block-duration=240h",
                            str(self.root / "samples.om"), str(data)],
                           check=True, capture_output=True, text=True)
        (self.root / "prometheus.yml").write_text(config)
        (self.root / "web.yml").write_text(f"basic_auth_users:\n  {USER}: '{PASSWORD_HASH}'\n")
        log = (self.root / "log").open("ab")
        self.proc = subprocess.Popen(
            [_tool("prometheus"), f"--config.file={self.root / 'prometheus.yml'}",
             f"--web.config.file={self.root / 'web.yml'}", f"--storage.tsdb.path={data}",
             "--storage.tsdb.retention.time=100y", f"--web.listen-address={LISTEN}:{self.port}"],
            stdout=log, stderr=log)
        self._wait()
        return self

    def _wait(self) -> None:
        deadline = time.monotonic() + 60
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited: {(self.root / 'log').read_text()[-2000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/-/ready", auth=(USER, PASSWORD),
                             timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("prometheus did not become ready in 60s")
            time.sleep(0.2)

    def query(self, expr: str) -> list[dict[str, object]]:
        """The instant vector ``expr`` gives now (the API's data.result)."""
        resp = httpx.get(f"http://127.0.0.1:{self.port}/api/v1/query", params={"query": expr},
                         auth=(USER, PASSWORD), timeout=10)
        resp.raise_for_status()
        result: list[dict[str, object]] = resp.json()["data"]["result"]
        return result

    def stop(self) -> None:
        if self.proc is not None:
            stop_proc(self.proc, timeout=30)


def queue_depths() -> str:
    """Recorded samples the tests query: gauge bulletin_queue_depth for queues mail and pdf,
    every 5 minutes from 2026-01-04 to 2026-01-13 UTC; its value is the UTC day of the month
    (mail) and ten times that (pdf)."""
    start, end = datetime(2026, 1, 4, tzinfo=UTC), datetime(2026, 1, 13, tzinfo=UTC)
    return openmetrics([("bulletin_queue_depth", "gauge", [
        (f'queue="{queue}"', when, factor * when.day)
        for queue, factor in (("mail", 1), ("pdf", 10))
        for when in every(start, end, timedelta(minutes=5))])])
