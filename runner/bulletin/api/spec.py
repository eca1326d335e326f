"""ReportSchedule spec: the single source of truth for the CRD schema (crds/ is generated)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field, model_validator

from bulletin.api.base import ApiModel
from bulletin.api.delivery import Delivery, SecretKeyRef
from bulletin.api.report import Format, Report

GROUP = "bulletin.dev"
VERSION = "v1alpha1"
KIND = "ReportSchedule"
PLURAL = "reportschedules"

HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
CRON = (
    r"^(@(yearly|annually|monthly|weekly|daily|hourly)"
    r"|([0-9A-Za-z*?/,#-]+\s+){4}[0-9A-Za-z*?/,#-]+)$"
)
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


class Weekday(StrEnum):
    """Day of the week, as in cron."""

    MON = "MON"
    TUE = "TUE"
    WED = "WED"
    THU = "THU"
    FRI = "FRI"
    SAT = "SAT"
    SUN = "SUN"


class ConcurrencyPolicy(StrEnum):
    """What to do when a run is due while the previous one still runs."""

    FORBID = "Forbid"
    ALLOW = "Allow"
    REPLACE = "Replace"


class PeriodKind(StrEnum):
    """Which span of time a run reports on."""

    PREVIOUS_DAY = "PreviousDay"
    PREVIOUS_WEEK = "PreviousWeek"
    PREVIOUS_MONTH = "PreviousMonth"


class Daily(ApiModel):
    """Run every day at a wall-clock time in the schedule's time zone."""

    at: Annotated[str, Field(pattern=HHMM, description='Time of day, "HH:MM" (24h), e.g. "09:00".')]


class Weekly(ApiModel):
    """Run on some weekdays at a wall-clock time."""

    days: Annotated[
        list[Weekday],
        Field(min_length=1, max_length=7, description="Weekdays to run on, e.g. [MON, THU]."),
    ]
    at: Annotated[str, Field(pattern=HHMM, description='Time of day, "HH:MM" (24h).')]


class Monthly(ApiModel):
    """Run once a month on a day of the month at a wall-clock time."""

    day: Annotated[
        int,
        Field(ge=1, le=28, description="Day of the month, 1-28."),
    ] = 1
    at: Annotated[str, Field(pattern=HHMM, description='Time of day, "HH:MM" (24h).')]


class Schedule(ApiModel):
    """When the report runs. Set exactly one of cron, daily, weekly or monthly."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "[has(self.cron), has(self.daily), has(self.weekly),"
                    " has(self.monthly)].filter(x, x).size() == 1",
                    "message": "spec.schedule: set exactly one of cron, daily, weekly or monthly",
                }
            ]
        }
    )

    cron: Annotated[
        str | None,
        Field(
            pattern=CRON,
            max_length=100,
            description='A 5-field cron expression, e.g. "0 9 * * MON", or a macro like @daily.',
        ),
    ] = None
    daily: Annotated[Daily | None, Field(description="Preset: every day at a time.")] = None
    weekly: Annotated[Weekly | None, Field(description="Preset: on weekdays at a time.")] = None
    monthly: Annotated[Monthly | None, Field(description="Preset: a day of the month.")] = None
    time_zone: Annotated[
        str,
        Field(
            min_length=1,
            max_length=64,
            description='IANA time zone of the schedule, e.g. "Europe/Berlin". Default UTC.',
        ),
    ] = "UTC"

    @model_validator(mode="after")
    def _exactly_one(self) -> Schedule:
        chosen = [n for n in ("cron", "daily", "weekly", "monthly") if getattr(self, n) is not None]
        if len(chosen) != 1:
            raise ValueError(
                "spec.schedule: set exactly one of cron, daily, weekly or monthly"
                f" (found {', '.join(chosen) or 'none'})"
            )
        return self


class Period(ApiModel):
    """The span of time each run reports on, computed in the schedule's time zone."""

    kind: Annotated[
        PeriodKind,
        Field(
            description="PreviousDay, PreviousWeek (ISO, Monday to Monday) or PreviousMonth."
            " Default follows the schedule: weekly presets use PreviousWeek, monthly PreviousMonth,"
            " everything else PreviousDay.",
        ),
    ]


class Source(ApiModel):
    """Where the data comes from."""

    connection_secret_ref: Annotated[
        SecretKeyRef,
        Field(
            description="Secret key holding an SQLAlchemy database URL, e.g."
            " postgresql://user:pass@host:5432/db. The value is never logged or shown in status.",
        ),
    ]


class Dataset(ApiModel):
    """A named SQL query. Bound parameters :period_start and :period_end (timestamps with time
    zone) and :previous_start and :previous_end are available."""

    name: Annotated[
        str,
        Field(pattern=DNS_LABEL, max_length=63, description="Dataset name, used for file names."),
    ]
    query: Annotated[
        str,
        Field(min_length=1, max_length=65536, description="SQL SELECT with bound parameters."),
    ]


class ReportScheduleSpec(ApiModel):
    """Desired state of a ReportSchedule."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self.datasets.all(d, self.datasets.exists_one(e, e.name == d.name))",
                    "message": "spec.datasets: dataset names must be unique",
                }
            ]
        }
    )

    schedule: Annotated[Schedule, Field(description="When the report runs.")]
    suspend: Annotated[
        bool, Field(description="Pause scheduled runs; run-now requests still work.")
    ] = False
    concurrency_policy: Annotated[
        ConcurrencyPolicy,
        Field(description="Forbid (default), Allow or Replace overlapping runs."),
    ] = ConcurrencyPolicy.FORBID
    starting_deadline_seconds: Annotated[
        int | None,
        Field(
            ge=10,
            le=86400,
            description="Skip a run that could not start within this many seconds of its time.",
        ),
    ] = None
    period: Annotated[
        Period | None, Field(description="Reporting period; default follows the schedule.")
    ] = None
    source: Annotated[Source, Field(description="Database connection.")]
    datasets: Annotated[
        list[Dataset],
        Field(min_length=1, max_length=20, description="Named queries; the first is the main one."),
    ]
    formats: Annotated[
        list[Format],
        Field(min_length=1, max_length=4, description="Output formats of the report."),
    ] = [Format.CSV]
    report: Annotated[
        Report, Field(description="How the report looks; the built-in template by default.")
    ] = Report()
    delivery: Annotated[Delivery, Field(description="Delivery targets.")]
    history_limit: Annotated[
        int,
        Field(ge=1, le=100, description="How many past runs status.history keeps (default 10)."),
    ] = 10

    def period_kind(self) -> PeriodKind:
        """The configured period, or the one the schedule implies."""
        if self.period is not None:
            return self.period.kind
        if self.schedule.weekly is not None:
            return PeriodKind.PREVIOUS_WEEK
        if self.schedule.monthly is not None:
            return PeriodKind.PREVIOUS_MONTH
        return PeriodKind.PREVIOUS_DAY
