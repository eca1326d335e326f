"""ReportSchedule spec: the single source of truth for the CRD schema (crds/ is generated)."""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field, model_validator

from bulletin.api.base import DNS_LABEL, ApiModel
from bulletin.api.datasetrefs import CEL_RULES as DATASET_REFERENCES
from bulletin.api.datasetrefs import dangling
from bulletin.api.delivery import Delivery, SecretKeyRef
from bulletin.api.policy import Gates, Notifications
from bulletin.api.prometheus import STEP_DESCRIPTION, PrometheusSource, Step
from bulletin.api.protection import PROTECTION_RULES, Protection, protection_error
from bulletin.api.report import Format, Report
from bulletin.api.runnerpod import ScheduleRunnerPod
from bulletin.api.schedule import (
    CatchUp,
    ConcurrencyPolicy,
    PeriodConfig,
    PeriodKind,
    Schedule,
    ScheduleEntry,
)

GROUP = "bulletin.dev"
VERSION = "v1alpha1"
KIND = "ReportSchedule"
PLURAL = "reportschedules"
ONE_SCHEDULE = "spec.schedule and spec.schedules: set exactly one of them"
UNIQUE_ENTRIES = "spec.schedules: entry names must be unique"
BURST_DATASET = ("spec.delivery.burst.dataset: name one of spec.datasets, and keep at least"
                 " one other dataset for the reports")


class Source(ApiModel):
    """Where the data comes from: a database (datasets with `query`), Prometheus (datasets with
    `promql`), or both."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [
        {"rule": "has(self.connectionSecretRef) || has(self.prometheus)",
         "message": "spec.source: set connectionSecretRef (a database), prometheus, or both"}]})

    connection_secret_ref: Annotated[
        SecretKeyRef | None,
        Field(
            description="Secret key holding an SQLAlchemy database URL, e.g."
            " postgresql://user:pass@host:5432/db, or mysql://user:pass@host:3306/db for MySQL"
            " and MariaDB. The value is never logged or shown in status.",
        ),
    ] = None
    prometheus: Annotated[
        PrometheusSource | None,
        Field(description="A Prometheus HTTP API that datasets with `promql` query."),
    ] = None
    statement_timeout_seconds: Annotated[
        int,
        Field(ge=1, le=86400,
              description="Longest a query may run; the database cancels it then and the run"
              " fails (default 300). Queries always run read-only."),
    ] = 300
    connect_timeout_seconds: Annotated[
        int,
        Field(ge=2, le=300, description="Longest to wait for the database connection"
              " (default 10)."),
    ] = 10

    @model_validator(mode="after")
    def _one_source(self) -> Source:
        if self.connection_secret_ref is None and self.prometheus is None:
            raise ValueError("spec.source: set connectionSecretRef (a database), prometheus,"
                             " or both")
        return self


class Dataset(ApiModel):
    """A named SQL query, or a PromQL query over the period. SQL has the bound parameters
    :period_start and :period_end (timestamps with time zone) and :previous_start and
    :previous_end; PromQL rows are time, one column per label, and value."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [
        {"rule": "has(self.query) != has(self.promql)",
         "message": "spec.datasets[]: set exactly one of query (SQL) or promql"},
        {"rule": "!has(self.step) || has(self.promql)",
         "message": "spec.datasets[]: step applies to promql datasets only"}]})

    name: Annotated[
        str,
        Field(pattern=DNS_LABEL, max_length=63, description="Dataset name, used for file names."),
    ]
    query: Annotated[
        str | None,
        Field(min_length=1, max_length=65536,
              description="SQL SELECT with bound parameters; needs"
              " spec.source.connectionSecretRef."),
    ] = None
    promql: Annotated[
        str | None,
        Field(min_length=1, max_length=65536,
              description="PromQL expression, run as a range query over the report period"
              " (the previous period for the summary dataset's comparison); needs"
              " spec.source.prometheus. Rows: time, one column per label, value."),
    ] = None
    step: Annotated[Step | None, Field(description=STEP_DESCRIPTION)] = None

    @model_validator(mode="after")
    def _one_query(self) -> Dataset:
        if (self.query is None) == (self.promql is None):
            raise ValueError("spec.datasets[]: set exactly one of query (SQL) or promql")
        if self.step is not None and self.promql is None:
            raise ValueError("spec.datasets[]: step applies to promql datasets only")
        return self


