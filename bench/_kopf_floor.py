"""kopf's floor for reconcile_10k: a bare kopf operator whose only handler, a no-op on resume,
sees every ReportSchedule once after a restart. What kopf itself costs to list, watch and
resume the objects; ours does that plus its startup check."""

from __future__ import annotations

from typing import Any

import kopf


@kopf.on.resume("bulletin.dev", "v1alpha1", "reportschedules")
def resumed(**_: Any) -> None:
    """Nothing: the floor is kopf's own work."""
