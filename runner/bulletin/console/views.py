"""What the pages show, from ReportSchedule objects read through the API models (pure:
``now`` is given; nothing here talks to the cluster)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BeforeValidator, ValidationError

from bulletin.api.base import ApiModel, Timestamp
from bulletin.api.spec import ReportScheduleSpec
from bulletin.api.status import (
    ReportScheduleStatus,
    RunRecord,
    RunResult,
    StatusView,
)
from bulletin.console.stats import records
from bulletin.plugin.overview import schedules_text
from bulletin.plugin.tables import age, human_duration, until

STATES = ("Ready", "NotReady", "Suspended", "Paused", "Stalled")
CHART_RUNS = 12
PER_PAGE = 100
CHART_WIDTH, CHART_HEIGHT, BAR = 96, 24, 8


@dataclass(frozen=True)
class Bar:
    """One run in the small chart: a bar for its duration, a dot for its rows."""

    x: int
    y: int
    height: int
    dot_y: int
    css: str


class ChartRun(ApiModel):
    """What the small chart reads of a RunRecord (a listing of a thousand schedules reads
    no more than this of their histories)."""

    start_time: Timestamp
    end_time: Timestamp | None = None
    result: RunResult | None = None
    rows: int = 0

    @property
    def seconds(self) -> float:
        return (self.end_time - self.start_time).total_seconds() if self.end_time else 0.0


def _newest(entries: object) -> object:
    return entries[:CHART_RUNS] if isinstance(entries, list) else entries


class ChartHistory(StatusView):
    """The newest CHART_RUNS entries of status.history, as the small chart reads them."""

    history: Annotated[list[ChartRun], BeforeValidator(_newest)] = []


def chart_runs(obj: Mapping[str, Any]) -> list[ChartRun]:
    """The newest CHART_RUNS runs of status.history that parse, oldest first."""
    return ChartHistory.of(obj).history[::-1]


@dataclass(frozen=True)
class Row:
    """One schedule on the schedules page."""

    namespace: str
    name: str
    schedule: str
    state: str
    owner: str
    last_result: str
    last_run: str
    next_run: str
    chart: list[Bar]
    chart_label: str


def status_of(obj: Mapping[str, Any], history: bool = True) -> ReportScheduleStatus:
    """The object's status as the model (what does not parse left out); without ``history``
    only the fields a listing needs are read."""
    return ReportScheduleStatus.of(
        obj, () if history else ("conditions", "last_run", "next_run_time"))


def spec_of(obj: Mapping[str, Any]) -> ReportScheduleSpec | None:
    """The object's spec as the model, or None when it does not parse."""
    try:
        return ReportScheduleSpec.model_validate(obj.get("spec") or {})
    except ValidationError:
        return None


def state(obj: Mapping[str, Any], status: ReportScheduleStatus) -> str:
    """One word for where the schedule stands (one of STATES)."""
    return state_of(bool((obj.get("spec") or {}).get("suspend")), status.condition_status)


def state_of(suspended: bool, condition_status: Callable[[str], str | None]) -> str:
    """The state from spec.suspend and the status of each condition type (None: absent)."""
    if suspended:
        return "Suspended"
    for type_ in ("Stalled", "Paused"):
        if condition_status(type_) == "True":
            return type_
    return "Ready" if condition_status("Ready") == "True" else "NotReady"


def result_of(record: RunRecord | ChartRun | None) -> str:
    """A run's result, Running while it has not ended, or an em dash for no run."""
    if record is None:
        return "\u2014"
    return record.result.value if record.result else "Running"


def chart(runs: Sequence[ChartRun]) -> tuple[list[Bar], str]:
    """Bars of the durations and dots of the rows of ``runs`` (oldest first), each scaled to
    its largest, and a sentence saying the same for screen readers."""
    runs = list(runs)[-CHART_RUNS:]
    durations = [r.seconds for r in runs]
    top_d, top_r = max(durations, default=0.0) or 1.0, max((r.rows for r in runs), default=0) or 1
    bars = []
    for n, (run, took) in enumerate(zip(runs, durations, strict=True)):
        height = max(1, round(took / top_d * (CHART_HEIGHT - 2)))
        dot = CHART_HEIGHT - 1 - round(run.rows / top_r * (CHART_HEIGHT - 2))
        bars.append(Bar(x=n * BAR, y=CHART_HEIGHT - height, height=height, dot_y=dot,
                        css="bad" if run.result and run.result.value in
                        ("Failed", "PartiallyDelivered") else "good"))
    if not runs:
        return bars, "no runs yet"
    label = (f"last {len(runs)} runs: durations up to {human_duration(max(durations))},"
             f" rows up to {max(r.rows for r in runs)}")
    return bars, label


