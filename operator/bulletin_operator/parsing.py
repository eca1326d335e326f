"""Validate a ReportSchedule's spec into the model and compile its schedules."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bulletin.api.calendar import DaysOff
from bulletin.api.errors import describe
from bulletin.api.spec import ReportScheduleSpec
from bulletin.schedule import ScheduleError
from bulletin.timing import Timing, compile_timing
from pydantic import ValidationError


def parse(spec: Mapping[str, Any], meta: Mapping[str, Any],
          calendars: Mapping[str, DaysOff] | None = None) -> tuple[ReportScheduleSpec, Timing]:
    """The validated spec and its compiled schedules (skipping the days off of ``calendars``,
    by name, that calendarRef names, when read), or ValueError naming the field and fix."""
    try:
        model = ReportScheduleSpec.model_validate(dict(spec))
        key = f"{meta['namespace']}/{meta['name']}"
        return model, compile_timing(model, key, datetime.now(UTC), calendars)
    except ValidationError as exc:
        raise ValueError(describe(exc)) from exc
    except ScheduleError as exc:
        raise ValueError(str(exc)) from exc
