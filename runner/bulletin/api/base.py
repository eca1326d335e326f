"""Shared pydantic base for the API models: camelCase on the wire, snake_case in Python."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


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