class ReportScheduleSpec(ApiModel):
    """Desired state of a ReportSchedule."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self.datasets.all(d, self.datasets.exists_one(e, e.name == d.name))",
                    "message": "spec.datasets: dataset names must be unique",
                },
                {"rule": "has(self.schedule) != has(self.schedules)", "message": ONE_SCHEDULE},
                {
                    "rule": "!has(self.schedules)"
                    " || self.schedules.all(s, self.schedules.exists_one(t, t.name == s.name))",
                    "message": UNIQUE_ENTRIES,
                },
                {
                    "rule": "!has(self.delivery.burst) || (size(self.datasets) > 1"
                    " && self.datasets.exists(d, d.name == self.delivery.burst.dataset))",
                    "message": BURST_DATASET,
                },
                *DATASET_REFERENCES,
                *PROTECTION_RULES,
                {
                    "rule": "has(self.source.prometheus)"
                    " || self.datasets.all(d, !has(d.promql))",
                    "message": "spec.datasets: a promql dataset needs spec.source.prometheus",
                },
                {
                    "rule": "has(self.source.connectionSecretRef)"
                    " || self.datasets.all(d, !has(d.query))",
                    "message": "spec.datasets: a query (SQL) dataset needs"
                    " spec.source.connectionSecretRef",
                },
                {
                    "rule": "has(self.source.connectionSecretRef) || !has(self.gates)"
                    " || !has(self.gates.assertions) || size(self.gates.assertions) == 0",
                    "message": "spec.gates.assertions are SQL: they need"
                    " spec.source.connectionSecretRef",
                },
                {
                    "rule": "!has(self.notifications) || !has(self.notifications.onFailure)"
                    " || !has(self.notifications.onFailure.email)"
                    " || size(self.notifications.onFailure.email) == 0 || has(self.delivery.email)",
                    "message": "spec.notifications.onFailure.email sends through the SMTP Secret"
                    " of spec.delivery.email: set spec.delivery.email too",
                },
            ]
        }
    )

    single: Annotated[
        Schedule | None,
        Field(alias="schedule",
              description="When the report runs. Set this or schedules, not both."),
    ] = None
    schedules: Annotated[
        list[ScheduleEntry] | None,
        Field(min_length=1, max_length=10,
              description="Several schedules, each with a name and its own time zone, instead"
              " of schedule: the report runs at the times of every entry, each entry from its"
              " own CronJob. Runs record the entry that started them."),
    ] = None
    suspend: Annotated[
        bool, Field(description="Pause scheduled runs; run-now requests still work.")
    ] = False
    concurrency_policy: Annotated[
        ConcurrencyPolicy,
        Field(description="Forbid (default), Allow or Replace overlapping runs."),
    ] = ConcurrencyPolicy.FORBID
    catch_up: Annotated[
        CatchUp,
        Field(description="After downtime, Latest (default) runs the most recent missed run"
              " once; All runs every missed run once, oldest first, each for its own period"
              " (up to maxCatchUp); None runs nothing missed. Never fails for many missed runs."),
    ] = CatchUp.LATEST
    max_catch_up: Annotated[
        int,
        Field(ge=1, le=100,
              description="With catchUp All: the most missed runs to catch up before the current"
              " one (default 10). Older missed runs are left out, with a CatchUpLimited Event"
              " naming them; backfill them with `kubectl bulletin run --period`."),
    ] = 10
    starting_deadline_seconds: Annotated[
        int | None,
        Field(ge=10, le=2678400,
              description="How late a run may still start. Default: 300 with catchUp None,"
              " 86400 with catchUp Latest."),
    ] = None
    period: Annotated[
        PeriodConfig | None, Field(description="Reporting period; default follows the schedule.")
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
    protection: Annotated[
        Protection | None, Field(description="Password-protect every report file.")
    ] = None
    report: Annotated[
        Report, Field(description="How the report looks; the built-in template by default.")
    ] = Report()
    delivery: Annotated[Delivery, Field(description="Delivery targets.")]
    gates: Annotated[
        Gates, Field(description="When to skip delivery: empty data, too few rows, assertions.")
    ] = Gates()
    notifications: Annotated[
        Notifications, Field(description="Failure notifications and pausing after failures.")
    ] = Notifications()
    runner: Annotated[
        ScheduleRunnerPod | None,
        Field(description="Placement and size of the runner pods (resources, nodeSelector,"
              " tolerations, affinity, priority, pull secrets, extra labels and annotations)."),
    ] = None
    history_limit: Annotated[
        int,
        Field(ge=1, le=100, description="How many past runs status.history keeps (default 10)."),
    ] = 10

    @model_validator(mode="after")
    def _one_schedule(self) -> ReportScheduleSpec:
        if (self.single is None) == (self.schedules is None):
            raise ValueError(ONE_SCHEDULE)
        names = [e.name for e in self.schedules or []]
        if len(set(names)) != len(names):
            raise ValueError(f"{UNIQUE_ENTRIES} (found {', '.join(names)})")
        return self

    @property
    def schedule(self) -> Schedule:
        """The schedule a run follows: spec.schedule, or the first of spec.schedules (a run
        started by an entry's CronJob narrows the spec to that entry, see for_entry)."""
        if self.single is not None:
            return self.single
        assert self.schedules, "validation guarantees schedule or schedules"
        return self.schedules[0]

    def for_entry(self, name: str) -> ReportScheduleSpec | None:
        """The spec as the entry ``name`` of spec.schedules runs it (its schedule first), or
        None when there is no such entry."""
        entry = next((e for e in self.schedules or [] if e.name == name), None)
        if entry is None:
            return None
        return self.model_copy(update={"schedules": [entry, *(
            e for e in self.schedules or [] if e is not entry)]})

    @model_validator(mode="after")
    def _dataset_references(self) -> ReportScheduleSpec:
        burst = self.delivery.burst
        if burst is not None and (len(self.datasets) < 2 or burst.dataset not in
                                  [d.name for d in self.datasets]):
            raise ValueError(BURST_DATASET)
        burst_column = burst.password_column if burst is not None else None
        if why := dangling(self) or protection_error(self.protection, burst_column,
                                                     list(self.formats)):
            raise ValueError(why)
        return self

    @model_validator(mode="after")
    def _sources_for_datasets(self) -> ReportScheduleSpec:
        if self.source.prometheus is None and any(d.promql for d in self.datasets):
            raise ValueError("spec.datasets: a promql dataset needs spec.source.prometheus")
        if self.source.connection_secret_ref is None and any(d.query for d in self.datasets):
            raise ValueError("spec.datasets: a query (SQL) dataset needs"
                             " spec.source.connectionSecretRef")
        if self.source.connection_secret_ref is None and self.gates.assertions:
            raise ValueError("spec.gates.assertions are SQL: they need"
                             " spec.source.connectionSecretRef")
        return self

    def period_kind(self) -> PeriodKind:
        """The configured period, or the one the schedule implies."""
        if self.period is not None:
            return self.period.kind
        if self.schedule.weekly is not None:
            return PeriodKind.PREVIOUS_WEEK
        if self.schedule.monthly is not None:
            return PeriodKind.PREVIOUS_MONTH
        return PeriodKind.PREVIOUS_DAY
