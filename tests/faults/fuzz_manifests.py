"""ReportSchedule specs for the fuzz test: drawn from the CRD's own openAPIV3Schema (with
hypothesis-jsonschema, sizes bounded) and mutations of valid specs (examples/ and the tests'),
generated reproducibly from one seed."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from support import report_schedule

ROOT = Path(__file__).resolve().parents[2]
CRD = ROOT / "crds" / "bulletin.dev_reportschedules.yaml"
Spec = dict[str, Any]
Path_ = tuple[str | int, ...]
_DROPPED = {"description", "default", "nullable", "format"}
_MATCHES = re.compile(r'^self\.matches\(r?"(.*)"\)$')  # a CEL rule that is a pattern
_ONE_OF = re.compile(r"^\[((?:has\(self\.\w+\)[^,\]]*,?\s*)+)\]\.filter\(x, x\)\.size\(\) == 1")


def crd_spec_schema() -> dict[str, Any]:
    """The CRD's openAPIV3Schema of spec, as served."""
    crd = yaml.safe_load(CRD.read_text())
    [version] = [v for v in crd["spec"]["versions"] if v.get("served")]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return schema


def bounded(node: dict[str, Any]) -> dict[str, Any]:
    """A plain JSON schema of a structural one: Kubernetes extensions dropped, unknown fields
    closed (the API server prunes or refuses them), strings, lists and maps kept small."""
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-") or key in _DROPPED:
            continue
        if key == "properties":
            out[key] = {name: bounded(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = bounded(value)
        else:
            out[key] = value
    for rule in node.get("x-kubernetes-validations", []):
        if (found := _MATCHES.match(rule["rule"])) and "pattern" not in out:
            out["pattern"] = found[1]
        elif (found := _ONE_OF.match(rule["rule"])) and "properties" in out:
            out["x-one-of"] = re.findall(r"has\(self\.(\w+)\)", found[1])
    kind = out.get("type")
    if kind == "string" and "enum" not in out:
        out["maxLength"] = max(min(out.get("maxLength", 24), 24), out.get("minLength", 0))
    elif kind == "array":
        out["maxItems"] = max(min(out.get("maxItems", 2), 2), out.get("minItems", 0))
    elif kind == "object":
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = node.get("x-kubernetes-preserve-unknown-fields", False)
        out["maxProperties"] = max(out.get("maxProperties", 0),
                                   len(out.get("required", [])) + 3)
    return out


def schema_specs() -> st.SearchStrategy[Spec]:
    """Specs valid by the CRD's schema (not by its CEL rules nor the operator's checks)."""
    return _composed(bounded(crd_spec_schema()))


def _composed(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """from_schema for the leaves, composed along the objects and lists: hypothesis-jsonschema
    on the whole spec re-merges every nested schema on each draw (about a second each)."""
    kind, items = schema.get("type"), schema.get("items")
    if kind == "object" and "properties" in schema:
        required = set(schema.get("required", []))
        one_of = schema.get("x-one-of", [])  # a CEL rule: exactly one of these fields
        fields = {name: _composed(sub) for name, sub in schema["properties"].items()}
        must = {name: value for name, value in fields.items() if name in required}
        optional = {name: value for name, value in fields.items()
                    if name not in required and name not in one_of}
        if not one_of:
            return st.fixed_dictionaries(must, optional=optional)
        return st.sampled_from(one_of).flatmap(lambda chosen: st.fixed_dictionaries(
            {**must, chosen: fields[chosen]}, optional=optional))
    if kind == "array" and isinstance(items, dict) and items.get("type") in ("object", "array"):
        return st.lists(_composed(items), min_size=schema.get("minItems", 0),
                        max_size=schema["maxItems"])
    return from_schema(schema)


def valid_specs() -> list[Spec]:
    """Known-good specs: the examples' and the tests' (support.report_schedule and presets)."""
    found = [doc["spec"] for path in sorted((ROOT / "examples").glob("*.yaml"))
             for doc in yaml.safe_load_all(path.read_text())
             if isinstance(doc, dict) and doc.get("kind") == "ReportSchedule"]
    base = report_schedule("x")["spec"]
    presets: list[dict[str, Any]] = [
        {"daily": {"at": "07:30"}, "staggerMinutes": 15},
        {"monthly": {"lastDay": True, "at": "06:00"}},
        {"monthly": {"weekday": "TUE", "occurrence": "Second", "at": "23:59"}},
        {"cron": "H 3 * * *", "timeZone": "America/New_York"}]
    found += [base, *({**base, "schedule": {"timeZone": "UTC", **p}} for p in presets)]
    return found


def _paths(node: Any, path: Path_ = ()) -> Iterator[tuple[Path_, Any]]:
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*path, index))


def _set(spec: Spec, path: Path_, value: Any) -> Spec:
    out = copy.deepcopy(spec)
    node: Any = out
    for step in path[:-1]:
        node = node[step]
    if value is _DROP:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return out


_DROP = object()
_WRONG = st.sampled_from([None, True, -1, 3.5, "text", [], {}, ["x"], {"x": 1}])
_BAD_CRON = st.one_of(st.sampled_from(["", "* * *", "61 * * * *", "* 25 * * *", "0 9 * * MON-",
                                       "0 9 31 2 *", "@sometimes", "H H H H H", "*/0 * * * *"]),
                      st.text(alphabet="0123456789*/,-H? MONTUE", max_size=20))
_BAD_ZONE = st.one_of(st.sampled_from(["Mars/Olympus", "UTC+25", "Europe/", "../etc/passwd",
                                       "Europe/Berlin\n", " UTC", "X" * 64]),
                      st.text(max_size=30))
_NUMBERS = st.sampled_from([-(2 ** 63), -1, 0, 10 ** 6, 2 ** 31, 2 ** 53 + 1, 10 ** 30])


def _mutation(spec: Spec) -> st.SearchStrategy[tuple[str, Spec]]:
    paths = [(p, v) for p, v in _paths(spec) if p]
    containers = [p for p, v in _paths(spec) if isinstance(v, dict)]
    numbers = [p for p, v in paths if isinstance(v, int) and not isinstance(v, bool)] or [
        ("startingDeadlineSeconds",)]
    strings = [p for p, v in paths if isinstance(v, str)]
    keyed = [p for p, _v in paths if isinstance(p[-1], str)]
    kinds: list[tuple[str, Callable[[], st.SearchStrategy[Spec]]]] = [
        ("drop", lambda: st.sampled_from(keyed).map(lambda p: _set(spec, p, _DROP))),
        ("type", lambda: st.tuples(st.sampled_from([p for p, _v in paths]), _WRONG).map(
            lambda pv: _set(spec, *pv))),
        ("range", lambda: st.tuples(st.sampled_from(numbers), _NUMBERS).map(
            lambda pv: _set(spec, *pv))),
        ("cron", lambda: _BAD_CRON.map(
            lambda c: _set(spec, ("schedule",), {"cron": c, "timeZone": "UTC"}))),
        ("zone", lambda: _BAD_ZONE.map(lambda z: _set(spec, ("schedule", "timeZone"), z))),
        ("huge", lambda: st.tuples(st.sampled_from(strings),
                                   st.sampled_from([300, 70_000, 300_000])).map(
            lambda pn: _set(spec, pn[0], "x" * pn[1]))),
        ("unknown", lambda: st.tuples(st.sampled_from(containers),
                                      st.from_regex(r"\A[a-z][a-zA-Z]{0,12}\Z")).map(
            lambda pk: _set(spec, (*pk[0], pk[1]), "surprise")
            if pk[1] not in _at(spec, pk[0]) else _set(spec, (*pk[0], "zzUnknown"), 1))),
        ("dangling", lambda: st.tuples(st.sampled_from(sorted(_DATASET_FIELDS)),
                                       st.from_regex(r"\A[a-z]{1,8}\Z")).map(
            lambda fn: _dangle(spec, *fn))),
    ]
    return st.sampled_from(kinds).flatmap(lambda kind: kind[1]().map(lambda s: (kind[0], s)))


# Fields naming a dataset (bulletin.api.datasetrefs), each as the spec fragment naming `name`.
_DATASET_FIELDS: dict[str, Callable[[str], Spec]] = {
    "summaryDataset": lambda name: {"report": {"summaryDataset": name}},
    "chart": lambda name: {"report": {"charts": [{"kind": "bar", "dataset": name, "x": "a",
                                                   "y": ["b"]}]}},
    "columns": lambda name: {"report": {"columns": {name: [{"name": "a", "type": "text"}]}}},
    "minRows": lambda name: {"gates": {"minRows": [{"dataset": name, "min": 1}]}},
}


def _dangle(spec: Spec, field: str, name: str) -> Spec:
    """``spec`` with ``field`` naming a dataset that is not there (a dangling reference)."""
    out = copy.deepcopy(spec)
    for key, value in _DATASET_FIELDS[field]("zz" + name).items():
        out[key] = {**out.get(key, {}), **value}
    return out


def _at(spec: Spec, path: Path_) -> Any:
    node: Any = spec
    for step in path:
        node = node[step]
    return node


def mutations() -> st.SearchStrategy[tuple[str, Spec]]:
    """(kind of mutation, spec) from one valid spec."""
    return st.sampled_from(valid_specs()).flatmap(_mutation)


def draw(strategy: st.SearchStrategy[Any], count: int, seed_value: int,
         each: Callable[[Any], None] | None = None) -> list[Any]:
    """``count`` examples of ``strategy`` (fewer if it runs dry), the same for the same seed;
    ``each`` is called with every example as it is drawn."""
    found: list[Any] = []

    @seed(seed_value)
    @settings(max_examples=count, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(example: Any) -> None:
        if len(found) < count:
            found.append(example)
            if each is not None:
                each(example)

    collect()
    return found
