"""The house's shape, checked by `make lint`: no product module over MAX_LINES lines and no
function over MAX_FUNCTION lines (docstring and decorators' lines included, from `def` to its
last line), and no two top-level classes of one name (distinct things get distinct names).
Prints each offender; exit 1 when there is one."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = (ROOT / "runner" / "bulletin", ROOT / "operator" / "bulletin_operator")
MAX_LINES = 300
MAX_FUNCTION = 60


def offenders(roots: tuple[Path, ...] = PRODUCT) -> list[str]:
    """One line per module or function over its limit."""
    found: list[str] = []
    classes: dict[str, list[str]] = {}
    for path in sorted(p for root in roots for p in root.rglob("*.py")):
        source = path.read_text()
        where = path.relative_to(ROOT)
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
