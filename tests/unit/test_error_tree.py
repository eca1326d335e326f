"""One error tree: every exception Bulletin defines descends from BulletinError, each reason
has a hint, and a failed run records its family's reason."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

import bulletin
import bulletin_operator
import pytest
from bulletin.api.errors import HINTS, RETRIED, BulletinError, Reason, SpecError, reason_of
from bulletin.api.spec import ReportScheduleSpec
from bulletin.query import QueryError
from bulletin.render.templates import TemplateFailure
from bulletin.sources.prometheus import PrometheusError
from pydantic import ValidationError


def _exception_classes() -> dict[str, list[type[BaseException]]]:
    found: dict[str, list[type[BaseException]]] = {}
    for package in (bulletin, bulletin_operator):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if info.name.endswith("__main__"):
                continue
            module = importlib.import_module(info.name)
            for name, obj in vars(module).items():
                if (inspect.isclass(obj) and issubclass(obj, BaseException)
                        and obj.__module__ == module.__name__):
                    found.setdefault(name, []).append(obj)
    return found


def test_every_exception_class_is_in_the_tree_and_named_once() -> None:
    found = _exception_classes()
    assert len(found) > 20  # the walk reached the packages
    outside = sorted(f"{c.__module__}.{n}" for n, cs in found.items() for c in cs
                     if not issubclass(c, BulletinError))
    # SIGTERM's unwinding is no failure: a BaseException, so that no handler records it.
    assert outside == ["bulletin.shutdown.Terminated"]
    assert not issubclass(found["Terminated"][0], Exception)
    assert {n: [c.__module__ for c in cs] for n, cs in found.items() if len(cs) > 1} == {}


def test_every_reason_has_a_hint() -> None:
    assert set(HINTS) == set(Reason)
    assert all(hint and not hint.endswith(".") for hint in HINTS.values())


@pytest.mark.parametrize(("error", "reason"), [
    (QueryError("dataset 'x': query failed: no such table"), Reason.QUERY_FAILED),
    (PrometheusError("Prometheus (p): HTTP 401"), Reason.PROMQL_FAILED),
    (TemplateFailure("template report.html, line 2: unexpected '}'"), Reason.RENDER_FAILED),
    (SpecError("spec.period: unknown"), Reason.SPEC_INVALID),
    (KeyError("a bug"), Reason.INTERNAL_ERROR),
])
def test_a_failure_maps_to_its_familys_reason(error: Exception, reason: Reason) -> None:
    assert reason_of(error) is reason


def test_an_invalid_spec_is_spec_invalid() -> None:
    with pytest.raises(ValidationError) as caught:
        ReportScheduleSpec.model_validate({"schedule": {"cron": "not a cron"}})
    assert reason_of(caught.value) is Reason.SPEC_INVALID


def test_the_tree_module_is_the_only_place_families_are_defined() -> None:
    """Families (direct subclasses of the root) live in bulletin.api.errors only."""
    root = Path(bulletin.__file__).parent / "api" / "errors.py"
    families = {c for c in BulletinError.__subclasses__()}
    assert {inspect.getsourcefile(c) for c in families} == {str(root)}


def test_the_console_run_page_shows_the_hint_of_the_runs_reason() -> None:
    from datetime import UTC, datetime

    from bulletin.api.status import RunRecord, RunResult, Trigger
    from bulletin.console.app import templates
    from bulletin.console.runs import Found

    failure = QueryError("dataset 'usage': query failed: no such table: nope")
    record = RunRecord(run_id="r1", trigger=Trigger.SCHEDULED,
                       start_time=datetime(2026, 1, 5, tzinfo=UTC), result=RunResult.FAILED,
                       message=str(failure), reason=reason_of(failure))
    page = templates().get_template("run.html")
    found = Found(record=record, source="status", keys=[], audit=[])
    html = page.render(run=record, result="Failed", namespace="team-a", name="weekly",
                       took="1 s", period="last week", who=None, csrf="token", found=found)
    assert ("<p class=\"hint\"><strong>How to fix:</strong> check the dataset&#39;s SQL and"
            " that the database in spec.source.connectionSecretRef is reachable.</p>") in html
    succeeded = record.model_copy(update={"result": RunResult.SUCCEEDED, "reason": None,
                                          "message": None})
    assert "How to fix" not in page.render(run=succeeded, result="Succeeded",
                                           namespace="team-a", name="weekly", took="1 s",
                                           period="last week", who=None, csrf="token",
                                           found=found)


def test_docs_list_every_reason_with_its_hint() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "operating.md").read_text()
    for reason, hint in HINTS.items():
        assert f"| `{reason.value}` | {'yes' if reason in RETRIED else 'no'} | {hint}. |" in text
