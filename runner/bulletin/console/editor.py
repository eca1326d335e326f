"""The schedule form's pages: New schedule and Edit. Check validates through the model, then
through the API server's server-side dry run made as the user; Apply creates or updates for
real where a SelfSubjectAccessReview says the user may; Preview renders the report where the
user may read the Secrets it needs and the console runs on their machine (local mode), else
says why not. Every call is made as the requesting user."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import FileResponse, Response

from bulletin.api.spec import GROUP, PLURAL, VERSION
from bulletin.console import editform, formpreview, reads
from bulletin.console.access import Identity, can
from bulletin.console.forms import MAX_FORM, checked
from bulletin.plugin.kube import KubeSession, server_error

if TYPE_CHECKING:
    from bulletin.console.pages import Pages

MAX_EDIT_FORM = 16 * MAX_FORM  # queries may be long
CONFLICT_TRIES = 5
KEPT_META = ("managedFields", "creationTimestamp", "generation", "uid", "selfLink")


def _write(kube: KubeSession, obj: dict[str, Any], dry_run: bool) -> dict[str, Any]:
    """Create (no resourceVersion) or update the object, as a dry run or for real."""
    extra = {"dry_run": "All"} if dry_run else {}
    meta = obj["metadata"]
    if meta.get("resourceVersion"):
        found: dict[str, Any] = kube.custom.replace_namespaced_custom_object(
            GROUP, VERSION, kube.namespace, PLURAL, meta["name"], obj, **extra)
    else:
        found = kube.custom.create_namespaced_custom_object(
            GROUP, VERSION, kube.namespace, PLURAL, obj, **extra)
    return found


def write_fresh(kube: KubeSession, current: dict[str, Any] | None, manifest: dict[str, Any],
                generation: str, dry_run: bool) -> dict[str, Any]:
    """Create, or update at the resourceVersion just read; on a conflict read again and retry
    while the spec's generation has not moved (the operator's status and finalizer writes
    move the resourceVersion only), else let the conflict stand."""
    for _ in range(CONFLICT_TRIES - 1):
        try:
            return _write(kube, body_for(current, manifest), dry_run)
        except reads.api_errors() as exc:
            if current is None or reads.status_code(exc) != 409:
                raise
            current = kube.get(current["metadata"]["name"])
            if changed(current, generation) is not None:
                raise
    return _write(kube, body_for(current, manifest), dry_run)


def server_errors(exc: BaseException) -> dict[str, list[str]]:
    """The API server's refusal by form field: each cause under the field it names."""
    try:
        body = json.loads(getattr(exc, "body", None) or "")
    except (TypeError, ValueError):
        body = {}
    errors: dict[str, list[str]] = {}
    body = body if isinstance(body, dict) else {}
    if body.get("reason") == "AlreadyExists":
        editform.add_error(errors, "metadata.name", f"metadata.name: {body.get('message')}")
        return errors
    for cause in (body.get("details") or {}).get("causes") or []:
        path = str(cause.get("field") or "")
        editform.add_error(errors, path, f"{path}: {cause.get('message')}" if path
                           else str(cause.get("message")))
    if not errors:
        errors[editform.GENERAL] = [server_error(exc)]
    return errors


def body_for(current: dict[str, Any] | None, manifest: dict[str, Any]) -> dict[str, Any]:
    """What is sent: the manifest, and for an update the object's metadata as just read (its
    finalizers, annotations, resourceVersion: a change since then is refused); never status."""
    if current is None:
        return manifest
    meta = {k: v for k, v in current["metadata"].items() if k not in KEPT_META}
    return {**manifest, "metadata": {**meta, "resourceVersion": current["metadata"][
        "resourceVersion"]}}


def changed(current: dict[str, Any], generation: str) -> str | None:
    """Why the form is stale: the spec changed since it was opened (its generation moved;
    the operator's status writes do not move it)."""
    now = str(current["metadata"].get("generation", ""))
    if now == generation:
        return None
    return (f"{current['metadata']['name']} was changed since you opened this form (generation"
            f" {generation} is now {now}): open Edit again to start from what is saved.")


