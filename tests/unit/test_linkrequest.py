"""Link audit requests: what `kubectl bulletin link` writes is what the operator reads, and a
malformed or half request is refused with a message that says what is expected."""

from __future__ import annotations

import json

import pytest
from bulletin.api.linkrequest import (
    LINK_REQUEST_ANNOTATION,
    LINK_REQUESTED_BY_ANNOTATION,
    LinkRequest,
    read_request,
    request_annotations,
    requested_token,
)


def test_the_request_written_is_the_request_read() -> None:
    request = LinkRequest(token="0123456789abcdef", run_id="sales-29999999",
                          keys=["reports/sales/2026-12/sales.pdf"])
    annotations = request_annotations(request, "system:serviceaccount:team:bot")
    audited = read_request(annotations)
    assert (audited.request, audited.user) == (request, "system:serviceaccount:team:bot")
    assert json.loads(annotations[LINK_REQUEST_ANNOTATION])["runId"] == "sales-29999999"
    assert requested_token(annotations) == "0123456789abcdef"


@pytest.mark.parametrize(("annotations", "needle"), [
    ({LINK_REQUEST_ANNOTATION: '{"token": "0123456789abcdef", "runId": "r", "keys": ["k"]}'},
     "go together"),
    ({LINK_REQUEST_ANNOTATION: "not json", LINK_REQUESTED_BY_ANNOTATION: "alice"}, "JSON like"),
    ({LINK_REQUEST_ANNOTATION: '{"token": "x", "runId": "r", "keys": ["k"]}',
      LINK_REQUESTED_BY_ANNOTATION: "alice"}, "token"),
    ({LINK_REQUEST_ANNOTATION: '{"token": "0123456789abcdef", "runId": "r", "keys": []}',
      LINK_REQUESTED_BY_ANNOTATION: "alice"}, "keys"),
])
def test_a_malformed_request_is_refused(annotations: dict[str, str], needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        read_request(annotations)
    assert requested_token(annotations) is None
