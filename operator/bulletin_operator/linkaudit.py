"""The audit of `kubectl bulletin link`: the plugin writes a link request (two annotations)
and prints its links only once the operator has recorded them in the run archive and echoed
the request's token in status.lastLinkRequest. The requester is the user the API server
authenticated: the chart's ValidatingAdmissionPolicy refuses any other name."""

from __future__ import annotations

from typing import Any

import kopf
from bulletin.api.linkrequest import LINK_CLIENT, read_request, requested_token
from bulletin.api.status import ReportScheduleStatus

from bulletin_operator.kinds import RESOURCE, RETRY_SECONDS


def _link_requested(annotations: kopf.Annotations, status: kopf.Status, **_: Any) -> bool:
    token = requested_token(annotations)
    return token is not None and token != ReportScheduleStatus.parse(
        status, only=("last_link_request",)).last_link_request


@kopf.on.resume(*RESOURCE, when=_link_requested, backoff=RETRY_SECONDS)
@kopf.on.create(*RESOURCE, when=_link_requested, backoff=RETRY_SECONDS)
@kopf.on.update(*RESOURCE, when=_link_requested, backoff=RETRY_SECONDS)
def audit_link_request(namespace: str | None, name: str, annotations: kopf.Annotations,
                       patch: kopf.Patch, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Record the request in the run archive (an outage fails the handler: kopf tries again
    and the plugin keeps waiting), then echo its token. Without an archive, nothing records
    links: the echo alone lets the plugin print them, as it does when it finds none."""
    assert namespace is not None
    audited = read_request(annotations)
    request, archiver = audited.request, memo.get("archiver")
    if archiver is not None:
        archiver.record_links(audited.user, namespace, name, request.run_id, request.keys,
                              LINK_CLIENT)
        kopf.info(body, reason="LinksIssued", message=f"{audited.user} was handed links to"
                  f" {len(request.keys)} file(s) of run {request.run_id} (in the run archive)")
    patch.status.update(ReportScheduleStatus(last_link_request=request.token).model_dump(
        by_alias=True, include={"last_link_request"}))
