"""crds/ is generated from the pydantic models: fail on drift, and teach the API."""

from __future__ import annotations

from typing import Any

from bulletin.api import crd


def test_crd_file_matches_models() -> None:
    assert crd.CRD_FILE.read_text() == crd.render(), "crds/ is stale: run `make crds`"


def _walk(node: dict[str, Any], path: str, found: list[str]) -> None:
    for name, sub in node.get("properties", {}).items():
        here = f"{path}.{name}"
        if name != "metadata" and not sub.get("description"):
            found.append(here)
        _walk(sub, here, found)
    if "items" in node:
        _walk(node["items"], path + "[]", found)


def test_every_field_has_a_description() -> None:
    schema = crd.crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    missing: list[str] = []
    _walk(schema, "", missing)
    assert missing == []


def test_schema_is_structural() -> None:
    text = crd.render()
    for word in ("anyOf", "$ref", "title", "oneOf"):
        assert word not in text