def secret_names(spec: dict[str, Any]) -> list[str]:
    """The Secrets a preview of ``spec`` reads (the database's, Prometheus' URL and headers)."""
    source = spec.get("source") or {}
    return list(dict.fromkeys(ref["name"] for ref in [source.get("connectionSecretRef"), *(
        (source.get("prometheus") or {}).get(k) for k in ("urlSecretRef", "headersSecretRef"))]
        if isinstance(ref, dict) and ref.get("name")))


def preview(kube: KubeSession, spec: dict[str, Any], name: str, errors: dict[str, list[str]],
            files: formpreview.PreviewFiles | None) -> tuple[bool, str, Any]:
    """Render the form's report where the user may read its Secrets and the console runs on
    their own machine (``files``: local mode); else why not. (ok, note, Rendered or None)"""
    names, where = secret_names(spec), kube.namespace
    if not names:
        return False, "Name the Secret of the database (or a Prometheus URL) first.", None
    denied = [n for n in names if not can(kube, "get", n, "secrets", "")]
    if denied:
        return False, (f"You may not read Secret {', '.join(denied)} in {where} (Kubernetes"
                       " RBAC: get secrets), which a preview needs to reach the data, so the"
                       " console does not preview this schedule."), None
    if files is None:
        return False, (
            f"You may read Secret {', '.join(names)} in {where}, but this console runs in the"
            " cluster, where the runner's network fences do not hold, so it runs no form's"
            " queries. Run `kubectl bulletin console` on your machine (its Preview renders the"
            " report there), or `bulletin preview -f schedule.yaml -o out/ --data-url URL`"
            " with the YAML below."), None
    if errors:
        return False, "Fix the errors in the form first.", None
    try:
        rendered = formpreview.render(kube, spec, name or "preview", files)
    except formpreview.PreviewRefused as exc:
        return False, str(exc), None
    except reads.api_errors() as exc:
        return False, f"The Secret could not be read: {server_error(exc)}", None
    return True, (f"Rendered on this machine for {rendered.period}, with Secret"
                  f" {', '.join(names)} read as you; nothing was sent."), rendered


