"""The console's ASGI app: routes, the security headers every response carries (a strict
Content-Security-Policy: no script at all, styles from our own file), sign-in, and CSRF."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from bulletin.api.errors import HINTS
from bulletin.console import archived, csrf, editor, forms, pages
from bulletin.console.access import Unauthenticated
from bulletin.console.core import HEADERS, Console, cookie

HERE = Path(__file__).parent


def templates() -> Any:
    """The Jinja2 environment of the pages (autoescaped)."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(HERE / "templates"),
                      autoescape=select_autoescape(default=True), trim_blocks=True,
                      lstrip_blocks=True)
    env.globals["hints"] = HINTS  # what to do about a failed run's reason
    return env


class Headers:
    """ASGI middleware: security headers on every response; a CSRF cookie for every
    browser; the local mode's URL token swapped for a cookie."""

    def __init__(self, app: Any, console: Console) -> None:
        self.app, self.console = app, console

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        fresh = None if request.cookies.get(csrf.COOKIE) else csrf.new_session()
        if fresh:
            scope.setdefault("state", {})["csrf_session"] = fresh
        token = request.query_params.get("token")
        if self.console.access.mode == "local" and token:
            await _swap_token(self.console, request, token, fresh)(scope, receive, send)
            return

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                extra = [(k.lower().encode(), v.encode()) for k, v in HEADERS.items()]
                if fresh:
                    extra.append((b"set-cookie", cookie(csrf.COOKIE, fresh, request).encode()))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, sending)


def _swap_token(console: Console, request: Request, token: str, fresh: str | None) -> Response:
    """The local URL's token becomes an HttpOnly cookie; the token leaves the address bar."""
    try:
        console.access.identify({}, {}, token)
    except Unauthenticated as exc:
        return HTMLResponse(str(exc), status_code=401, headers=HEADERS)
    response = RedirectResponse(request.url.path, status_code=303, headers=HEADERS)
    response.headers.append("set-cookie", cookie(console.access.local_cookie, token, request))
    if fresh:
        response.headers.append("set-cookie", cookie(csrf.COOKIE, fresh, request))
    return response


Handler = Callable[[Request], Awaitable[Response]]


def build(console: Console) -> Any:
    """The ASGI app."""
    handlers = pages.Pages(console, templates())
    form = editor.Editor(handlers)

    def posted(handler: Callable[[pages.Pages, Request], Awaitable[Response]]) -> Handler:
        async def endpoint(request: Request) -> Response:
            return await handler(handlers, request)
        return endpoint

    routes = [
        Route("/", handlers.schedules),
        Route("/stats", handlers.statistics),
        Route("/s/{namespace}/{name}", handlers.schedule),
        Route("/new", form.new),
        Route("/edit", form.post, methods=["POST"]),
        Route("/s/{namespace}/{name}/edit", form.edit),
        Route("/preview/{id}/{file}", form.preview_file),
        Route("/s/{namespace}/{name}/runs/{run}", handlers.run),
        Route("/s/{namespace}/{name}/history", posted(archived.history)),
        Route("/s/{namespace}/{name}/runs/{run}/files/{file}", posted(archived.download)),
        Route("/s/{namespace}/{name}/{action}", posted(forms.act), methods=["POST"]),
        Route("/login", posted(forms.login), methods=["GET", "POST"]),
        Route("/logout", posted(forms.logout), methods=["POST"]),
        Route("/healthz", lambda _: Response("ok", media_type="text/plain")),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={
        Unauthenticated: handlers.unauthenticated})
    return Headers(app, console)
