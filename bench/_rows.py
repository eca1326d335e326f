"""The benchmark data: a deterministic generator of typical report rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

COLUMNS = ["id", "day", "user_name", "region", "requests", "latency_ms", "cost", "share",
           "seen_at", "active"]
_D0 = dt.date(2026, 1, 1)
_T0 = dt.datetime(2026, 1, 1, 9, 0, tzinfo=dt.UTC)
_USERS = [f"user-{i:03d}" for i in range(250)]
_REGIONS = ["eu-west-1", "us-east-1", "ap-south-1", "sa-east-1"]


def rows(n: int, width: int = 10) -> Iterator[tuple[Any, ...]]:
    """``n`` rows of the first ``width`` COLUMNS."""
    for i in range(n):
        row = (i, _D0 + dt.timedelta(days=i % 365), _USERS[i % 250], _REGIONS[i % 4],
               (i * 37) % 1000, (i % 997) * 0.25, Decimal(i % 10000) / 100, (i % 100) / 100,
               _T0 + dt.timedelta(seconds=i), i % 3 == 0)
        yield row[:width]
