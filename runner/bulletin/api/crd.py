"""Generate the ReportSchedule and ReportCalendar CRDs from the pydantic models
(``python -m bulletin.api.crd``)."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from bulletin.api.calendar import CALENDAR_KIND, CALENDAR_PLURAL, ReportCalendarSpec
from bulletin.api.spec import GROUP, KIND, PLURAL, VERSION, ReportScheduleSpec
from bulletin.api.status import ReportScheduleStatus

_ROOT = Path(__file__).resolve().parents[3]
CRD_FILES = [
    _ROOT / "crds" / f"{GROUP}_{PLURAL}.yaml",
    _ROOT / "charts" / "bulletin" / "crds" / f"{GROUP}_{PLURAL}.yaml",
]
CALENDAR_CRD_FILES = [
    _ROOT / "crds" / f"{GROUP}_{CALENDAR_PLURAL}.yaml",
    _ROOT / "charts" / "bulletin" / "crds" / f"{GROUP}_{CALENDAR_PLURAL}.yaml",
]

_KEEP = {
    "type", "description", "properties", "required", "items", "enum", "pattern", "format",
    "minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems", "default",
    "additionalProperties", "x-kubernetes-validations", "nullable", "maxProperties",
    "x-kubernetes-preserve-unknown-fields",
}


def _structural(node: Any, defs: dict[str, Any]) -> Any:
    """Turn a pydantic JSON schema node into a structural OpenAPI v3 schema node."""
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _structural(merged, defs)
    if "anyOf" in node:
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        if len(options) != 1:
            raise ValueError(f"unions are not structural: {node}")
        rest = {k: v for k, v in node.items() if k != "anyOf"}
        return _structural({**options[0], **rest}, defs)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key not in _KEEP:
            continue
        if key == "properties":
            out[key] = {name: _structural(sub, defs) for name, sub in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = _structural(value, defs)
        elif key == "default" and value is None:
            continue
        elif key == "default" and isinstance(value, dict):
            out[key] = {}  # the API server fills nested defaults itself
        elif key == "description":
            out[key] = " ".join(value.split())
        else:
            out[key] = value
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    if out.get("type") == "object" and "properties" in out:
        out.setdefault("additionalProperties", None)
        out.pop("additionalProperties")
    return out


def openapi_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The structural OpenAPI schema of a model, as the API server wants it."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    return dict(_structural(raw, raw.get("$defs", {})))


def _column(name: str, path: str, type_: str = "string", **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, "jsonPath": path, **extra}


def _definition(kind: str, plural: str, short_names: list[str], description: str,
                columns: list[dict[str, Any]], properties: dict[str, Any],
                subresources: dict[str, Any] | None = None) -> dict[str, Any]:
    """A namespaced bulletin.dev CustomResourceDefinition with one served, stored version."""
    version: dict[str, Any] = {"name": VERSION, "served": True, "storage": True}
    if subresources is not None:
        version["subresources"] = subresources
    version["additionalPrinterColumns"] = columns
    version["schema"] = {
        "openAPIV3Schema": {
            "type": "object",
            "description": description,
            "required": ["spec"],
            "properties": {
                "apiVersion": {"type": "string", "description": "APIVersion of this object."},
                "kind": {"type": "string", "description": "Kind of this object."},
                "metadata": {"type": "object"},
                **properties,
            },
        }
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": short_names,
                "categories": ["bulletin"],
            },
            "scope": "Namespaced",
            "versions": [version],
        },
    }


def crd() -> dict[str, Any]:
    """The ReportSchedule CustomResourceDefinition."""
    return _definition(
        KIND, PLURAL,
        ["rsched", "reports"],  # not "rs": that is ReplicaSet's
        "A report that runs on a schedule: it queries data, renders it and delivers it. See"
        " spec for the fields.",
        [
            _column("Ready", '.status.conditions[?(@.type=="Ready")].status'),
            _column("Schedule", ".status.schedule"),
            # Written by the operator: spec.schedules has a zone per entry.
            _column("Timezone", ".status.timeZone"),
            _column("Suspended", ".spec.suspend", "boolean"),
            _column("Last Run", ".status.lastRun.startTime", "date"),
            _column("Last Result", ".status.lastRun.result"),
            # A string: kubectl shows future times in date columns as <invalid>.
            _column("Next Run", ".status.nextRunTime"),
            _column("Age", ".metadata.creationTimestamp", "date"),
            # -o wide; with Ready and Suspended, the console's state of a schedule (its Table)
            _column("Stalled", '.status.conditions[?(@.type=="Stalled")].status', priority=1),
            _column("Paused", '.status.conditions[?(@.type=="Paused")].status', priority=1),
        ],
        {"spec": openapi_schema(ReportScheduleSpec),
         "status": openapi_schema(ReportScheduleStatus)},
        subresources={"status": {}},
    )


def calendar_crd() -> dict[str, Any]:
    """The ReportCalendar CustomResourceDefinition (spec only; nothing writes its status)."""
    return _definition(
        CALENDAR_KIND, CALENDAR_PLURAL, ["rcal"],
        "Days off (holidays, weekend) that ReportSchedules skip when their"
        " spec.schedule.calendarRef names this calendar.",
        [
            _column("Holidays", ".spec.holidays[*]", priority=1),
            _column("Age", ".metadata.creationTimestamp", "date"),
        ],
        {"spec": openapi_schema(ReportCalendarSpec)},
    )


# Plain scalars that YAML 1.1 readers (kubectl's go-yaml) take for booleans, e.g. a field "y".
_YAML11_BOOL = re.compile(r"^(y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF)$")


class _Dumper(yaml.SafeDumper):
    """Safe YAML without anchors, quoting strings that YAML 1.1 would read as booleans."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "'" if _YAML11_BOOL.match(value) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def render(manifest: dict[str, Any] | None = None) -> str:
    """A CRD (default: ReportSchedule's) as YAML text, with a header saying where it comes
    from."""
    header = "# Generated by `python -m bulletin.api.crd` from runner/bulletin/api. Do not edit.\n"
    return header + yaml.dump(manifest or crd(), Dumper=_Dumper, sort_keys=False, width=100)


def expected() -> dict[Path, str]:
    """Every generated CRD file and the text it must have."""
    schedules, calendars = render(), render(calendar_crd())
    return {**{f: schedules for f in CRD_FILES}, **{f: calendars for f in CALENDAR_CRD_FILES}}


def main() -> int:
    """Write the CRD files (crds/ and the chart's), or with --check fail if one is stale."""
    wanted = expected()
    stale = [f for f, text in wanted.items() if not f.exists() or f.read_text() != text]
    if "--check" in sys.argv[1:]:
        for path in stale:
            print(f"{path} is out of date: run `make crds`", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(wanted[path])
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
