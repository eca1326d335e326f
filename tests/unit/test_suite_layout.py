"""The suite's own layout: pytest imports test modules by basename (rootdir-relative, no
packages), so two test files of one name in different folders stop the whole run."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_test_module_basenames_are_unique() -> None:
    names = Counter(p.name for p in TESTS.rglob("test_*.py") if ".shape-probe" not in p.parts)
    assert len(names) > 100  # the walk found the suite
    assert [name for name, count in names.items() if count > 1] == []
