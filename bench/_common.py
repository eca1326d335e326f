"""Shared by the benchmarks: run a variant in a child process and read its peak RSS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def child(code: str, *, timeout: float | None = None, poll_cap_mb: float | None = None
          ) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter; returns its wall time, peak RSS (MB, from /proc
    polling and the child's own getrusage) and whatever JSON it printed last."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = f"{ROOT / 'runner'}:{ROOT / 'bench'}"  # compiled modules, as installed
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env=env,
                            text=True)
    peak, killed = 0.0, None
    while proc.poll() is None:
        peak = max(peak, _rss_mb(proc.pid))
        elapsed = time.perf_counter() - start
        if timeout is not None and elapsed > timeout:
            killed = f"stopped after {elapsed:.0f}s"
        if poll_cap_mb is not None and peak > poll_cap_mb:
            killed = f"stopped at {peak:.0f} MB"
        if killed:
            proc.kill()
            break
        time.sleep(0.05)
    out, _ = proc.communicate()
    seconds = time.perf_counter() - start
    result: dict[str, Any] = {"seconds": seconds, "peak_mb": peak, "killed": killed}
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if lines:
        result.update(json.loads(lines[-1]))
        result["peak_mb"] = max(peak, result.get("rss_mb", 0.0))
    elif not killed and proc.returncode:
        raise SystemExit(f"benchmark child failed ({proc.returncode}):\n{code}")
    return result


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


REPORT = """
import json, resource, sys, time
from datetime import datetime, UTC
from pathlib import Path
from bulletin.api.spec import ReportScheduleSpec
from bulletin.period import compute
from bulletin.report import build_report
from bulletin.schedule import zone

def run(spec_doc, datasets, outdir):
    spec = ReportScheduleSpec.model_validate(spec_doc)
    period = compute(spec.period_kind(), datetime(2026, 1, 12, 8, tzinfo=UTC), zone(spec.schedule))
    t = time.perf_counter()
    built = build_report(spec, schedule_name="bench", namespace="bench", period=period,
                         db_url=None, outdir=Path(outdir), templates_dir=None,
                         sample={"datasets": datasets})
    return built, time.perf_counter() - t

def spec(formats, **report):
    return {"schedule": {"daily": {"at": "09:00"}, "timeZone": "UTC"},
            "source": {"connectionSecretRef": {"name": "db", "key": "url"}},
            "datasets": [{"name": "usage", "query": "SELECT 1"}], "formats": formats,
            "report": report,
            "delivery": {"email": {"smtpSecretRef": {"name": "s"}, "to": ["a@b.c"]}}}

def rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
"""
