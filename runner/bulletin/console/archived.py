"""The console's run archive and downloads: a schedule's runs beyond the status window, one
run's files streamed from its storage target, and the audit of who fetched them. Every read
of the archive is for a schedule the user may `get` (a SelfSubjectAccessReview as them); the
storage Secret is read as the user, so RBAC decides who downloads, as for `kubectl bulletin
link`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse

from bulletin.api.history import history_limit
from bulletin.console import reads, runs
from bulletin.console.access import can
from bulletin.console.views import took
from bulletin.plugin.tables import human_duration

if TYPE_CHECKING:
    from bulletin.console.pages import Pages

PER_PAGE = 50
DAYS = 90
CHUNK = 256 * 1024


async def history(pages: Pages, request: Request) -> Response:
    """A schedule's archived runs over the last DAYS days, newest first, a page at a time."""
    who, p = pages.who(request), request.path_params
    asked = request.query_params.get("page", "")
    number = max(int(asked), 1) if asked.isdigit() else 1

    def work() -> HTMLResponse:
        kube, archive = pages.kube(who, p["namespace"]), pages.console.archive
        if archive is None:
            limit = history_limit(kube.get(p["name"]))
            return pages.render(request, "error.html", 404, who, title="No run archive",
                                message=runs.note(pages.console, limit))
        if not can(kube, "get", p["name"]):
            return pages.render(request, "error.html", 403, who, message=(
                f"You may not get reportschedule {p['name']} in {p['namespace']}."))
        now = datetime.now(UTC)
        since = now - timedelta(days=DAYS)
        found = archive.runs(kube.namespace, p["name"], since, PER_PAGE + 1,
                             (number - 1) * PER_PAGE)
        return pages.render(request, "history.html", who=who, namespace=p["namespace"],
                            name=p["name"], runs=[a.record for a in found[:PER_PAGE]],
                            page=number, more=len(found) > PER_PAGE, days=DAYS,
                            summary=archive.stats(kube.namespace, p["name"], since), now=now,
                            took=took, seconds=_seconds)

    return await pages.guarded(request, who, work)


def _client_of(pages: Pages, request: Request) -> str:
    """Where the request came from: the proxy's X-Forwarded-For with auth header."""
    forwarded = request.headers.get("x-forwarded-for", "")
    if pages.console.access.mode == "header" and forwarded:
        return forwarded.split(",")[0].strip()
    return request.client.host if request.client else "unknown"


async def download(pages: Pages, request: Request) -> Response:
    """Stream one file of a run from the schedule's storage target, read as the user; the
    download is recorded in the archive's audit."""
    from bulletin.links import LinkError, SecretDenied, store_of

    who, p = pages.who(request), request.path_params

    def prepare() -> Response:
        kube = pages.kube(who, p["namespace"])
        obj = kube.get(p["name"])
        found = runs.find_run(pages.console, kube, obj, p["name"], p["run"])
        keys = [k for k in (found.keys if found else []) if k.rsplit("/", 1)[-1] == p["file"]]
        if not keys:
            return pages.render(request, "error.html", 404, who, message=(
                f"Run {p['run']} of {p['name']} has no file {p['file']}."))
        try:
            store = store_of(kube.api, kube.namespace, obj)
            body = store.client.get_object(Bucket=store.storage.bucket, Key=keys[0])
        except SecretDenied as exc:
            return pages.render(request, "error.html", 403, who, title="Download not allowed",
                                message=(f"Downloads need the storage credentials: you may not"
                                         f" get Secret {exc.where} (kubectl auth can-i get"
                                         f" secret/{exc.where.split('/')[1]} -n"
                                         f" {p['namespace']})."))
        except LinkError as exc:
            return pages.render(request, "error.html", 502, who, message=str(exc))
        except Exception as exc:
            return pages.render(request, "error.html", 502, who, message=(
                f"{p['file']} could not be read from storage ({type(exc).__name__})."))
        if pages.console.archive is not None:
            try:
                pages.console.archive.record_access(pages.user_of(who), "download",
                                                    kube.namespace, p["name"], p["run"],
                                                    keys[:1], _client_of(pages, request))
            except SQLAlchemyError:  # every download is audited: none without the record
                body["Body"].close()
                return pages.render(request, "error.html", 503, who, message=(
                    "The run archive did not answer, and downloads are recorded there: try"
                    " again later."))
        headers = {"Content-Disposition": "attachment; filename*=UTF-8''"
                   + quote(keys[0].rsplit("/", 1)[-1]), "Cache-Control": "no-store"}
        if body.get("ContentLength") is not None:
            headers["Content-Length"] = str(body["ContentLength"])
        return StreamingResponse(_chunks(body["Body"]), headers=headers,
                                 media_type=body.get("ContentType") or "application/octet-stream")

    try:
        return await run_in_threadpool(prepare)
    except SQLAlchemyError:
        return pages.render(request, "error.html", 503, who,
                            message="The run archive did not answer; try again later.")
    except reads.api_errors() as exc:
        code = reads.status_code(exc) or 502
        return pages.render(request, "error.html", code if code < 600 else 502, who,
                            message=f"{p['name']}: HTTP {code}")


def _chunks(body: Any) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(CHUNK)
    finally:
        body.close()



def _seconds(value: float | None) -> str:
    return "\u2014" if value is None else human_duration(value)
