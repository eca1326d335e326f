"""Link audit requests: `kubectl bulletin link` asks the operator, through two annotations on
the ReportSchedule, to record the links it is about to print in the run archive. The chart's
ValidatingAdmissionPolicy (bulletin-link-requester) lets a user write only their own name in
LINK_REQUESTED_BY, so the operator records a requester the API server authenticated."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated

from pydantic import Field, ValidationError

from bulletin.api.base import ApiModel
from bulletin.api.spec import GROUP

LINK_REQUEST_ANNOTATION = f"{GROUP}/link-request"
LINK_REQUESTED_BY_ANNOTATION = f"{GROUP}/link-requested-by"
LINK_CLIENT = "kubectl bulletin link"


class LinkRequest(ApiModel):
    """One request (annotation bulletin.dev/link-request, JSON): the links of ``keys`` of run
    ``runId``, named by a fresh token the operator echoes in status.lastLinkRequest."""

    token: Annotated[str, Field(min_length=8, max_length=64, pattern=r"^[a-z0-9-]+$")]
    run_id: Annotated[str, Field(min_length=1, max_length=63)]
    keys: Annotated[list[Annotated[str, Field(max_length=1024)]],
                    Field(min_length=1, max_length=100)]


class AuditedLinks(ApiModel):
    """A request and the user the API server authenticated when it was written."""

    request: LinkRequest
    user: str


def request_annotations(request: LinkRequest, user: str) -> dict[str, str]:
    """The two annotations `kubectl bulletin link` writes, as ``user``."""
    return {LINK_REQUEST_ANNOTATION: request.model_dump_json(by_alias=True),
            LINK_REQUESTED_BY_ANNOTATION: user}


def requested_token(annotations: Mapping[str, str]) -> str | None:
    """The token of the request in ``annotations`` (None: none, or not readable)."""
    if LINK_REQUEST_ANNOTATION not in annotations:
        return None
    try:
        return read_request(annotations).request.token
    except ValueError:
        return None


def read_request(annotations: Mapping[str, str]) -> AuditedLinks:
    """The request and its user; ValueError with a readable message when malformed."""
    raw, user = annotations.get(LINK_REQUEST_ANNOTATION), annotations.get(
        LINK_REQUESTED_BY_ANNOTATION)
    if not raw or not user:
        raise ValueError(f"annotations {LINK_REQUEST_ANNOTATION} and"
                         f" {LINK_REQUESTED_BY_ANNOTATION} go together")
    try:
        return AuditedLinks(request=LinkRequest.model_validate(json.loads(raw)), user=user)
    except (json.JSONDecodeError, ValidationError) as exc:
        raise ValueError(f"annotation {LINK_REQUEST_ANNOTATION} must be JSON like"
                         ' {"token": "...", "runId": "...", "keys": ["..."]}, as `kubectl'
                         f" bulletin link` writes it: {exc}") from exc
