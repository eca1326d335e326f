"""The kubectl plugin's pure formatting: ages, the history, status and next-run tables (golden
files in tests/unit/golden/plugin/; UPDATE_GOLDEN=1 rewrites them, then read the diff)."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from bulletin.api.status import RunRecord
from bulletin.plugin.nextruns import next_records, next_table, rule_for, upcoming
from bulletin.plugin.overview import schedule_text, status_table
from bulletin.plugin.tables import history_table, human_duration, period, zone_of
from bulletin.schedule import ScheduleError

GOLDEN = Path(__file__).parent / "golden" / "plugin"
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


def check(name: str, text: str) -> None:
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"missing golden file {path}; run with UPDATE_GOLDEN=1"
    assert text == path.read_text(), f"{name} differs from {path}:\n{text}"


@pytest.mark.parametrize(("seconds", "text"), [
    (-5, "<invalid>"), (-1, "0s"), (0, "0s"), (119, "119s"), (120, "2m"), (200, "3m20s"),
    (599, "9m59s"), (600, "10m"), (179 * 60, "179m"), (3 * 3600, "3h"), (5 * 3600 + 600, "5h10m"),
    (8 * 3600 + 59, "8h"), (47 * 3600, "47h"), (48 * 3600, "2d"), (3 * 86400 + 4 * 3600, "3d4h"),
    (8 * 86400, "8d"), (729 * 86400, "729d"), (730 * 86400, "2y"), (740 * 86400, "2y10d"),
    (9 * 365 * 86400, "9y"),
])
def test_ages_follow_kubectl(seconds: int, text: str) -> None:
    assert human_duration(seconds) == text


def record(run: str, start: str, end: str | None, result: str | None, **extra: Any
           ) -> dict[str, Any]:
    entry = {"runId": run, "trigger": "Scheduled", "startTime": start, "endTime": end,
             "result": result, **extra}
    return {k: v for k, v in entry.items() if v is not None}


HISTORY = [
    record("usage-manual-7f3a", "2026-11-23T09:59:30Z", None, None, trigger="Manual"),
    record("usage-29400540", "2026-11-23T08:00:04Z", "2026-11-23T08:00:41Z", "Succeeded",
           periodStart="2026-11-15T23:00:00Z", periodEnd="2026-11-22T23:00:00Z", rows=1204,
           recipients=["team@example.com", "boss@example.com", "ops@example.com"]),
    record("usage-29390460", "2026-11-16T08:00:02Z", "2026-11-16T08:03:12Z", "Failed",
           periodStart="2026-11-08T23:00:00Z", periodEnd="2026-11-15T23:00:00Z",
           message="query failed: canceling statement due to statement timeout\n"
                   "(spec.source.statementTimeoutSeconds: 120)"),
    record("usage-catchup-1", "2026-11-10T06:00:00Z", "2026-11-10T06:00:09Z", "Skipped",
           trigger="CatchUp", periodStart="2026-11-09T05:00:00Z",
           periodEnd="2026-11-09T06:00:00Z", recipients=["a@example.com", "b@example.com"],
           message="every dataset is empty (gates.skipIfEmpty)"),
    record("usage-backfill", "2026-10-02T07:00:00Z", "2026-10-02T07:01:00Z", "Succeeded",
           trigger="Manual", periodStart="2026-08-31T22:00:00Z",
           periodEnd="2026-09-30T22:00:00Z", rows=3, recipients=["me@example.com"]),
    record("usage-amer-29380000", "2026-09-28T13:00:00Z", "2026-09-28T13:00:30Z",
           "PartiallyDelivered", scheduleEntry="amer", rows=940,
           deliveries=[{"target": "email", "state": "Failed",
                        "burst": {"recipients": 50, "sent": 48, "failed": 2}}]),
]


def test_history_table() -> None:
    records = [RunRecord.model_validate(r) for r in HISTORY]
    check("history", history_table(records, BERLIN, NOW))


def test_periods_read_in_the_schedules_zone() -> None:
    run = {"runId": "r", "trigger": "Scheduled", "startTime": "2026-11-05T23:00:00Z"}
    day = RunRecord.model_validate({**run, "periodStart": "2026-11-04T23:00:00Z",
                                    "periodEnd": "2026-11-05T23:00:00Z"})
    assert period(day, BERLIN) == "2026-11-05"
    assert period(day, ZoneInfo("UTC")) == "2026-11-04 23:00..2026-11-05 23:00"
    assert period(RunRecord.model_validate(run), BERLIN) == "<none>"


def test_history_reads_in_the_zone_of_the_first_entry_of_several_schedules() -> None:
    obj = {"spec": {"schedules": [{"name": "amer", "timeZone": "America/New_York"},
                                  {"name": "emea", "timeZone": "Europe/Berlin"}]}}
    assert zone_of(obj) == ZoneInfo("America/New_York")
    assert zone_of({"spec": {}}) == ZoneInfo("UTC")


def schedule_obj(name: str, namespace: str = "analytics", **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace,
                         "creationTimestamp": "2026-09-01T12:00:00Z"},
            "spec": {"schedule": {"daily": {"at": "09:00"}, "timeZone": "Europe/Berlin"}, **spec}}


SINCE = {"reason": "R", "lastTransitionTime": "2026-11-01T00:00:00Z"}  # the CRD requires them


def ready(status: str, *more: dict[str, str]) -> list[dict[str, str]]:
    return [{"type": "Ready", "status": status, **SINCE}, *more]


SCHEDULES = [
    {**schedule_obj("weekly-usage", schedule={"weekly": {"days": ["MON", "THU"], "at": "09:00"},
                                              "timeZone": "Europe/Berlin"}),
     "status": {"conditions": ready("True"), "lastRun": HISTORY[1],
                "nextRunTime": "2026-11-26T08:00:00Z", "cronJobName": "weekly-usage",
                "lastSuccessTime": "2026-11-23T08:00:41Z"}},
    {**schedule_obj("month-end", "finance", schedule={"monthly": {"lastDay": True, "at": "18:00"},
                                                      "weekdaysOnly": True}),
     "status": {"conditions": ready("False", {"type": "Paused", "status": "True", **SINCE}),
                "lastRun": HISTORY[2], "consecutiveFailures": 5,
                "nextRunTime": "2026-11-30T17:00:00Z", "cronJobName": "month-end"}},
    {**schedule_obj("second-tuesday", schedule={
        "monthly": {"weekday": "TUE", "occurrence": "Second", "at": "07:30"}}, suspend=True),
     "status": {"conditions": ready("False")}},
    schedule_obj("fresh", schedule={"cron": "H 6 * * *"}),
]


@pytest.mark.parametrize(("name", "namespace", "wide"), [
    ("status", False, False), ("status-all-namespaces", True, False), ("status-wide", False, True),
])
def test_status_table(name: str, namespace: bool, wide: bool) -> None:
    check(name, status_table(SCHEDULES, NOW, namespace=namespace, wide=wide))


@pytest.mark.parametrize(("schedule", "text"), [
    ({"cron": "0 9 * * MON"}, "0 9 * * MON"),
    ({"daily": {"at": "07:30"}, "weekdaysOnly": True}, "daily 07:30 weekdays"),
    ({"monthly": {"day": 31, "at": "06:00"}}, "monthly 31 06:00"),
    ({}, "<none>"),
])
def test_schedule_text(schedule: dict[str, Any], text: str) -> None:
    assert schedule_text(schedule) == text


def last_sunday_of_march(year: int) -> date:
    day = date(year, 3, 31)
    return day - timedelta(days=(day.weekday() + 1) % 7)


def test_next_runs_mark_both_dst_changes_and_skip_dates() -> None:
    obj = schedule_obj("daily", schedule={"daily": {"at": "02:30"}, "timeZone": "Europe/Berlin",
                                          "skipDates": ["2027-03-27"]})
    after = datetime(2027, 3, 25, 12, 0, tzinfo=UTC)
    runs = upcoming(rule_for(obj, after), after, 4)
    check("next-spring", next_table(runs, after))
    # 2027-03-28 is the last Sunday of March: 02:30 does not exist and runs at 03:30 CEST.
    assert last_sunday_of_march(2027) == date(2027, 3, 28)
    assert [r.utc for r in runs] == [datetime(2027, 3, 26, 1, 30, tzinfo=UTC),
                                     datetime(2027, 3, 28, 1, 30, tzinfo=UTC),
                                     datetime(2027, 3, 29, 0, 30, tzinfo=UTC),
                                     datetime(2027, 3, 30, 0, 30, tzinfo=UTC)]
    assert [r.shift is not None for r in runs] == [False, True, False, False]
    autumn = datetime(2027, 10, 29, 12, 0, tzinfo=UTC)
    check("next-autumn", next_table(upcoming(rule_for(obj, autumn), autumn, 3), autumn))


def test_next_records_and_the_first_row_compares_with_the_reference_time() -> None:
    obj = schedule_obj("weekly", schedule={"weekly": {"days": ["MON"], "at": "09:00"},
                                           "timeZone": "America/New_York"})
    after = datetime(2027, 3, 10, 12, 0, tzinfo=UTC)  # EST; DST starts 2027-03-14
    [first, second] = next_records(upcoming(rule_for(obj, after), after, 2))
    assert first == {"time": "2027-03-15T13:00:00Z", "localTime": "2027-03-15T09:00:00-04:00",
                     "utcOffset": "-04:00", "offsetChanged": True}
    assert (second["time"], second["offsetChanged"]) == ("2027-03-22T13:00:00Z", False)


def test_next_names_a_bad_schedule() -> None:
    obj = schedule_obj("bad", schedule={"daily": {"at": "09:00"}, "timeZone": "Mars/Olympus"})
    with pytest.raises(ScheduleError, match=r"spec\.schedule\.timeZone"):
        rule_for(obj, NOW)
    with pytest.raises(ScheduleError, match=r"spec\.schedule"):
        rule_for(schedule_obj("bad", schedule={"daily": {"at": "25:00"}}), NOW)
