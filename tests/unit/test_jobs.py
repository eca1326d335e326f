"""Failed Jobs whose runner never recorded the run."""

from __future__ import annotations

from typing import Any

from bulletin.api.history import unrecorded
from bulletin.api.status import ReportScheduleStatus
from bulletin_operator.jobs import failed_run


def _job(conditions: list[dict[str, Any]], trigger: str | None = None) -> dict[str, Any]:
    env = [{"name": "BULLETIN_SCHEDULE", "value": "weekly"}]
    if trigger:
        env.append({"name": "BULLETIN_TRIGGER", "value": trigger})
    return {"metadata": {"name": "weekly-29000000", "creationTimestamp": "2026-11-21T09:00:00Z"},
            "spec": {"template": {"spec": {"containers": [{"name": "runner", "env": env}]}}},
            "status": {"startTime": "2026-11-21T09:00:01Z", "conditions": conditions}}


FAILED = {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
          "message": "Job has reached the specified backoff limit",
          "lastTransitionTime": "2026-11-21T09:01:00Z"}
POD = {"metadata": {"creationTimestamp": "2026-11-21T09:00:40Z"},
       "status": {"phase": "Failed", "containerStatuses": [{"state": {"terminated": {
           "reason": "OOMKilled", "exitCode": 137}}}]}}


def test_a_failed_job_becomes_a_failed_run_with_the_pod_reason() -> None:
    found = failed_run(_job([FAILED], trigger="Manual"), [POD])
    assert found is not None and found.schedule == "weekly"
    record = found.record
    assert (record.run_id, record.trigger.value, record.result and record.result.value) == (
        "weekly-29000000", "Manual", "Failed")
    assert record.message == ("the run's Job failed (BackoffLimitExceeded: Job has reached the"
                              " specified backoff limit); its last pod: OOMKilled: exit code 137")
    assert record.wire()["endTime"] == "2026-11-21T09:01:00Z"


def test_running_or_complete_jobs_are_not_failures() -> None:
    assert failed_run(_job([]), []) is None
    assert failed_run(_job([{"type": "Complete", "status": "True"}]), []) is None


def test_recorded_and_scrolled_out_runs_are_left_alone() -> None:
    found = failed_run(_job([FAILED]), [POD])
    assert found is not None
    record = found.record
    def status(*entries: dict[str, str]) -> ReportScheduleStatus:  # as the CRD has them
        return ReportScheduleStatus.parse({"history": [
            {"trigger": "Scheduled", "startTime": "2026-11-22T00:00:00Z", **e} for e in entries]})

    assert unrecorded(status({"runId": "weekly-29000000"}), record, 10)
    assert not unrecorded(status({"runId": "weekly-29000000", "result": "Failed"}), record, 10)
    newer = [{"runId": f"r{n}", "result": "Succeeded", "startTime": f"2026-11-22T0{n}:00:00Z"}
             for n in range(3)]
    assert not unrecorded(status(*newer), record, 3)  # a full history of newer runs
    assert unrecorded(status(*newer), record, 4)
