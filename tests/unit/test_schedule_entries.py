"""spec.schedules: validation, the compiled entries, their CronJobs, and the entry a run follows."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from bulletin.api import podenv
from bulletin.api.errors import describe
from bulletin.api.spec import ReportScheduleSpec
from bulletin.context import RunContext
from bulletin.plugin.nextruns import next_records, next_table, rule_for, upcoming
from bulletin.plugin.overview import schedules_text, zones_text
from bulletin.run import narrow
from bulletin.schedule import ScheduleError
from bulletin.timing import compile_timing
from bulletin_operator import builders, owned
from pydantic import ValidationError
from support import report_schedule

NOW = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)  # a Monday
EMEA = {"name": "emea", "daily": {"at": "09:00"}, "timeZone": "Europe/Berlin"}
AMER = {"name": "amer", "weekly": {"days": ["MON"], "at": "09:00"},
        "timeZone": "America/New_York"}


def _spec(**fields: Any) -> dict[str, Any]:
    spec = report_schedule("x", **fields)["spec"]
    return {k: v for k, v in spec.items() if v is not None}


def _model(*entries: dict[str, Any]) -> ReportScheduleSpec:
    return ReportScheduleSpec.model_validate(_spec(schedule=None, schedules=list(entries)))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"schedules": [EMEA]}, "spec.schedule and spec.schedules: set exactly one of them"),
        ({"schedule": None}, "spec.schedule and spec.schedules: set exactly one of them"),
        ({"schedule": None, "schedules": [EMEA, {**AMER, "name": "emea"}]},
         "spec.schedules: entry names must be unique (found emea, emea)"),
        ({"schedule": None, "schedules": []}, "spec.schedules: List should have at least 1"),
        ({"schedule": None, "schedules": [{**EMEA, "name": "EMEA"}]},
         "spec.schedules.0.name: String should match pattern"),
        ({"schedule": None, "schedules": [{"daily": {"at": "09:00"}}]},
         "spec.schedules.0.name: Field required"),
        ({"schedule": None, "schedules": [EMEA, {**AMER, "cron": "0 9 * * *"}]},
         "spec.schedules.1: set exactly one of cron, daily, weekly or monthly"
         " (found cron, weekly)"),
    ],
)
def test_invalid_schedules_name_the_field(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as exc:
        ReportScheduleSpec.model_validate(_spec(**fields))
    assert message in describe(exc.value)


def test_a_single_schedule_keeps_its_message() -> None:
    with pytest.raises(ValidationError) as exc:
        ReportScheduleSpec.model_validate(_spec(schedule={"cron": "0 9 * * *",
                                                          "daily": {"at": "09:00"}}))
    assert describe(exc.value) == ("spec.schedule: set exactly one of cron, daily, weekly or"
                                   " monthly (found cron, daily)")


def test_an_entry_that_cannot_run_is_named_by_its_index() -> None:
    with pytest.raises(ScheduleError, match=r"^spec.schedules\[1\].timeZone: unknown"):
        compile_timing(_model(EMEA, {**AMER, "timeZone": "Mars/Base"}), "ns/x", NOW)


def test_each_entry_compiles_in_its_own_zone_and_the_earliest_is_next() -> None:
    timing = compile_timing(_model(EMEA, AMER), "ns/x", NOW)
    assert timing.crons() == {"emea": "0 9 * * *", "amer": "0 9 * * 1"}
    assert timing.cronjob == "emea: 0 9 * * * (Europe/Berlin); amer: 0 9 * * 1 (America/New_York)"
    assert timing.next_run(NOW) == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # 09:00 CET
    after_emea = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    assert timing.next_run(after_emea) == datetime(2026, 11, 23, 14, 0, tzinfo=UTC)  # 09:00 EST


def test_dst_and_stagger_apply_to_each_entry() -> None:
    gap = {"name": "early", "daily": {"at": "02:30"}, "timeZone": "Europe/Berlin"}
    late = {"name": "late", "daily": {"at": "09:00"}, "timeZone": "UTC", "staggerMinutes": 30}
    timing = compile_timing(_model(gap, late), "ns/x", NOW)
    single = compile_timing(ReportScheduleSpec.model_validate(
        _spec(schedule={k: v for k, v in late.items() if k != "name"})), "ns/x", NOW)
    crons = timing.crons()
    assert isinstance(crons, dict)
    assert crons["early"] == "30 2,3 * * *"  # also fires in the hour after the spring gap
    assert crons["late"] == single.entries[0].rule.cronjob != "0 9 * * *"
    spring = datetime(2027, 3, 28, 0, 0, tzinfo=UTC)  # Berlin skips 02:00-03:00 that night
    assert timing.entries[0].rule.next_run(spring) == datetime(2027, 3, 28, 1, 30, tzinfo=UTC)


def test_one_cronjob_per_entry_and_only_the_single_one_without_entries() -> None:
    owner = builders.Owner(name="r" * 40, namespace="ns", uid="u")
    model = _model(EMEA, {**AMER, "name": "a" * 30})
    names = owned.cronjob_names(owner, model)
    assert names[0] == "r" * 40 + "-emea"
    assert len(names[1]) <= builders.CRONJOB_NAME_MAX and names[1] != names[0]
    single = ReportScheduleSpec.model_validate(_spec())
    assert owned.cronjob_names(owner, single) == [builders.cronjob_name(owner)]
    objs = owned.owned_objects(owner, model, builders.RunnerSettings(),
                               {"emea": "0 9 * * *", "a" * 30: "0 9 * * 1"})
    assert [o["metadata"]["name"] for o in objs if o["kind"] == "CronJob"] == names
    assert [o["spec"]["timeZone"] for o in objs if o["kind"] == "CronJob"] == [
        "Europe/Berlin", "America/New_York"]


def _ctx(entry: str | None) -> RunContext:
    env = {podenv.NAMESPACE: "ns", podenv.SCHEDULE: "x", podenv.RUN_ID: "x-amer-29400000"}
    if entry is not None:
        env[podenv.SCHEDULE_ENTRY] = entry
    ctx = RunContext.from_env(env)
    assert ctx.workdir == Path("/tmp")
    return ctx


def test_a_run_follows_the_entry_that_started_it() -> None:
    model = _model(EMEA, AMER)
    amer = narrow(_ctx("amer"), model)
    assert amer is not None and amer.schedule.time_zone == "America/New_York"
    assert amer.period_kind().value == "PreviousWeek"
    first = narrow(_ctx(None), model)  # run-now: the first entry
    assert first is not None and first.schedule.name == "emea"  # type: ignore[attr-defined]
    assert first.period_kind().value == "PreviousDay"
    assert narrow(_ctx("gone"), model) is None


def test_next_merges_the_entries_in_time_order() -> None:
    obj = report_schedule("x", schedule=None, schedules=[EMEA, AMER])
    obj["metadata"]["namespace"] = "ns"
    runs = upcoming(rule_for(obj, NOW), NOW, 3)
    assert [(r.entry, r.utc) for r in runs] == [
        ("emea", datetime(2026, 11, 23, 8, 0, tzinfo=UTC)),
        ("amer", datetime(2026, 11, 23, 14, 0, tzinfo=UTC)),
        ("emea", datetime(2026, 11, 24, 8, 0, tzinfo=UTC))]
    lines = next_table(runs, NOW).splitlines()
    assert lines[0].split()[:2] == ["ENTRY", "LOCAL"]
    assert lines[2].startswith("amer") and "09:00 EST" in lines[2]
    assert [r.get("entry") for r in next_records(runs)] == ["emea", "amer", "emea"]
    bad = report_schedule("x", schedule=None, schedules=[EMEA, {**AMER, "timeZone": "Mars/X"}])
    bad["metadata"]["namespace"] = "ns"
    with pytest.raises(ScheduleError, match=r"^spec.schedules\[1\].timeZone"):
        rule_for(bad, NOW)


def test_status_shows_every_entry() -> None:
    spec = _spec(schedule=None, schedules=[EMEA, AMER, {**AMER, "name": "apac"}])
    assert schedules_text(spec) == ("emea: daily 09:00; amer: weekly MON 09:00;"
                                    " apac: weekly MON 09:00")
    assert zones_text(spec) == "Europe/Berlin,America/New_York"
    assert zones_text(_spec()) == "Europe/Berlin"


def test_status_names_the_zones_for_the_timezone_column() -> None:
    assert compile_timing(ReportScheduleSpec.model_validate(_spec()), "ns/x", NOW
                          ).time_zone == "Europe/Berlin"
    timing = compile_timing(_model(EMEA, AMER, {**AMER, "name": "apac"}), "ns/x", NOW)
    assert timing.time_zone == "Europe/Berlin,America/New_York"
    many = [{**EMEA, "name": f"e{n}", "timeZone": zone} for n, zone in enumerate(
        ["Europe/Berlin", "Asia/Tokyo", "UTC", "America/Chicago"])]
    assert compile_timing(_model(*many), "ns/x", NOW).time_zone == "several (4)"
