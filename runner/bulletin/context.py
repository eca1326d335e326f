"""What a run knows from its pod environment (set by the operator's CronJob template): who it
is, and its configuration (bulletin.runconfig), read once at start."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from bulletin.api import podenv
from bulletin.api.errors import ConfigurationError, describe
from bulletin.api.names import scheduled_minute
from bulletin.api.runrequest import RunOptions
from bulletin.api.status import Trigger
from bulletin.runconfig import RunConfig


@dataclass(frozen=True)
class RunContext:
    """Identity and inputs of one run."""

    namespace: str
    schedule: str
    run_id: str
    trigger: Trigger
    scheduled_time: datetime | None
    options: RunOptions
    workdir: Path
    config: RunConfig
    entry: str | None = None  # the spec.schedules entry whose CronJob started the run

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RunContext:
        """Build from BULLETIN_* variables; the CronJob's Job name encodes the scheduled minute."""
        missing = [k for k in (podenv.NAMESPACE, podenv.SCHEDULE) if not env.get(k)]
        if missing:
            raise ConfigurationError(f"missing environment: {', '.join(missing)} "
                              "(the operator's CronJob sets them)")
        run_id = env.get(podenv.RUN_ID) or f"local-{datetime.now(UTC):%Y%m%d%H%M%S}"
        try:
            trigger = Trigger(env.get(podenv.TRIGGER, Trigger.SCHEDULED.value))
        except ValueError as exc:
            raise ConfigurationError(f"{podenv.TRIGGER} must be one of "
                              + ", ".join(t.value for t in Trigger)) from exc
        try:
            options = RunOptions.model_validate_json(env.get(podenv.RUN_OPTIONS) or "{}")
        except ValidationError as exc:
            raise ConfigurationError(f"{podenv.RUN_OPTIONS}: {describe(exc, 'options')}") from exc
        scheduled = None
        if trigger is Trigger.SCHEDULED and (found := scheduled_minute(run_id)) is not None:
            scheduled = datetime.fromtimestamp(found[1] * 60, UTC)
        return cls(
            namespace=env[podenv.NAMESPACE],
            schedule=env[podenv.SCHEDULE],
            run_id=run_id,
            trigger=trigger,
            scheduled_time=scheduled,
            options=options,
            workdir=Path(env.get(podenv.WORKDIR) or "/tmp"),
            config=RunConfig.from_env(env),
            entry=env.get(podenv.SCHEDULE_ENTRY) or None,
        )

    def secrets(self) -> list[str]:
        """Secret values this run holds, to be redacted from anything it writes."""
        return self.config.secrets()
