"""The console's pages: schedules, one schedule, one run, statistics. Each reads the cluster
as the requesting user, in a worker thread (the Kubernetes client blocks)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from bulletin.api.address import is_plain_address
from bulletin.api.history import history_limit
from bulletin.console import csrf, listing, reads, runs, stats, views
from bulletin.console.access import Identity, can, whoami
from bulletin.console.core import Console, csrf_session
from bulletin.console.words import in_words
from bulletin.plugin.kube import KubeSession, server_error

NAMES_KEPT = 256  # users whose SelfSubjectReview answer is remembered


class Pages:
    """The route handlers."""

    def __init__(self, console: Console, env: Any) -> None:
        self.console, self.env = console, env
        self._names: dict[str, str] = {}

    def render(self, request: Request, template: str, code: int = 200,
               who: Identity | None = None, **context: Any) -> HTMLResponse:
        """A page, with the form token and who is signed in."""
        page = self.env.get_template(template).render(
            csrf_field=csrf.FIELD, csrf_token=csrf.token_for(self.console.secret,
                                                             csrf_session(request)),
            mode=self.console.access.mode, user=self._name(who) if who else "", **context)
        return HTMLResponse(page, status_code=code,
                            headers={"Cache-Control": "no-store"})

    def _name(self, who: Identity) -> str:
        key = hashlib.sha256(repr(who).encode() + (who.secret or "").encode()).hexdigest()
        if key not in self._names:
            if len(self._names) >= NAMES_KEPT:
                self._names.clear()
            try:
                self._names[key] = whoami(self.console.access.kube(who))[0]
            except Exception:  # an old API server without SelfSubjectReview: no name shown
                self._names[key] = who.user or ""
        return self._names[key]

    def user_of(self, who: Identity) -> str:
        """The user's name as the API server sees it (for the audit)."""
        return self._name(who) or who.user or "unknown"

    def email_of(self, who: Identity) -> str | None:
        """Where a test send goes: the proxy's email header, or a user name that is a plain
        address (as OIDC user names often are)."""
        name = self._name(who)
        return who.email or (name if is_plain_address(name) else None)

    def who(self, request: Request) -> Identity:
        """The requesting user (Unauthenticated if none)."""
        return self.console.access.identify(request.headers, request.cookies)

    def kube(self, who: Identity, namespace: str | None = None) -> KubeSession:
        return self.console.access.kube(who, namespace)

    async def guarded(self, request: Request, who: Identity,
                      work: Callable[[], HTMLResponse]) -> Response:
        """``work`` in a thread; an API error becomes an error page with its status."""
        from sqlalchemy.exc import SQLAlchemyError

        try:
            return await run_in_threadpool(work)
        except SQLAlchemyError:  # the run archive (a console without one never raises it)
            return self.render(request, "error.html", 503, who,
                               message="The run archive did not answer; try again later.")
        except reads.api_errors() as exc:
            code = reads.status_code(exc) or 502
            return self.render(request, "error.html", code if code < 600 else 502, who,
                               message=server_error(exc))

    async def unauthenticated(self, request: Request, exc: Exception) -> Response:
        if self.console.access.mode == "token" and request.method == "GET":
            return RedirectResponse("/login", status_code=303)
        return self.render(request, "error.html", 401, message=str(exc), title="Sign in needed")

    async def schedules(self, request: Request) -> Response:
        who, q = self.who(request), request.query_params
        namespace, wanted, owner = q.get("namespace", ""), q.get("state", ""), q.get("owner", "")
        number = int(q["page"]) if q.get("page", "").isdigit() else 1
        filters = urlencode({k: v for k, v in (("namespace", namespace), ("state", wanted),
                                               ("owner", owner)) if v})

        def work() -> HTMLResponse:
            selector = f"{self.console.owner_label}={owner}" if owner else None
            found = listing.schedules(self.kube(who), [namespace] if namespace
                                      else self.console.namespaces, selector, datetime.now(UTC),
                                      self.console.owner_label,
                                      wanted if wanted in views.STATES else None, number)
            return self.render(request, "schedules.html", who=who, page=found.page,
                               filters=filters, denied=found.denied, states=views.STATES,
                               namespaces=sorted(found.namespaces | set(self.console.namespaces)),
                               namespace=namespace, state=wanted, owner=owner,
                               owner_label=self.console.owner_label)

        return await self.guarded(request, who, work)

    def schedule_page(self, request: Request, who: Identity, namespace: str, name: str,
                      outcome: Any = None) -> HTMLResponse:
        """One schedule's page (with the outcome of an action just taken)."""
        kube = self.kube(who, namespace)
        obj, now = kube.get(name), datetime.now(UTC)
        spec, status = views.spec_of(obj), views.status_of(obj)
        words = in_words(spec.schedule, spec.period_kind(), spec.period) if spec else None
        entries = ([(e.name, in_words(e, spec.period_kind(), spec.period))
                    for e in spec.schedules] if spec and spec.schedules else [])
        return self.render(
            request, "schedule.html", outcome.status if outcome else 200, who,
            namespace=namespace, name=name, obj=obj, spec=spec, status=status, words=words,
            entries=entries, state=views.state(obj, status),
            upcoming=reads.upcoming(kube, obj, now), events=reads.events(kube, name),
            targets=views.targets(spec) if spec else [], history=stats.records(obj),
            may_patch=can(kube, "patch", name), outcome=outcome,
            email=self.email_of(who) if spec and spec.delivery.email else None,
            backfill=self.console.backfills.get(namespace, name), took=views.took, now=now,
            archive=self.console.archive is not None,
            archive_note=runs.note(self.console, history_limit(obj)))

    async def schedule(self, request: Request) -> Response:
        who, p = self.who(request), request.path_params
        return await self.guarded(request, who, lambda: self.schedule_page(
            request, who, p["namespace"], p["name"]))

    async def run(self, request: Request) -> Response:
        who, p = self.who(request), request.path_params

        def work() -> HTMLResponse:
            kube = self.kube(who, p["namespace"])
            obj = kube.get(p["name"])
            found = runs.find_run(self.console, kube, obj, p["name"], p["run"])
            if found is None:
                return self.render(request, "error.html", 404, who, message=(
                    f"Run {p['run']} is not in the history of {p['name']} (status keeps the"
                    " newest runs only, spec.historyLimit). "
                    + runs.note(self.console, history_limit(obj))))
            from bulletin.plugin.tables import period, zone_of

            zone, record = zone_of(obj), found.record
            return self.render(request, "run.html", who=who, namespace=p["namespace"],
                               name=p["name"], run=record, took=views.took(
                                   record, datetime.now(UTC)), result=views.result_of(record),
                               period=f"{period(record, zone)} ({zone.key})",
                               found=found, archive=self.console.archive is not None)

        return await self.guarded(request, who, work)

    async def statistics(self, request: Request) -> Response:
        who, q = self.who(request), request.query_params
        days = int(q["days"]) if q.get("days", "").isdigit() else 30
        days = days if days in stats.WINDOWS else 30
        namespace = q.get("namespace", "")

        def work() -> HTMLResponse:
            listing = reads.schedules(self.kube(who), [namespace] if namespace
                                      else self.console.namespaces, None)
            now, archive = datetime.now(UTC), self.console.archive
            every = (stats.archived_runs(archive, listing.items, now, days) if archive
                     else stats.runs_of(listing.items))
            runs = stats.within(every, now, days)
            return self.render(request, "stats.html", who=who, days=days,
                               windows=stats.WINDOWS, namespace=namespace,
                               per_schedule=stats.grouped(runs, by_namespace=False),
                               per_namespace=stats.grouped(runs, by_namespace=True),
                               total=stats.summarize("all", runs), oldest=stats.oldest(every),
                               denied=listing.denied, percent=stats.percent, size=stats.size,
                               archived=archive is not None,
                               seconds=_seconds)

        return await self.guarded(request, who, work)


def _seconds(value: float | None) -> str:
    from bulletin.plugin.tables import human_duration

    return "\u2014" if value is None else human_duration(value)

