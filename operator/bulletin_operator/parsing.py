"""Validate a ReportSchedule's spec into the model and compile its schedule."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bulletin.api.errors import describe
from bulletin.api.spec import ReportScheduleSpec
from bulletin.schedule import Rule, ScheduleError, compile_rule
from pydantic import ValidationError


def parse(spec: Mapping[str, Any], meta: Mapping[str, Any]) -> tuple[ReportScheduleSpec, Rule]:
    """The validated spec and its compiled schedule, or ValueError naming the field and fix."""
    try:
        model = ReportScheduleSpec.model_validate(dict(spec))
        key = f"{meta['namespace']}/{meta['name']}"
        return model, compile_rule(model.schedule, key, datetime.now(UTC))
    except ValidationError as exc:
        raise ValueError(describe(exc)) from exc
    except ScheduleError as exc:
        raise ValueError(str(exc)) from exc
