"""Names of the objects a schedule owns that both the operator and the plugin must know."""

from __future__ import annotations

import hashlib
import re

JOB_NAME_MAX = 63


def short_name(base: str, limit: int, suffix: str = "") -> str:
    """``base + suffix`` cut to ``limit`` characters, kept unique by a hash when cut."""
    name = base + suffix
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(base.encode()).hexdigest()[:8]
    return f"{base[: limit - len(suffix) - 9].rstrip('-')}-{digest}{suffix}"


def run_now_job_name(schedule: str, token: str) -> str:
    """The Job (and run id) of a run-now request: the same token always names the same Job."""
    digest = hashlib.sha256(token.encode()).hexdigest()[:8]
    return short_name(schedule, JOB_NAME_MAX, f"-now-{digest}")


_SCHEDULED_MINUTE = re.compile(r"-(\d{8,9})$")  # <cronjob>-<minutes since the epoch, to 3871>


def scheduled_minute(job_name: str) -> tuple[str, int] | None:
    """A CronJob's Job name split into the CronJob's name and the scheduled minute (minutes
    since the epoch, as the CronJob controller names its Jobs); None for any other name."""
    match = _SCHEDULED_MINUTE.search(job_name)
    return None if match is None else (job_name[:match.start()], int(match.group(1)))
