"""Shared pydantic base for the API models: camelCase on the wire, snake_case in Python."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, PlainSerializer
from pydantic.alias_generators import to_camel


def rfc3339(when: datetime) -> str:
    """A UTC timestamp the way Kubernetes writes them: 2026-11-21T09:00:00Z."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
# What the API server accepts as an object name (RFC 1123 subdomain) and as a Secret or
# ConfigMap key: a reference that cannot exist is refused at admission.
OBJECT_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DATA_KEY = r"^[-._a-zA-Z0-9]+$"
Timestamp = Annotated[datetime, PlainSerializer(rfc3339, return_type=str, when_used="json")]


class ApiModel(BaseModel):
    """Base of every API object: camelCase aliases; unknown fields ignored (forward compatible)."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        frozen=False,
    )

    def wire(self) -> dict[str, Any]:
        """The object as it is written to the API: camelCase, without unset optionals."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")
