"""Conditions follow API conventions; a no-op reconcile patches nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bulletin.api.status import ReportScheduleStatus
from bulletin_operator.status import pause_state, reconciled, set_condition

status_of = ReportScheduleStatus.parse

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)


def test_transition_time_moves_only_on_flip() -> None:
    first = set_condition([], type_="Ready", status=True, reason="A", message="m",
                          generation=1, now=T0)
    same = set_condition(first, type_="Ready", status=True, reason="B", message="n",
                         generation=2, now=T1)
    same_wire = [c.wire() for c in same]
    assert same_wire[0]["lastTransitionTime"] == "2026-11-21T12:00:00Z"
    assert same_wire[0]["observedGeneration"] == 2 and same_wire[0]["reason"] == "B"
    flipped = set_condition(same, type_="Ready", status=False, reason="C", message="",
                            generation=3, now=T1)
    assert flipped[0].wire()["lastTransitionTime"] == "2026-11-21T12:05:00Z"
    assert flipped[0].wire()["status"] == "False"


def test_reconcile_twice_patches_nothing_the_second_time() -> None:
    args = dict(generation=1, error=None, cron="0 9 * * *", cronjob="r", next_run=T1)
    first = reconciled(status_of({}), now=T0, **args)  # type: ignore[arg-type]
    assert first["observedGeneration"] == 1
    assert {c["type"]: c["status"] for c in first["conditions"]} == {
        "Ready": "True", "Stalled": "False", "Paused": "False"}
    assert reconciled(status_of(first), now=T1, **args) == {}  # type: ignore[arg-type]


def test_invalid_spec_is_stalled_with_the_message() -> None:
    patch = reconciled(status_of({}), generation=4, error="spec.schedule.cron: bad", cron=None,
                       cronjob=None, next_run=None, now=T0)
    conds = {c["type"]: c for c in patch["conditions"]}
    assert conds["Ready"]["status"] == "False"
    assert conds["Stalled"]["status"] == "True"
    assert conds["Stalled"]["message"] == "spec.schedule.cron: bad"
    assert conds["Stalled"]["observedGeneration"] == 4


def test_pause_after_failures_and_resume_on_spec_change() -> None:
    status = {"observedGeneration": 3, "consecutiveFailures": 5}
    assert pause_state(status_of(status), generation=3, limit=5) == (True, 5)
    assert pause_state(status_of(status), generation=3, limit=0) == (False, 5)
    four = status_of({**status, "consecutiveFailures": 4})
    assert pause_state(four, generation=3, limit=5) == (False, 4)
    assert pause_state(status_of(status), generation=4, limit=5) == (False, 0)  # the spec changed
    patch = reconciled(status_of(status), generation=3, error=None, cron="0 9 * * *", cronjob="r",
                       next_run=T1, now=T0, paused=True, failures=5)
    paused = {c["type"]: c for c in patch["conditions"]}["Paused"]
    assert (paused["status"], paused["reason"]) == ("True", "TooManyFailures")
    assert "consecutiveFailures" not in patch
    resumed = reconciled(status_of(status), generation=4, error=None, cron="0 9 * * *", cronjob="r",
                         next_run=T1, now=T0, paused=False, failures=0)
    assert resumed["consecutiveFailures"] == 0


def test_the_zone_is_written_for_the_timezone_column() -> None:
    patch = reconciled(status_of({}), generation=1, error=None,
                       cron="emea: 0 9 * * * (Europe/Berlin)", cronjob="r-emea", next_run=T1,
                       now=T0, time_zone="Europe/Berlin,UTC")
    assert patch["timeZone"] == "Europe/Berlin,UTC"
    assert reconciled(status_of(patch), generation=1, error=None, cron=patch["schedule"],
                      cronjob="r-emea", next_run=T1, now=T1, time_zone="Europe/Berlin,UTC") == {}
    stalled = reconciled(status_of(patch), generation=2, error="bad", cron=None, cronjob=None,
                         next_run=None, now=T1)
    assert "timeZone" in stalled and stalled["timeZone"] is None  # cleared, like schedule
