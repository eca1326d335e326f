"""Everything a ReportSchedule owns: the runner's account and RBAC, and one CronJob for
spec.schedule or one per spec.schedules entry (a CronJob has one time zone)."""

from __future__ import annotations

from typing import Any

from bulletin.api import podenv
from bulletin.api.spec import GROUP, ReportScheduleSpec

from bulletin_operator.builders import (
    CRONJOB_NAME_MAX,
    Owner,
    RunnerSettings,
    cronjob,
    cronjob_name,
    role,
    role_binding,
    service_account,
    short_name,
    with_hash,
)

ENTRY_LABEL = f"{GROUP}/schedule-entry"


def entry_cronjob_name(owner: Owner, entry: str) -> str:
    """Name of the CronJob of the spec.schedules entry ``entry``."""
    return short_name(f"{owner.name}-{entry}", CRONJOB_NAME_MAX)


def cronjob_names(owner: Owner, spec: ReportScheduleSpec) -> list[str]:
    """Names of the CronJobs the spec wants, in spec order."""
    if spec.schedules is None:
        return [cronjob_name(owner)]
    return [entry_cronjob_name(owner, e.name) for e in spec.schedules]


def entry_cronjob(
    owner: Owner, spec: ReportScheduleSpec, s: RunnerSettings, schedule: str, entry: str
) -> dict[str, Any]:
    """The CronJob of one spec.schedules entry, firing on ``schedule`` in the entry's time
    zone; the entry's name is in its labels and in the runner's environment (runs record it)."""
    narrowed = spec.for_entry(entry)
    if narrowed is None:
        raise ValueError(f"spec.schedules has no entry {entry!r}")
    obj = cronjob(owner, narrowed, s, schedule)
    del obj["metadata"]["annotations"]  # stamped again below
    obj["metadata"]["name"] = entry_cronjob_name(owner, entry)
    job = obj["spec"]["jobTemplate"]
    for meta in (obj["metadata"], job["metadata"], job["spec"]["template"]["metadata"]):
        meta["labels"][ENTRY_LABEL] = entry
    container = job["spec"]["template"]["spec"]["containers"][0]
    container["env"].append({"name": podenv.SCHEDULE_ENTRY, "value": entry})
    return with_hash(obj)


def owned_objects(
    owner: Owner, spec: ReportScheduleSpec, s: RunnerSettings, schedule: str | dict[str, str]
) -> list[dict[str, Any]]:
    """Everything a ReportSchedule owns, in the order it must be applied. ``schedule``: the
    CronJob's cron, or with spec.schedules the cron of each entry by name."""
    if isinstance(schedule, str):
        cronjobs = [cronjob(owner, spec, s, schedule)]
    else:
        cronjobs = [entry_cronjob(owner, spec, s, cron, entry) for entry, cron in schedule.items()]
    return [service_account(owner), role(owner, spec), role_binding(owner), *cronjobs]
