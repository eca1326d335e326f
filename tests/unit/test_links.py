"""`kubectl bulletin link`: which run and which objects a link is made for."""

from __future__ import annotations

import pytest
from bulletin.api.history import stored_keys
from bulletin.links import LinkError, pick_run

STATUS = {"history": [
    {"runId": "r3", "deliveries": [{"target": "email", "state": "Sent"}]},
    {"runId": "r2", "deliveries": [
        {"target": "email", "state": "Sent", "objectKeys": ["ns/a/2026/11/r2/a.csv"]},
        {"target": "archive", "state": "Sent",
         "objectKeys": ["ns/a/2026/11/r2/a.csv", "ns/a/2026/11/r2/a.pdf"]}]},
]}


def test_the_newest_run_with_files_archive_first() -> None:
    assert pick_run(STATUS, None) == ("r2", ["ns/a/2026/11/r2/a.csv", "ns/a/2026/11/r2/a.pdf"])
    assert stored_keys(STATUS["history"][0]) == []


@pytest.mark.parametrize(("status", "run", "message"), [
    (STATUS, "r3", "run r3 stored no files"),
    (STATUS, "r1", "run r1 is not in status.history"),
    ({}, None, "no run in status.history stored files"),
])
def test_no_link_says_why(status: dict[str, object], run: str | None, message: str) -> None:
    with pytest.raises(LinkError, match=message):
        pick_run(status, run)
