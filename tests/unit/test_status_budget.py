"""The status byte budget counts the whole object: a tenant's large spec leaves history less
room, never a status write that the API server refuses; an object with no room at all fails its
run once, with one log line, an Event and an exit code the Job does not retry."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml
from bulletin.api.client import Kube
from bulletin.api.gateway import too_large, transient
from bulletin.api.history import (
    ETCD_REQUEST_LIMIT,
    OBJECT_BUDGET,
    OBJECT_CEILING,
    StatusTooLarge,
    wire_size,
    with_run,
)
from bulletin.api.runrequest import RunOptions
from bulletin.api.spec import ReportScheduleSpec
from bulletin.api.status import BurstProgress, DeliveryRecord, RunRecord, RunResult, Trigger
from bulletin.context import RunContext
from bulletin.run import EXIT_UNRECORDABLE, run_one
from bulletin.runconfig import RunConfig
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from support import status_after

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
BURST = 300
GOLDEN = Path(__file__).parent / "golden"


def _spec(sql_bytes: int, assertions: int) -> dict[str, Any]:
    """A burst spec whose 20 datasets carry ``sql_bytes`` of SQL each (a comment pads them),
    with ``assertions`` SQL gates of 8 KiB: as large as the CRD lets each field be."""
    pad = "SELECT region, amount FROM sales WHERE region = :region -- "
    datasets = [{"name": "managers", "query": "SELECT email, region FROM managers"}] + [
        {"name": f"d{n:02d}", "query": (pad + "x" * sql_bytes)[:sql_bytes]} for n in range(19)]
    gates = [{"name": f"a{n:02d}", "query": ("SELECT true -- " + "y" * 8192)[:8192]}
             for n in range(assertions)]
    spec = {"schedule": {"cron": "0 9 * * MON"},
            "source": {"connectionSecretRef": {"name": "db", "key": "url"}},
            "datasets": datasets, "gates": {"assertions": gates},
            "delivery": {"email": {"smtpSecretRef": {"name": "smtp"}},
                         "burst": {"dataset": "managers", "maxRecipients": BURST}}}
    ReportScheduleSpec.model_validate(spec)  # admissible, as the CRD's bounds allow
    return spec


def _object(spec: dict[str, Any], status: dict[str, Any] | None = None) -> dict[str, Any]:
    meta = {"name": "sales", "namespace": "tenant", "uid": "0d6f-4b1a", "generation": 1,
            "resourceVersion": "4711", "creationTimestamp": "2026-11-01T08:00:00Z",
            "managedFields": [{"manager": "kubectl", "operation": "Apply",
                               "apiVersion": "bulletin.dev/v1alpha1", "fieldsType": "FieldsV1",
                               "fieldsV1": {"f:spec": {f"f:{k}": {} for k in spec}}}]}
    return {"apiVersion": "bulletin.dev/v1alpha1", "kind": "ReportSchedule", "metadata": meta,
            "spec": spec, "status": status or {
                "observedGeneration": 1, "cronJobName": "sales",
                "conditions": [{"type": "Ready", "status": "True", "reason": "Scheduled",
                                "message": "CronJob sales runs 0 9 * * 1 (UTC)",
                                "lastTransitionTime": "2026-11-01T08:00:01Z"}]}}


def _burst_run(i: int) -> RunRecord:
    """A finished burst run to BURST recipients (ten failed), as the runner records it."""
    start = T0 + timedelta(days=i)
    progress = BurstProgress(recipients=BURST, sent=BURST - 10, failed=10,
                             failures=[f"m{n:03d}@example.com: 550 mailbox unavailable"
                                       for n in range(10)],
                             sent_keys=[f"{i:04d}{n:08x}" for n in range(BURST - 10)])
    email = DeliveryRecord(target="email", state="Failed", attempts=2, burst=progress,
                           error=f"10 of {BURST} recipients failed")
    return RunRecord(run_id=f"sales-{i:08d}", trigger=Trigger.SCHEDULED, start_time=start,
                     end_time=start + timedelta(minutes=4), result=RunResult.PARTIALLY_DELIVERED,
                     rows=12 * BURST, bytes=40_000 * BURST, deliveries=[email],
                     message=f"burst: {BURST} recipients: {BURST - 10} sent, 10 failed")


def _wide_run(i: int) -> RunRecord:
    """A run to 300 listed recipients (about 40 KB in status)."""
    record = _burst_run(i).model_copy(update={"deliveries": []})
    record.recipients = [f"person-{n:03d}-with-a-long-mailbox-name@reports.example.com"
                         for n in range(300)]
    record.deliveries = [DeliveryRecord(target="email", state="Sent", recipients=record.recipients)]
    return record


def _with_history(obj: dict[str, Any], runs: list[RunRecord]) -> dict[str, Any]:
    """``obj`` with ``runs`` in its history, as earlier writes (before this budget) left it."""
    status = dict(obj["status"])
    for record in runs:
        status = status_after(status, partial(with_run, record=record, limit=10))
    return {**obj, "status": status}


class FakeApi:
    """The API server's status subresource of one object, refusing what etcd would refuse: a
    request over ``limit`` bytes is a 500 "etcdserver: request is too large"."""

    def __init__(self, obj: dict[str, Any], limit: int = ETCD_REQUEST_LIMIT) -> None:
        self.obj, self.limit = obj, limit
        self.writes: list[dict[str, Any]] = []
        self.events: list[client.CoreV1Event] = []

    def get_namespaced_custom_object(self, *_: Any, **__: Any) -> dict[str, Any]:
        return json.loads(json.dumps(self.obj))

    get_namespaced_custom_object_status = get_namespaced_custom_object

    def replace_namespaced_custom_object_status(self, *args: Any, **_: Any) -> dict[str, Any]:
        body: dict[str, Any] = args[-1]
        self.writes.append(body)
        if wire_size(body) > self.limit:
            exc = ApiException(status=500, reason="Internal Server Error")
            exc.body = json.dumps({"kind": "Status", "status": "Failure", "code": 500,
                                   "message": "etcdserver: request is too large"})
            raise exc
        self.obj = body
        return body

    def create_namespaced_event(self, _namespace: str, body: client.CoreV1Event,
                                **_: Any) -> None:
        self.events.append(body)


def _kube(api: FakeApi) -> Kube:
    kube = Kube(client.ApiClient(client.Configuration()))
    kube.custom = api
    kube.core = api
    return kube


def _record(kube: Kube, record: RunRecord) -> list[int]:
    trimmed: list[int] = []
    kube.update_status("tenant", "sales", lambda st: with_run(st, record, limit=10),
                       on_trim=trimmed.append)
    return trimmed


def test_a_large_burst_specs_run_is_recorded_with_its_ledger() -> None:
    """A 1.4 MB spec bursting to 300 recipients: its run is recorded, the object under the
    ceiling, history down to the newest run, which keeps its burst ledger."""
    old = _with_history(_object(_spec(65_536, assertions=20)), [_burst_run(i) for i in range(10)])
    assert 1_400_000 < wire_size(old["spec"]) < 1_450_000
    api = FakeApi(old)
    trimmed = _record(_kube(api), _burst_run(10))
    [written] = api.writes
    assert wire_size(written) <= OBJECT_CEILING < ETCD_REQUEST_LIMIT
    status = api.obj["status"]
    assert [h["runId"] for h in status["history"]] == ["sales-00000010"]
    assert status["lastRun"]["runId"] == "sales-00000010" and trimmed == [9]
    [email] = status["history"][0]["deliveries"]  # a retried run sends only to the others
    assert len(email["burst"]["sentKeys"]) == BURST - 10
    assert status["conditions"] == old["status"]["conditions"]


def test_history_under_its_own_budget_no_longer_pushes_the_object_past_etcds_limit() -> None:
    """The incident's shape: runs listing 300 recipients kept history under its own 400 KiB,
    and with a 1.4 MB spec every status write was refused; now history gives way."""
    old = _with_history(_object(_spec(65_536, assertions=20)), [_wide_run(i) for i in range(10)])
    assert wire_size(old) > ETCD_REQUEST_LIMIT  # as written before: refused, every time
    api = FakeApi(old)
    assert _record(_kube(api), _wide_run(10)) == [9]  # of the 10 historyLimit keeps
    assert wire_size(api.obj) <= OBJECT_CEILING
    [newest] = api.obj["status"]["history"]
    assert newest["runId"] == "sales-00000010" and len(newest["deliveries"][0]["recipients"]) == 300
    assert api.obj["status"]["lastRun"]["recipients"] == []  # its copy keeps only the count
    assert "300 recipients" in api.obj["status"]["lastRun"]["message"]


def test_history_gives_way_oldest_first_to_keep_the_object_under_its_budget() -> None:
    obj = _with_history(_object(_spec(40_000, assertions=0)), [_wide_run(i) for i in range(9)])
    rest = wire_size({**obj, "status": {}})
    assert 700_000 < rest < OBJECT_BUDGET - 200_000
    api = FakeApi(obj)
    trimmed = _record(_kube(api), _wide_run(9))
    assert wire_size(api.obj) <= OBJECT_BUDGET
    runs = [h["runId"] for h in api.obj["status"]["history"]]
    assert 1 < len(runs) < 10 and trimmed == [10 - len(runs)]
    assert runs == [f"sales-{i:08d}" for i in range(9, 9 - len(runs), -1)]  # newest kept
    assert api.obj["status"]["lastRun"] == api.obj["status"]["history"][0]


def test_a_small_spec_keeps_its_whole_history() -> None:
    api = FakeApi(_with_history(_object(_spec(200, assertions=0)),
                                [_wide_run(i) for i in range(5)]))
    assert _record(_kube(api), _wide_run(5)) == []
    assert len(api.obj["status"]["history"]) == 6


def test_a_spec_that_leaves_no_room_is_refused_before_any_write() -> None:
    obj = _object(_spec(65_536, assertions=20))
    obj["metadata"]["annotations"] = {"note": "z" * (ETCD_REQUEST_LIMIT - wire_size(obj) - 2000)}
    assert OBJECT_CEILING < wire_size(obj) < ETCD_REQUEST_LIMIT  # the API server took it
    api = FakeApi(obj)
    with pytest.raises(StatusTooLarge) as err:
        _record(_kube(api), _burst_run(0))
    assert api.writes == []
    assert err.value.size > err.value.limit == OBJECT_CEILING
    assert f"{OBJECT_CEILING:,}" in str(err.value) and "shrink its spec" in str(err.value)


def test_a_refusal_as_too_large_is_raised_at_once_not_retried() -> None:
    """An etcd with a smaller --max-request-bytes than the default refuses what fits ours."""
    api = FakeApi(_object(_spec(65_536, assertions=0)), limit=1024 * 1024)
    with pytest.raises(StatusTooLarge) as err:
        _record(_kube(api), _burst_run(0))
    assert len(api.writes) == 1 and err.value.limit == ETCD_REQUEST_LIMIT


def test_sizes_count_what_the_api_server_stores() -> None:
    """Go's encoding/json escapes <, > and & (common in SQL) as 6 bytes; UTF-8 is as it is."""
    stored = '{"query":"SELECT 1 WHERE a \\u003c b \\u0026\\u0026 c \\u003e 0 -- Zürich"}'
    assert wire_size({"query": "SELECT 1 WHERE a < b && c > 0 -- Zürich"}) == len(stored.encode())


