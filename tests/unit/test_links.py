"""`kubectl bulletin link`: which run and which objects a link is made for."""

from __future__ import annotations

import pytest
from bulletin.api.history import stored_keys
from bulletin.api.status import ReportScheduleStatus
from bulletin.links import LinkError, pick_run

RUN = {"trigger": "Scheduled", "startTime": "2026-11-02T09:00:00Z"}  # as the CRD requires
STATUS = ReportScheduleStatus.parse({"history": [
    {**RUN, "runId": "r3", "deliveries": [{"target": "email", "state": "Sent"}]},
    {**RUN, "runId": "r2", "deliveries": [
        {"target": "email", "state": "Sent", "objectKeys": ["ns/a/2026/11/r2/a.csv"]},
        {"target": "archive", "state": "Sent",
         "objectKeys": ["ns/a/2026/11/r2/a.csv", "ns/a/2026/11/r2/a.pdf"]}]},
]})


def test_the_newest_run_with_files_archive_first() -> None:
    assert pick_run(STATUS, None) == ("r2", ["ns/a/2026/11/r2/a.csv", "ns/a/2026/11/r2/a.pdf"])
    assert stored_keys(STATUS.history[0]) == []


@pytest.mark.parametrize(("status", "run", "message"), [
    (STATUS, "r3", "run r3 stored no files"),
    (STATUS, "r1", "run r1 is not in status.history"),
    (ReportScheduleStatus(), None, "no run in status.history stored files"),
])
def test_no_link_says_why(status: ReportScheduleStatus, run: str | None, message: str) -> None:
    with pytest.raises(LinkError, match=message):
        pick_run(status, run)
