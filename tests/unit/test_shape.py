"""tests/shape.py finds what it must (and the product passes it, as `make lint` runs it)."""

from __future__ import annotations

import shape


def test_the_product_keeps_its_shape() -> None:
    assert shape.offenders() == []


def test_a_long_module_and_a_long_function_are_found() -> None:
    package = shape.ROOT / "tests" / ".shape-probe"
    package.mkdir(exist_ok=True)
    try:
        body = "\n".join(f"    x{i} = {i}" for i in range(61))
        (package / "long.py").write_text(f"def long():\n{body}\n" + "\n" * 237
                                         + "class Twice:\n    pass\n")
        (package / "other.py").write_text("class Twice:\n    pass\n")
        found = shape.offenders((package,))
    finally:
        for path in package.glob("*"):
            path.unlink()
        package.rmdir()
    assert found == ["tests/.shape-probe/long.py: 301 lines (at most 300)",
                     "tests/.shape-probe/long.py:1 long(): 62 lines (at most 60)",
                     "class Twice defined 2 times: tests/.shape-probe/long.py,"
                     " tests/.shape-probe/other.py"]


def test_a_status_read_by_its_wire_keys_is_found_outside_the_gateways() -> None:
    package = shape.ROOT / "tests" / ".shape-probe-status"
    package.mkdir(exist_ok=True)
    try:
        (package / "reader.py").write_text(
            'def last(obj):\n'
            '    status = obj.get("status") or {}\n'
            '    return status["lastRun"], status.get("consecutiveFailures"), obj["spec"]\n')
        found = shape.offenders((package,))
    finally:
        for path in package.glob("*"):
            path.unlink()
        package.rmdir()
    where = "tests/.shape-probe-status/reader.py"
    assert found == [f"{where}:{line} reads status by its wire key {key!r}: use the models of"
                     " bulletin.api.status"
                     for line, key in ((2, "status"), (3, "consecutiveFailures"), (3, "lastRun"))]
    assert {"lastRun", "history", "conditions", "runId", "nextRunTime"} <= shape.status_keys()
