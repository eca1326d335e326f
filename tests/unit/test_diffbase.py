"""kopf's diff-base read from status: what the operator handled, without a write of its own."""

from __future__ import annotations

from typing import Any, cast

import kopf
from bulletin.api.linkrequest import LinkRequest, request_annotations
from bulletin.api.runrequest import RUN_REQUEST_ANNOTATION
from bulletin_operator.diffbase import StatusDiffBaseStorage, _digest
from kopf._cogs.structs import diffs

STORAGE = StatusDiffBaseStorage()


def _body(generation: int = 2, status: dict[str, Any] | None = None,
          annotations: dict[str, str] | None = None, spec: dict[str, Any] | None = None
          ) -> kopf.Body:
    raw = {"apiVersion": "bulletin.dev/v1alpha1", "kind": "ReportSchedule",
           "metadata": {"name": "r", "namespace": "n", "generation": generation,
                        "annotations": annotations or {"team": "a"}},
           "spec": spec or {"schedule": {"cron": "0 9 * * *"}}, "status": status or {}}
    return kopf.Body(cast(kopf.RawBody, raw))


def _diff(body: kopf.Body) -> list[tuple[str, ...]]:
    old = STORAGE.fetch(body=body)
    assert old is not None
    return [tuple(op[1]) for op in diffs.diff(old, STORAGE.build(body=body))]


def test_never_handled_is_a_creation() -> None:
    assert STORAGE.fetch(body=_body(status={"lastRun": {"runId": "x"}})) is None


def test_observed_generation_means_nothing_changed() -> None:
    assert _diff(_body(status={"observedGeneration": 2})) == []


def test_a_new_generation_is_a_spec_change() -> None:
    assert _diff(_body(generation=3, status={"observedGeneration": 2})) == [("spec", "digest")]


def test_a_run_request_not_yet_echoed_is_a_metadata_change() -> None:
    token = {RUN_REQUEST_ANNOTATION: "t2", "team": "a"}
    assert _diff(_body(status={"observedGeneration": 2}, annotations=token)) == [
        ("metadata", "digest")]
    assert _diff(_body(status={"observedGeneration": 2, "lastRunRequest": "t1"},
                       annotations=token)) == [("metadata", "digest")]
    assert _diff(_body(status={"observedGeneration": 2, "lastRunRequest": "t2"},
                       annotations=token)) == []


def test_a_link_request_not_yet_recorded_is_a_metadata_change() -> None:
    request = LinkRequest(token="0123456789abcdef", run_id="r-1", keys=["a/b.csv"])
    asked = {**request_annotations(request, "alice"), "team": "a"}
    assert _diff(_body(status={"observedGeneration": 2}, annotations=asked)) == [
        ("metadata", "digest")]
    assert _diff(_body(status={"observedGeneration": 2, "lastLinkRequest": "fedcba9876543210"},
                       annotations=asked)) == [("metadata", "digest")]
    assert _diff(_body(status={"observedGeneration": 2, "lastLinkRequest": "0123456789abcdef"},
                       annotations=asked)) == []


def test_nothing_is_stored() -> None:
    body, patch = _body(status={"observedGeneration": 2}), kopf.Patch()
    STORAGE.store(body=body, patch=patch, essence=STORAGE.build(body=body))
    assert not patch


def test_the_essence_is_digests_whatever_the_spec_size() -> None:
    body = _body(spec={"datasets": [{"query": "x" * 65536}] * 20})
    assert len(str(STORAGE.build(body=body))) < 300


def test_the_essence_digests_what_kopfs_own_build_keeps() -> None:
    """Built without copying the body, yet from the same fields as kopf's build(): status,
    system fields, kopf storages' and last-applied annotations left out; empty stanzas too."""
    cases = [
        _body(status={"observedGeneration": 2, "history": [{"runId": "x"}]}),
        _body(annotations={"kopf.bulletin.dev/kopf-managed": "yes",
                           "kopf.bulletin.dev/last-handled": "{}",
                           "kubectl.kubernetes.io/last-applied-configuration": "{}",
                           "team": "a"}),
        _body(annotations={"kubectl.kubernetes.io/last-applied-configuration": "{}"}),
        kopf.Body(cast(kopf.RawBody, {"metadata": {"name": "r", "labels": {"a": "b"}},
                                      "spec": {}, "data": {"x": 1}})),
    ]
    for body in cases:
        for extra in [None, [("spec",)], ["spec.schedule"], [("status", "observedGeneration")],
                      ["metadata.name"]]:
            kopfs = kopf.AnnotationsDiffBaseStorage().build(body=body, extra_fields=extra)
            wanted = {key: {"digest": _digest(value)} for key, value in dict(kopfs).items()}
            assert dict(STORAGE.build(body=body, extra_fields=extra)) == wanted
