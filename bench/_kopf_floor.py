"""kopf's floor for reconcile_10k: a bare kopf operator whose only handler, a no-op on every
event, sees each ReportSchedule once after a start: what kopf itself costs to list, watch and
dispatch the objects (no handler state is stored). Ours does that plus its startup check.
It logs "floor: N objects seen" at every thousandth object, so the bench knows it is done."""

from __future__ import annotations

import logging
from typing import Any

import kopf

SEEN: set[str] = set()
log = logging.getLogger("bulletin.bench.floor")


@kopf.on.event("bulletin.dev", "v1alpha1", "reportschedules")
def seen(uid: str | None, **_: Any) -> None:
    """Count the objects kopf has dispatched."""
    if uid is not None and uid not in SEEN:
        SEEN.add(uid)
        if len(SEEN) % 1000 == 0:
            log.warning("floor: %d objects seen", len(SEEN))