class Editor:
    """The route handlers of the form."""

    def __init__(self, pages: Pages) -> None:
        self.pages = pages
        local = pages.console.access.mode == "local"
        self.previews = formpreview.PreviewFiles() if local else None

    async def new(self, request: Request) -> Response:
        """An empty form (in ?namespace= or the console's namespace)."""
        who = self.pages.who(request)
        namespace = request.query_params.get("namespace") or self.pages.console.access.namespace
        return await self.pages.guarded(request, who, lambda: self._page(
            request, who, {"namespace": [namespace]}, None, "open"))

    async def edit(self, request: Request) -> Response:
        """The form of an existing schedule."""
        who, p = self.pages.who(request), request.path_params

        def work() -> Any:
            current = self.pages.kube(who, p["namespace"]).get(p["name"])
            fields = {"name": [p["name"]], "namespace": [p["namespace"]],
                      "generation": [str(current["metadata"].get("generation", ""))]}
            return self._page(request, who, fields, current, "open")

        return await self.pages.guarded(request, who, work)

    async def post(self, request: Request) -> Response:
        """Check, Preview or Apply: the form again with what happened."""
        who = self.pages.who(request)
        body = await request.body()
        fields = parse_qs(body.decode(errors="replace")) if len(body) <= MAX_EDIT_FORM else {}
        firsts = {k: v[0] for k, v in fields.items()}
        if (refusal := await checked(self.pages, request, firsts)) is not None:
            return refusal
        name, namespace = editform.one(fields, "name"), editform.one(fields, "namespace")

        def work() -> Any:
            current = None
            if editform.one(fields, "generation") and name and namespace:
                current = self.pages.kube(who, namespace).get(name)
            return self._page(request, who, fields, current, editform.one(fields, "do"))

        return await self.pages.guarded(request, who, work)

    def _page(self, request: Request, who: Identity, fields: editform.Fields,
              current: dict[str, Any] | None, do: str) -> Any:
        name, namespace = editform.one(fields, "name"), editform.one(fields, "namespace")
        generation = editform.one(fields, "generation") if current is not None else ""
        kube = self.pages.kube(who, namespace or self.pages.console.access.namespace)
        base = (current or {}).get("spec") or {}
        labels = ((current or {}).get("metadata") or {}).get("labels")
        if do == "open":
            values = editform.values_of(base) if current else editform.values_of({})
            values.update(name=name, namespace=namespace)
            context = self._context(kube, name, generation, current, values)
            return self.pages.render(request, "edit.html", 200, who, **context)
        spec = editform.spec_from(fields, base)
        manifest = editform.manifest(name, namespace, spec, labels)
        errors = editform.validate(spec)
        for key, text in (("name", "Enter a name."), ("namespace", "Enter a namespace.")):
            if not editform.one(fields, key):
                errors.setdefault(key, []).append(text)
        context = self._context(kube, name, generation, current, editform.values_from(fields))
        shown = editform.manifest(name, namespace, editform.shown(spec, base), labels)
        context.update(errors=errors, yaml=editform.as_yaml(shown), checked=True,
                       upcoming=reads.upcoming(kube, manifest, datetime.now(UTC)))
        if do == "preview":
            context["preview"] = preview(kube, spec, name, errors, self.previews)
        elif current is not None and (stale := changed(current, generation)) is not None:
            context["errors"] = {editform.GENERAL: [stale]}
        elif not errors:
            self._submit(kube, (current, manifest, generation), do == "apply", context)
        code = 200 if not context["errors"] else 422
        return self.pages.render(request, "edit.html", code, who, **context)

    def _context(self, kube: KubeSession, name: str, generation: str,
                 current: dict[str, Any] | None, values: dict[str, Any]) -> dict[str, Any]:
        verb = "update" if current is not None else "create"
        may = can(kube, verb, name if current is not None else None)
        return {"values": values, "errors": {}, "yaml": None, "upcoming": None,
                "generation": generation, "editing": current is not None, "verb": verb,
                "may_write": may, "namespace": kube.namespace, "name": name,
                "outcome": None, "preview": None, "checked": False, "days": editform.DAYS,
                "formats": editform.FORMATS, "general": editform.GENERAL}

    def _submit(self, kube: KubeSession, what: tuple[dict[str, Any] | None, dict[str, Any], str],
                apply: bool, context: dict[str, Any]) -> None:
        """The dry run (and, asked and allowed, the real write) as the user, into context;
        ``what``: the object as read (None: a new one), the manifest, the form's generation."""
        try:
            write_fresh(kube, *what, dry_run=True)
        except reads.api_errors() as exc:
            if reads.status_code(exc) == 403:
                context["outcome"] = (False, "Kubernetes RBAC refused the server-side dry run"
                                      f" ({server_error(exc)}); the model's own checks"
                                      " passed.")
            else:
                context["errors"] = server_errors(exc)
            return
        if not apply:
            context["outcome"] = (True, "The API server accepts this schedule (a server-side"
                                  " dry run made as you; nothing was saved).")
            return
        if not context["may_write"]:
            context["outcome"] = (False, f"You may not {context['verb']} ReportSchedules in"
                                  f" {kube.namespace}: copy the YAML into Git instead.")
            return
        try:
            saved = write_fresh(kube, *what, dry_run=False)
        except reads.api_errors() as exc:
            context["errors"] = server_errors(exc)
            return
        meta = saved["metadata"]
        verb = "Updated" if context["editing"] else "Created"
        context.update(outcome=(True, f"{verb} {meta['name']} in {meta['namespace']}."),
                       applied=f"/s/{meta['namespace']}/{meta['name']}", editing=True,
                       generation=str(meta.get("generation", "")), verb="update",
                       may_write=can(kube, "update", meta["name"]))

    async def preview_file(self, request: Request) -> Response:
        """A file of a preview rendered for this console's user (local mode only)."""
        self.pages.who(request)
        p = request.path_params
        found = self.previews.file(p["id"], p["file"]) if self.previews else None
        if found is None:
            return Response("No such preview file (the console keeps the last"
                            f" {formpreview.KEPT}).", status_code=404, media_type="text/plain")
        return FileResponse(found, filename=found.name)
