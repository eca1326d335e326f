"""`kubectl bulletin run NAME --period A..B --each month|week|day`: a backfill, one run per
period, one at a time: the next is requested after the previous one is recorded as ended and
its Job has finished (the runner records the end a few seconds before its pod exits)."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from bulletin.api.runrequest import RunOptions
from bulletin.api.status import RunResult
from bulletin.period import PeriodError, parse_override
from bulletin.plugin.accept import result_line, wait_answer, wait_ended
from bulletin.plugin.kube import KubeSession, PluginError
from bulletin.plugin.runnow import UsageError, options_of, request_run

MAX_PERIODS = 400


def _bounds(text: str) -> tuple[date, date]:
    """The first day and the day after the last of a period or a range of periods."""
    utc = ZoneInfo("UTC")
    left, sep, right = text.partition("..")
    if sep and len(left) == len(right) == 10:  # a date range, as --period takes it alone
        left = right = text
    try:
        first, last = parse_override(left, utc), parse_override(right or left, utc)
    except PeriodError as exc:
        raise UsageError(f"error: --period {text!r} with --each: {exc}; e.g. 2026-01..2026-06,"
                         " 2026-W01..2026-W10 or 2026-01-01..2026-01-31") from exc
    start, end = first.start.date(), last.end.date()
    if end <= start:
        raise UsageError(f"error: --period {text!r}: the end is before the start")
    return start, end


def periods(text: str, each: str) -> list[str]:
    """The periods (as --period names them) of ``each`` unit that the range ``text`` covers,
    oldest first: months 2026-01, ISO weeks 2026-W03, or days 2026-01-05."""
    start, end = _bounds(text)
    found: list[str] = []
    if each == "month":
        index = start.year * 12 + start.month - 1
        while date(index // 12, index % 12 + 1, 1) < end:
            found.append(f"{index // 12:04d}-{index % 12 + 1:02d}")
            index += 1
    elif each == "week":
        day = start - timedelta(days=start.weekday())
        while day < end:
            year, week, _ = day.isocalendar()
            found.append(f"{year:04d}-W{week:02d}")
            day += timedelta(weeks=1)
    else:
        found = [(start + timedelta(days=n)).isoformat() for n in range((end - start).days)]
    if len(found) > MAX_PERIODS:
        raise UsageError(f"error: --period {text!r} --each {each} makes {len(found)} runs;"
                         f" backfill at most {MAX_PERIODS} at once")
    return found


def backfill(kube: KubeSession, name: str, period: str, each: str, to: list[str] | None,
             timeout: float) -> None:
    """One run now per period, each after the previous one ended; PluginError if any failed."""
    wanted = periods(period, each)
    for text in wanted:
        options_of(text, to)  # every period checked before the first run
    kube.get(name)
    print(f"backfilling {name}: {len(wanted)} run(s), {wanted[0]} to {wanted[-1]}")
    failed: list[str] = []
    for text in wanted:
        token = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        request_run(kube.custom, kube.namespace, name, token, RunOptions(period=text, to=to))
        wait_answer(kube, name, token)
        entry = wait_ended(kube, name, token, timeout)
        print(f"{text}: {result_line(entry)}")
        sys.stdout.flush()
        if entry.result not in (RunResult.SUCCEEDED, RunResult.SKIPPED):
            failed.append(text)
    if failed:
        raise PluginError(f"error: {len(failed)} of {len(wanted)} run(s) did not succeed:"
                          f" {', '.join(failed)} (see kubectl bulletin history {name})")
