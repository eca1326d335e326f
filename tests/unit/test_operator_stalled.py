"""A schedule Stalled for its generation by the same refusal counts as handled: the startup
check does not resume it, so a restart or failover neither retries nor re-announces it."""

from __future__ import annotations

from datetime import UTC, datetime

from bulletin.api.status import ReportScheduleStatus
from bulletin_operator.status import set_condition, stalled_as_recorded

NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)


def _status(reason: str, message: str, generation: int, stalled: bool = True
            ) -> ReportScheduleStatus:
    return ReportScheduleStatus(conditions=set_condition(
        [], type_="Stalled", status=stalled, reason=reason, message=message,
        generation=generation, now=NOW))


def test_the_same_refusal_for_the_same_generation_is_recorded() -> None:
    status = _status("ReferenceNotUsable", "Secret 'x' is not labelled", 3)
    assert stalled_as_recorded(status, generation=3, reason="ReferenceNotUsable",
                               message="Secret 'x' is not labelled")
    assert stalled_as_recorded(status, generation=3, reason="ReferenceNotUsable")


def test_a_new_generation_reason_or_message_is_handled_again() -> None:
    status = _status("ReferenceNotUsable", "Secret 'x' is not labelled", 3)
    assert not stalled_as_recorded(status, generation=4, reason="ReferenceNotUsable")
    assert not stalled_as_recorded(status, generation=3, reason="Rejected")
    assert not stalled_as_recorded(status, generation=3, reason="ReferenceNotUsable",
                                   message="Secret 'y' is not labelled")
    assert not stalled_as_recorded(_status("Rejected", "m", 3, stalled=False), generation=3,
                                   reason="Rejected")
    assert not stalled_as_recorded(ReportScheduleStatus(), generation=1, reason="Rejected")
