"""Generated parts of the chart: the values table in charts/bulletin/README.md (from the comments
in values.yaml) and the runnerPod part of values.schema.json (from the spec.runner model).

`python tests/chartdocs.py` rewrites both; `--check` fails when either is stale (the chart test
runs the check too)."""

from __future__ import annotations

import copy
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from bulletin.api.crd import openapi_schema
from bulletin.api.runnerpod import KEY_PATTERN, RESERVED_LABELS, RESERVED_PREFIXES, RunnerPod

CHART = Path(__file__).resolve().parents[1] / "charts" / "bulletin"
VALUES, SCHEMA, README = CHART / "values.yaml", CHART / "values.schema.json", CHART / "README.md"
BEGIN, END = "<!-- values table: begin -->", "<!-- values table: end -->"
_KEY = re.compile(r"^(\s*)([A-Za-z][A-Za-z0-9_]*):(.*)$")


@dataclass(frozen=True)
class Row:
    """One documented value."""

    path: str
    description: str


def documented(text: str) -> list[Row]:
    """Every key of values.yaml with the comment lines right above it (or its inline comment).
    A blank line ends a comment that belongs to no key."""
    rows: list[Row] = []
    stack: list[tuple[int, str]] = []
    pending: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            pending = []
            continue
        if stripped.startswith("#"):
            pending.append(stripped.lstrip("#").strip())
            continue
        match = _KEY.match(line)
        if match is None:
            continue
        indent, key, rest = len(match[1]), match[2], match[3]
        while stack and stack[-1][0] >= indent:
            stack.pop()
        inline = rest.split(" # ", 1)[1].strip() if " # " in rest else ""
        path = ".".join([k for _, k in stack] + [key])
        rows.append(Row(path, " ".join(pending) or inline))
        stack.append((indent, key))
        pending = []
    return rows


def _lookup(values: dict[str, Any], path: str) -> Any:
    node: Any = values
    for part in path.split("."):
        node = node[part]
    return node


def _is_section(row: Row, rows: list[Row]) -> bool:
    return any(r.path.startswith(row.path + ".") and r.description for r in rows)


def values_table(text: str) -> str:
    """The Markdown table of documented values; a section row shows no default."""
    values = yaml.safe_load(text)
    rows = documented(text)
    out = ["| Value | Default | Description |", "| --- | --- | --- |"]
    for row in rows:
        if not row.description:
            continue
        default = "" if _is_section(row, rows) else \
            f"`{json.dumps(_lookup(values, row.path), separators=(', ', ': '))}`"
        out.append(f"| `{row.path}` | {default} | {row.description.replace('|', '&#124;')} |")
    return "\n".join(out) + "\n"


def undocumented(text: str) -> list[str]:
    """Keys with no description of their own nor a documented, non-section parent."""
    rows = documented(text)
    covered = [r.path for r in rows if r.description and not _is_section(r, rows)]
    return [r.path for r in rows if not r.description
            and not any(r.path.startswith(c + ".") for c in covered)]


def _close(node: Any) -> Any:
    """JSON Schema for values: unknown keys refused, Kubernetes' CEL rules left to the operator."""
    if not isinstance(node, dict):
        return node
    node = {k: _close(v) for k, v in node.items() if k != "x-kubernetes-validations"}
    if node.get("type") == "object" and "properties" in node:
        node["additionalProperties"] = False
    return node


def runner_pod_schema() -> dict[str, Any]:
    """The schema of the runnerPod value: spec.runner's, with empty values allowed (unset)."""
    schema = _close(copy.deepcopy(openapi_schema(RunnerPod)))
    props = schema["properties"]
    name = props["priorityClassName"]
    name["pattern"] = "^$|" + name["pattern"]
    reserved = "^(" + "|".join(re.escape(p) for p in RESERVED_PREFIXES) + ")"
    for key in ("podLabels", "podAnnotations"):
        props[key]["propertyNames"] = {
            "pattern": KEY_PATTERN, "maxLength": 317,
            "not": {"anyOf": [{"enum": list(RESERVED_LABELS)}, {"pattern": reserved}]}}
    return schema


def schema_text() -> str:
    """values.schema.json with its runnerPod part generated."""
    schema = json.loads(SCHEMA.read_text())
    schema["properties"]["runnerPod"] = runner_pod_schema()
    return json.dumps(schema, indent=2) + "\n"


def readme_text() -> str:
    """charts/bulletin/README.md with the table between the markers regenerated."""
    text = README.read_text()
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    return f"{head}{BEGIN}\n{values_table(VALUES.read_text())}{END}{tail}"


def main() -> int:
    """Rewrite the generated parts, or with --check list the stale ones and fail."""
    stale = [(p, t) for p, t in ((SCHEMA, schema_text()), (README, readme_text()))
             if p.read_text() != t]
    if "--check" in sys.argv[1:]:
        for path, _ in stale:
            print(f"{path} is out of date: run `python tests/chartdocs.py`", file=sys.stderr)
        return 1 if stale else 0
    for path, text in stale:
        path.write_text(text)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
