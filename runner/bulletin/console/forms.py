"""The console's POSTs: every one must carry its browser's CSRF token and come from this
origin; actions run as the requesting user, sign-in checks the token with the API server."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bulletin.console import actions, csrf
from bulletin.console.access import TOKEN_COOKIE, Identity, whoami
from bulletin.console.core import cookie, scheme
from bulletin.console.reads import api_errors, status_code

if TYPE_CHECKING:
    from bulletin.console.pages import Pages

MAX_FORM = 16 * 1024
TOKEN_MAX_AGE = 8 * 3600
ACTIONS = ("run", "test", "suspend", "resume", "backfill")


async def form(request: Request) -> dict[str, str]:
    """The urlencoded form (first value of each field)."""
    body = await request.body()
    if len(body) > MAX_FORM:
        return {}
    return {k: v[0] for k, v in parse_qs(body.decode(errors="replace")).items()}


async def checked(pages: Pages, request: Request,
                  fields: dict[str, str] | None = None) -> Response | None:
    """None when the POST is ours (origin and CSRF token); else the refusal page."""
    fields = fields if fields is not None else await form(request)
    origin_ok = csrf.same_origin(request.headers.get("origin"), request.headers.get("host"),
                                 scheme(request))
    if origin_ok and csrf.valid(pages.console.secret, request.cookies.get(csrf.COOKIE),
                                fields.get(csrf.FIELD)):
        return None
    return pages.render(request, "error.html", 403, title="Refused", message=(
        "This form's security token is missing or stale (CSRF protection). Reload the page"
        " and try again."))


async def act(pages: Pages, request: Request) -> Response:
    """Run now, suspend, resume or backfill; the schedule's page with what happened."""
    who, p = pages.who(request), request.path_params
    fields = await form(request)
    if (refusal := await checked(pages, request, fields)) is not None:
        return refusal
    action, namespace, name = p["action"], p["namespace"], p["name"]
    if action not in ACTIONS:
        return pages.render(request, "error.html", 404, who, message="No such action.")

    def work() -> actions.Outcome:
        kube = pages.kube(who, namespace)
        if action == "run":
            return actions.run_now(kube, name, fields.get("period", "").strip() or None,
                                   pages.console.answer_timeout)
        if action == "test":
            email = pages.email_of(who)  # never an address from the form
            if email is None:
                return actions.Outcome(False, "No email address is known for you.", status=409)
            return actions.run_now(kube, name, None, pages.console.answer_timeout, [email])
        if action == "backfill":
            return pages.console.backfills.start(
                kube, name, fields.get("range", "").strip(), fields.get("each", "month"))
        return actions.set_suspend(kube, name, action == "suspend")

    outcome = await run_in_threadpool(work)
    return await pages.guarded(request, who, lambda: pages.schedule_page(
        request, who, namespace, name, outcome))


async def login(pages: Pages, request: Request) -> Response:
    """The token sign-in form; a token the API server accepts becomes an HttpOnly cookie."""
    if pages.console.access.mode != "token":
        return RedirectResponse("/", status_code=303)
    if request.method == "GET":
        return pages.render(request, "login.html")
    fields = await form(request)
    if (refusal := await checked(pages, request, fields)) is not None:
        return refusal
    token = fields.get("token", "").strip()
    if not token:
        return pages.render(request, "login.html", 400, error="Enter a token.")
    who = Identity(secret=token)
    try:
        await run_in_threadpool(whoami, pages.console.access.kube(who))
    except api_errors() as exc:
        code = status_code(exc)
        text = ("The API server did not accept this token." if code == 401 else
                f"The API server answered HTTP {code}.")
        return pages.render(request, "login.html", 401, error=text)
    response = RedirectResponse("/", status_code=303)
    response.headers.append("set-cookie", cookie(TOKEN_COOKIE, token, request, TOKEN_MAX_AGE))
    return response



async def logout(pages: Pages, request: Request) -> Response:
    """Forget the sign-in token."""
    if (refusal := await checked(pages, request)) is not None:
        return refusal
    response = RedirectResponse("/login" if pages.console.access.mode == "token" else "/",
                                status_code=303)
    response.delete_cookie(TOKEN_COOKIE, path="/")
    return response