def row(obj: Mapping[str, Any], now: datetime, owner_label: str) -> Row:
    """The schedules page's row of ``obj``."""
    meta = obj["metadata"]
    status = status_of(obj, history=False)
    last = status.last_run
    bars, label = chart(chart_runs(obj))
    stamp = last.start_time.isoformat() if last else None
    due = status.next_run_time.isoformat() if status.next_run_time else None
    current = state(obj, status)
    return Row(namespace=meta.get("namespace", ""), name=meta["name"],
               schedule=schedules_text(obj.get("spec") or {}), state=current,
               owner=(meta.get("labels") or {}).get(owner_label, ""),
               last_result=result_of(last), last_run=age(stamp, now) if stamp else "\u2014",
               next_run=("\u2014" if current in ("Suspended", "Paused") or not due
                         else until(due, now)),
               chart=bars, chart_label=label)


@dataclass(frozen=True)
class Page:
    """One page of the schedules: its rows, how many match in all, and where it starts."""

    rows: list[Row]
    total: int
    first: int  # index of the first row shown, 0-based
    per_page: int

    @property
    def previous(self) -> int | None:
        """The 1-based number of the page before, if any."""
        return self.first // self.per_page if self.first else None

    @property
    def next(self) -> int | None:
        """The 1-based number of the page after, if any."""
        shown = self.first + len(self.rows)
        return shown // self.per_page + 1 if shown < self.total else None


def rows(objs: Sequence[Mapping[str, Any]], now: datetime, owner_label: str,
         wanted_state: str | None = None, page: int = 1, per_page: int = PER_PAGE) -> Page:
    """Page ``page`` of the schedules in the state asked for (all without one), by namespace
    and name: the state of every schedule is read, the rest only for the rows shown."""
    ordered = sorted(objs, key=lambda o: (o["metadata"].get("namespace", ""),
                                          o["metadata"]["name"]))
    if wanted_state:
        ordered = [o for o in ordered if state(o, conditions_only(o)) == wanted_state]
    first = first_shown(len(ordered), page, per_page)
    shown = [row(o, now, owner_label) for o in ordered[first:first + per_page]]
    return Page(shown, len(ordered), first, per_page)


def first_shown(total: int, page: int, per_page: int = PER_PAGE) -> int:
    """The index of the first row of page ``page`` (the last page when past the end)."""
    return min(max(page - 1, 0) * per_page, max(total - 1, 0) // per_page * per_page)


def conditions_only(obj: Mapping[str, Any]) -> ReportScheduleStatus:
    """A status with the conditions only: enough for ``state``."""
    return ReportScheduleStatus.of(obj, only=("conditions",))


def safe_url(url: str) -> str:
    """Where a webhook posts, without its path, query or credentials (they may be secret)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}" if parts.scheme else "(set)"


def targets(spec: ReportScheduleSpec) -> list[tuple[str, str]]:
    """Each delivery target with who or where it reaches; no Secret's value, no URL path."""
    delivery, found = spec.delivery, []
    if delivery.email is not None:
        people = [*delivery.email.to, *delivery.email.cc]
        extra = f" (+{len(delivery.email.bcc)} bcc)" if delivery.email.bcc else ""
        found.append(("email", ", ".join(str(p) for p in people) + extra))
    for hook in delivery.webhooks or []:
        where = safe_url(hook.url) if hook.url else "URL from a Secret"
        found.append((f"webhook/{hook.name}", where))
    for chat in ("slack", "teams"):
        if getattr(delivery, chat, None) is not None:
            found.append((chat, "webhook from a Secret"))
    if delivery.storage is not None:
        found.append(("archive", "object storage"))
    if delivery.burst is not None:
        found.append(("burst", f"one report per row of dataset {delivery.burst.dataset}"))
    return found


def run_of(obj: Mapping[str, Any], run_id: str) -> RunRecord | None:
    """The history entry of ``run_id``, if status still keeps it."""
    return next((r for r in records(obj) if r.run_id == run_id), None)


def took(record: RunRecord, now: datetime) -> str:
    """How long a run took, or has taken so far."""
    end = record.end_time or now
    return human_duration((end - record.start_time).total_seconds())
