"""crds/ is generated from the pydantic models: fail on drift, and teach the API."""

from __future__ import annotations

from typing import Any

from bulletin.api import crd


def test_crd_files_match_models() -> None:
    assert len(crd.expected()) == 4
    for path, text in crd.expected().items():
        assert path.read_text() == text, f"{path} is stale: run `make crds`"


def _walk(node: dict[str, Any], path: str, found: list[str]) -> None:
    for name, sub in node.get("properties", {}).items():
        here = f"{path}.{name}"
        if name != "metadata" and not sub.get("description"):
            found.append(here)
        _walk(sub, here, found)
    if "items" in node:
        _walk(node["items"], path + "[]", found)


def test_every_field_has_a_description() -> None:
    missing: list[str] = []
    for manifest in (crd.crd(), crd.calendar_crd()):
        _walk(manifest["spec"]["versions"][0]["schema"]["openAPIV3Schema"], "", missing)
    assert missing == []


def _keys(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = set(node) - {"properties"}
        for key, value in node.items():
            if key == "properties":
                found |= set().union(*(_keys(v) for v in value.values())) if value else set()
            else:
                found |= _keys(value)
        return found
    if isinstance(node, list):
        return set().union(*(_keys(v) for v in node)) if node else set()
    return set()


def test_schema_is_structural() -> None:
    schema = crd.crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert _keys(schema).isdisjoint({"anyOf", "$ref", "$defs", "title", "oneOf", "allOf"})


def test_kubectl_get_shows_ready_and_the_zones_by_default() -> None:
    """READY is a default column (as cert-manager's), and Timezone reads status.timeZone, which
    the operator writes for spec.schedule and spec.schedules alike."""
    columns = crd.crd()["spec"]["versions"][0]["additionalPrinterColumns"]
    shown = {c["name"]: c["jsonPath"] for c in columns if not c.get("priority")}
    assert shown["Ready"] == '.status.conditions[?(@.type=="Ready")].status'
    assert shown["Timezone"] == ".status.timeZone"
    assert [c["name"] for c in columns][:2] == ["Ready", "Schedule"]
