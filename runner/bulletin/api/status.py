"""ReportSchedule status: conditions (Kubernetes API conventions) and the run history."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import Field, PrivateAttr, ValidationError
from pydantic_core import ErrorDetails

from bulletin.api.base import ApiModel, Timestamp
from bulletin.api.errors import Reason


class RunResult(StrEnum):
    """Outcome of one run."""

    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    SKIPPED = "Skipped"
    PARTIALLY_DELIVERED = "PartiallyDelivered"


class Trigger(StrEnum):
    """What started a run."""

    SCHEDULED = "Scheduled"
    MANUAL = "Manual"
    CATCH_UP = "CatchUp"


class Condition(ApiModel):
    """A condition, as in metav1.Condition."""

    type: Annotated[str, Field(max_length=316, description="Condition type, e.g. Ready.")]
    status: Annotated[str, Field(description='"True", "False" or "Unknown".')]
    reason: Annotated[str, Field(max_length=1024, description="CamelCase machine-readable reason.")]
    message: Annotated[str, Field(max_length=32768, description="Human-readable details.")] = ""
    last_transition_time: Annotated[
        Timestamp, Field(description="When status last changed.")
    ]
    observed_generation: Annotated[
        int | None, Field(description="The .metadata.generation this condition was set for.")
    ] = None


BURST_FAILURES_SHOWN = 10


class ShardProgress(ApiModel):
    """One shard's recipients by outcome (sent counts every try of the shard)."""

    index: Annotated[int, Field(ge=0, description="The shard: its Job completion index.")]
    recipients: Annotated[int, Field(description="Recipients of this shard.")] = 0
    sent: Annotated[int, Field(description="Recipients Sent, as the shard's ledger holds.")] = 0
    failed: Annotated[int, Field(description="Recipients that failed in its last try.")] = 0
    skipped: Annotated[int, Field(description="Recipients the data gates skipped.")] = 0
    done: Annotated[bool, Field(description="The shard has tried every recipient.")] = False


class BurstProgress(ApiModel):
    """A burst's recipients by outcome (counts, not lists: a burst may have 100,000)."""

    recipients: Annotated[int, Field(description="Recipients the burst dataset returned.")] = 0
    sent: Annotated[int, Field(description="Recipients whose report was Sent.")] = 0
    failed: Annotated[int, Field(description="Recipients whose report could not be sent.")] = 0
    skipped: Annotated[
        int, Field(description="Recipients whose report the data gates skipped (e.g. empty,"
                   " with gates.skipIfEmpty).")
    ] = 0
    failures: Annotated[
        list[str],
        Field(max_length=BURST_FAILURES_SHOWN,
              description=f"The first {BURST_FAILURES_SHOWN} failures, as address: error."),
    ] = []
    sent_keys: Annotated[
        list[str],
        Field(description="Runs before sharding only: a short hash of every recipient Sent."
              " A sharded run keeps its ledger in a ConfigMap per shard, owned by its Job."),
    ] = []
    shard_count: Annotated[
        int, Field(description="Shards of the run (its Indexed Job's completions).")
    ] = 0
    shards: Annotated[
        list[ShardProgress],
        Field(max_length=100, description="Each shard's progress; the counts above are their"
              " sums."),
    ] = []


class DeliveryRecord(ApiModel):
    """What happened to one delivery target in a run, updated as it happens."""

    target: Annotated[
        str,
        Field(description='Target: "email", "webhook/<name>", "slack", "teams" or "archive".'),
    ]
    state: Annotated[
        str,
        Field(description="Pending (not yet sent, or being retried), Sent or Failed. A retried"
              " run sends only to targets not yet Sent."),
    ]
    recipients: Annotated[
        list[str],
        Field(description="Email addresses the SMTP server accepted (email target)."),
    ] = []
    attempts: Annotated[
        int, Field(description="Send attempts made, over all tries of the run.")
    ] = 0
    last_attempt_time: Annotated[
        Timestamp | None, Field(description="When the last attempt started.")
    ] = None
    link: Annotated[
        bool,
        Field(description="The message carried presigned links to the report instead of the"
              " files (too large, or a chat target)."),
    ] = False
    object_keys: Annotated[
        list[str],
        Field(description="Object keys in storage: the archived files (target archive) or the"
              " files a link points to."),
    ] = []
    error: Annotated[str | None, Field(description="Last error, if any.")] = None
    burst: Annotated[
        BurstProgress | None,
        Field(description="With delivery.burst (email target): recipients by outcome."),
    ] = None