@pytest.mark.parametrize(("status", "message", "expected"), [
    (500, "etcdserver: request is too large", True),
    (413, "Request entity too large: limit is 3145728", True),
    (422, "the object is too large", True),
    (500, "Internal error occurred: connection reset", False),
    (422, "spec.history: Invalid value", False),
])
def test_too_large_answers_are_not_transient(status: int, message: str, expected: bool) -> None:
    exc = ApiException(status=status, reason="x")
    exc.body = json.dumps({"kind": "Status", "code": status, "message": message})
    assert too_large(exc) is expected
    assert transient(exc) is (status == 500 and not expected)


def test_a_run_that_cannot_be_recorded_fails_once_and_says_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    obj = _object(_spec(65_536, assertions=20))
    obj["metadata"]["annotations"] = {"note": "z" * (ETCD_REQUEST_LIMIT - wire_size(obj) - 2000)}
    api = FakeApi(obj)
    ctx = RunContext(namespace="tenant", schedule="sales", run_id="sales-now-1",
                     trigger=Trigger.MANUAL, scheduled_time=None,
                     options=RunOptions(), workdir=Path("/nonexistent"), config=RunConfig())
    assert run_one(ctx, _kube(api)) == EXIT_UNRECORDABLE
    assert api.writes == []  # nothing ran: a run that cannot be recorded must not send
    [event] = api.events
    assert (event.type, event.reason) == ("Warning", "RunNotRecorded")
    assert "run sales-now-1 cannot be recorded" in event.message
    assert f"over the {OBJECT_CEILING:,}" in event.message and "shrink its spec" in event.message
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert errors == [event.message]


