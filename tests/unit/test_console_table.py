"""console.listing reads a schedule's state from its Table row exactly as views.state reads it
from the object; a Table without the state's columns (a CRD from before them) is not used."""

from __future__ import annotations

import itertools

from bulletin.console import listing, views

STAMP = "2026-01-05T09:00:00Z"


def test_the_state_from_the_cells_is_the_state_of_the_object() -> None:
    statuses = (None, "True", "False", "Unknown")
    for suspend, ready, stalled, paused in itertools.product(
            (None, False, True), statuses, statuses, statuses):
        cells = {"Suspended": suspend, "Ready": ready, "Stalled": stalled, "Paused": paused}
        conditions = [{"type": t, "status": cells[t], "reason": "R", "lastTransitionTime": STAMP}
                      for t in listing.STATE_COLUMNS if cells[t] is not None]
        obj = {"spec": {"suspend": suspend}, "status": {"conditions": conditions}}
        assert listing._state(cells) == views.state(obj, views.conditions_only(obj)), cells


def test_a_table_without_the_state_columns_is_not_used() -> None:
    row = {"cells": ["a", "True", False],
           "object": {"metadata": {"name": "a", "namespace": "n", "resourceVersion": "7"}}}
    old = {"kind": "Table", "columnDefinitions": [{"name": n} for n in ("Name", "Ready",
                                                                         "Suspended")],
           "rows": [row]}
    assert listing._entries([old]) is None
    assert listing._entries([{"kind": "ReportScheduleList", "items": []}]) is None
    new = {**old, "columnDefinitions": [*old["columnDefinitions"], {"name": "Stalled"},
                                        {"name": "Paused"}]}
    assert listing._entries([new]) == [listing.Listed("n", "a", "7", "Ready", 0, 0)]
