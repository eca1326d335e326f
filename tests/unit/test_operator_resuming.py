"""The startup pass: which schedules kopf need not resume one by one."""

from __future__ import annotations

import threading
from typing import Any

from bulletin_operator.resuming import up_to_date


def schedule(uid: str) -> dict[str, Any]:
    return {"metadata": {"uid": uid, "namespace": "team", "name": f"r-{uid}"}}


def test_only_schedules_the_check_passes_are_left_out_of_kopfs_resume() -> None:
    pages = [[schedule("a"), schedule("b")], [schedule("c")], []]
    found, checked = up_to_date(iter(pages), lambda obj: obj["metadata"]["uid"] != "b",
                                threads=4)
    assert (found, checked) == ({"a", "c"}, 3)


def test_a_check_that_raises_leaves_the_schedule_to_kopf() -> None:
    def check(obj: dict[str, Any]) -> bool:
        if obj["metadata"]["uid"] == "b":
            raise ConnectionError("API server gone")
        return True

    found, checked = up_to_date([[schedule("a"), schedule("b")]], check, threads=2)
    assert (found, checked) == ({"a"}, 2)


def test_pages_are_read_one_at_a_time() -> None:
    """A page is fetched only once the one before it is checked (memory stays one page)."""
    checked: list[str] = []
    lock = threading.Lock()

    def pages() -> Any:
        for first in ("a", "c"):
            with lock:
                before = list(checked)
            yield [schedule(first), schedule(chr(ord(first) + 1))]
            with lock:
                assert len(checked) == len(before) + 2, "the page was checked before the next"

    def check(obj: dict[str, Any]) -> bool:
        with lock:
            checked.append(obj["metadata"]["uid"])
        return True

    found, count = up_to_date(pages(), check, threads=3)
    assert (found, count) == ({"a", "b", "c", "d"}, 4)
    assert sorted(checked) == ["a", "b", "c", "d"]