def test_the_job_fails_at_once_on_that_exit_code() -> None:
    for name in ("run-now-job", "cronjob"):
        obj = yaml.safe_load((GOLDEN / f"{name}.yaml").read_text())
        job = obj["spec"] if obj["kind"] == "Job" else obj["spec"]["jobTemplate"]["spec"]
        rules = job["podFailurePolicy"]["rules"]
        [fail] = [r for r in rules if r["action"] == "FailJob" and "onExitCodes" in r]
        assert EXIT_UNRECORDABLE in fail["onExitCodes"]["values"]


class ConflictingApi(FakeApi):
    """Answers the first ``conflicts`` status writes 409 Conflict (another writer was first)."""

    def __init__(self, obj: dict[str, Any], conflicts: int) -> None:
        super().__init__(obj)
        self.conflicts = conflicts

    def replace_namespaced_custom_object_status(self, *args: Any, **kwargs: Any
                                                ) -> dict[str, Any]:
        if self.conflicts:
            self.conflicts -= 1
            self.writes.append(args[-1])
            raise ApiException(status=409, reason="Conflict")
        return super().replace_namespaced_custom_object_status(*args, **kwargs)


def test_a_conflict_is_redone_from_a_fresh_read_until_it_gives_up(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from bulletin.api import client as api_client

    waits: list[float] = []
    monkeypatch.setattr(api_client.time, "sleep", waits.append)
    api = ConflictingApi(_object(_spec(100, assertions=0)), conflicts=2)
    _record(_kube(api), _burst_run(0))
    assert len(api.writes) == 3 and len(waits) == 2 and api.obj["status"]
    endless = ConflictingApi(_object(_spec(100, assertions=0)), conflicts=10**6)
    with pytest.raises(RuntimeError, match="kept conflicting"):
        _record(_kube(endless), _burst_run(0))
    assert len(endless.writes) == api_client.CONFLICT_RETRIES