class RunRecord(ApiModel):
    """One run of the report."""

    run_id: Annotated[str, Field(description="Run id: the name of the Job that ran it.")]
    trigger: Annotated[
        Trigger,
        Field(description="Scheduled, Manual (run now) or CatchUp: a missed run that catchUp:"
              " All ran, or a scheduled run that started more than five minutes late."),
    ]
    scheduled_time: Annotated[
        Timestamp | None, Field(description="When the run was due, for scheduled runs.")
    ] = None
    schedule_entry: Annotated[
        str | None,
        Field(description="The spec.schedules entry whose CronJob started the run (unset with"
              " spec.schedule, and for run-now runs, which follow the first entry)."),
    ] = None
    start_time: Annotated[Timestamp, Field(description="When the run started.")]
    end_time: Annotated[Timestamp | None, Field(description="When the run ended.")] = None
    period_start: Annotated[
        Timestamp | None, Field(description="Start of the reported period (inclusive).")
    ] = None
    period_end: Annotated[
        Timestamp | None, Field(description="End of the reported period (exclusive).")
    ] = None
    result: Annotated[
        RunResult | None,
        Field(description="Succeeded, Failed, Skipped or PartiallyDelivered; unset while the"
              " run is in progress."),
    ] = None
    rows: Annotated[int, Field(description="Data rows in the report.")] = 0
    bytes: Annotated[int, Field(description="Total size of the report files.")] = 0
    recipients: Annotated[
        list[str],
        Field(description="Who received the report (a burst counts its recipients in"
              " deliveries[].burst instead)."),
    ] = []
    deliveries: Annotated[
        list[DeliveryRecord], Field(description="Per-target delivery results.")
    ] = []
    message: Annotated[
        str | None, Field(max_length=4096, description="Error or skip reason, if any.")
    ] = None
    reason: Annotated[
        Reason | None,
        Field(description="Why a failed or partly delivered run failed, as a CamelCase"
              " reason (SpecInvalid, QueryFailed, DeliveryFailed, ...); each has a hint in"
              " the failure notice and the console."),
    ] = None


class StatusView(ApiModel):
    """A model of a ReportSchedule's status (or of the part a reader needs), read from the
    object the API returns: the one place that takes status out of its wire form."""

    _unread: frozenset[str] = PrivateAttr(default=frozenset())

    @classmethod
    def of(cls, obj: Mapping[str, Any], only: Collection[str] = ()) -> Self:
        """The status of a ReportSchedule object as the API returns it (wire form)."""
        return cls.parse(obj.get("status"), only)

    @classmethod
    def parse(cls, raw: object, only: Collection[str] = ()) -> Self:
        """Status from its wire form; with ``only`` (field names), just those (a hot path's read).
        What does not fit the model is left out (a field, or an item of a list), not fatal:
        other versions write status too, and a reader must still see the rest."""
        data: dict[str, Any] = dict(raw) if isinstance(raw, Mapping) else {}
        if only:
            wanted = {cls.model_fields[name].alias for name in only}
            data = {k: v for k, v in data.items() if k in wanted}
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            errors = exc.errors()
        status = cls._pruned(data, errors)
        status._unread = frozenset(n for n, f in cls.model_fields.items()
                                   if any(e["loc"][0] == f.alias for e in errors))
        return status

    @classmethod
    def _pruned(cls, data: dict[str, Any], errors: list[ErrorDetails]) -> Self:
        """``data`` without what ``errors`` name: a field, or one item of a list."""
        keys, items = set[str](), dict[str, set[int]]()
        for error in errors:
            key, rest = str(error["loc"][0]), error["loc"][1:]
            if rest and isinstance(rest[0], int):
                items.setdefault(key, set()).add(rest[0])
            else:
                keys.add(key)
        data = {k: [v for i, v in enumerate(value) if i not in items[k]] if k in items else value
                for k, value in data.items() if k not in keys}
        try:
            return cls.model_validate(data)
        except ValidationError:
            return cls()


