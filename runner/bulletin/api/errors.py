"""Readable validation errors: each names the field by its manifest path."""

from __future__ import annotations

from pydantic import ValidationError


def describe(exc: ValidationError, root: str = "spec") -> str:
    """One line per problem, e.g. ``spec.schedule.daily.at: String should match pattern ...``."""
    lines = []
    for err in exc.errors():
        path = ".".join([root, *(str(p) for p in err["loc"])]) if err["loc"] else root
        message = err["msg"].removeprefix("Value error, ")
        lines.append(message if message.startswith(root + ".") else f"{path}: {message}")
    return "; ".join(lines)
