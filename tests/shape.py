"""The house's shape, checked by `make lint`: no product module over MAX_LINES lines and no
function over MAX_FUNCTION lines (docstring and decorators' lines included, from `def` to its
last line), no two top-level classes of one name (distinct things get distinct names), and no
ReportSchedule status read by its wire keys (``obj["status"]``, ``.get("lastRun")``) outside
STATUS_GATEWAYS: everywhere else status is the models of bulletin.api.status.
Prints each offender; exit 1 when there is one."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = (ROOT / "runner" / "bulletin", ROOT / "operator" / "bulletin_operator")
MAX_LINES = 300
MAX_FUNCTION = 60
# Where status may be handled in its wire form (camelCase keys), and why.
STATUS_GATEWAYS = {
    "runner/bulletin/api/client.py": "reads and writes status over the wire",
    "runner/bulletin/api/status.py": "parses status into its models (StatusView.of)",
    "operator/bulletin_operator/jobs.py": "a Job's and a Pod's status, not a ReportSchedule's",
    "runner/bulletin/sources/prometheus.py": "the status of a Prometheus API reply",
}


def status_keys() -> frozenset[str]:
    """The wire keys of status: "status" itself, its lists, and every camelCase field name of
    the status models (timeZone is spec's too, and stays out)."""
    sys.path.insert(0, str(ROOT / "runner"))
    from bulletin.api import status
    from pydantic import BaseModel

    models = [m for m in vars(status).values() if isinstance(m, type)
              and issubclass(m, BaseModel) and m.__module__ == status.__name__]
    camel = {f.alias for m in models for f in m.model_fields.values()
             if f.alias and f.alias != f.alias.lower()}
    return frozenset({"status", "history", "conditions", *camel} - {"timeZone"})


def status_reads(tree: ast.AST, keys: frozenset[str]) -> list[tuple[int, str]]:
    """(line, key) of each ``x["key"]`` and ``x.get("key")`` of a status key in ``tree``."""
    found = []
    for node in ast.walk(tree):
        key: ast.AST | None = None
        if isinstance(node, ast.Subscript):
            key = node.slice
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr in ("get", "pop", "setdefault") and node.args):
            key = node.args[0]
        if isinstance(key, ast.Constant) and key.value in keys:
            found.append((key.lineno, str(key.value)))
    return found


def offenders(roots: tuple[Path, ...] = PRODUCT) -> list[str]:
    """One line per module or function over its limit."""
    found: list[str] = []
    classes: dict[str, list[str]] = {}
    keys = status_keys()
    for path in sorted(p for root in roots for p in root.rglob("*.py")):
        source = path.read_text()
        where = path.relative_to(ROOT)
        if str(where) not in STATUS_GATEWAYS:
            reads = sorted(status_reads(ast.parse(source), keys))
            found += [f"{where}:{line} reads status by its wire key {key!r}: use the models of"
                      " bulletin.api.status" for line, key in reads]
        for top in ast.parse(source).body:
            if isinstance(top, ast.ClassDef):
                classes.setdefault(top.name, []).append(str(where))
        if (lines := len(source.splitlines())) > MAX_LINES:
            found.append(f"{where}: {lines} lines (at most {MAX_LINES})")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION:
                    found.append(f"{where}:{node.lineno} {node.name}(): {length} lines"
                                 f" (at most {MAX_FUNCTION})")
    found += [f"class {name} defined {len(where)} times: {', '.join(where)}"
              for name, where in sorted(classes.items()) if len(where) > 1]
    return found


def main() -> int:
    found = offenders()
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