class ReportScheduleStatus(StatusView):
    """Observed state of a ReportSchedule."""

    observed_generation: Annotated[
        int | None, Field(description="The .metadata.generation the operator last acted on.")
    ] = None
    conditions: Annotated[list[Condition], Field(
        description="Ready, Stalled; see kubectl describe for messages.")] = []
    schedule: Annotated[
        str | None,
        Field(description="The cron expression the CronJob runs on; with spec.schedules, each"
              ' entry\'s as "name: cron (time zone)", separated by "; ".'),
    ] = None
    time_zone: Annotated[
        str | None,
        Field(description="The schedule's time zone; with spec.schedules, the entries' zones"
              ' (each once) separated by ",", or "several (N)" for more than three.'),
    ] = None
    cron_job_name: Annotated[
        str | None,
        Field(description="The owned CronJob; with spec.schedules, one per entry,"
              ' separated by ", ".'),
    ] = None
    next_run_time: Annotated[
        Timestamp | None, Field(description="When the next scheduled run is due.")
    ] = None
    last_run_request: Annotated[str | None, Field(
        description="The last run-now token (bulletin.dev/run-requested-at) handled.")] = None
    last_link_request: Annotated[str | None, Field(
        description="The last link audit request (bulletin.dev/link-request) recorded.")] = None
    last_run: Annotated[RunRecord | None, Field(description="The most recent run.")] = None
    last_success_time: Annotated[
        Timestamp | None, Field(description="When the last successful run ended.")
    ] = None
    consecutive_failures: Annotated[
        int, Field(description="Failed runs since the last success.")
    ] = 0
    history: Annotated[
        list[RunRecord], Field(description="Recent runs, newest first, bounded by historyLimit.")
    ] = []

    @property
    def unread(self) -> frozenset[str]:
        """Fields whose wire value (or one of its items) did not parse: a writer leaves them."""
        return self._unread

    def changes(self, after: Self) -> dict[str, Any]:
        """The fields ``after`` changed (or set anew) in wire form, None for unset: a patch."""
        fields = type(self).model_fields
        new = after.model_fields_set - self.model_fields_set
        names = {n for n in fields if getattr(self, n) != getattr(after, n)
                 or (n in new and getattr(after, n) is not None)}
        wire = after.model_dump(by_alias=True, exclude_none=True, mode="json", include=names)
        return {str(fields[n].alias): wire.get(str(fields[n].alias)) for n in fields if n in names}

    def condition(self, type_: str) -> Condition | None:
        """The condition ``type_``, or None when status has none."""
        return next((c for c in self.conditions if c.type == type_), None)

    def condition_status(self, type_: str) -> str | None:
        """The status ("True", "False", "Unknown") of condition ``type_``, None when absent."""
        return cond.status if (cond := self.condition(type_)) is not None else None

    def runs(self) -> list[RunRecord]:
        """lastRun, then history (newest first)."""
        return [*([self.last_run] if self.last_run is not None else []), *self.history]

    def run(self, run_id: str) -> RunRecord | None:
        """Run ``run_id``'s entry in history, or None when history has none."""
        return next((h for h in self.history if h.run_id == run_id), None)
