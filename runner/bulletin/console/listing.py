"""The schedules page, read at the size of the page: the API server's Table of every schedule
the user may list (name, labels, resourceVersion, and the columns that give its state), then the
full objects of the rows shown only (a LIST with a limit up to the last of them or, when they
lie far apart, a GET each, concurrently), all as the user. The page is the one a full LIST at
the Table's version gives: when a row shown changed in between, or a GET is refused, it is
built from a full LIST."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from bulletin.console import reads, views
from bulletin.plugin.kube import GROUP, PLURAL, VERSION, KubeSession

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
STATE_COLUMNS = ("Ready", "Stalled", "Paused")  # the conditions views.state reads
FETCHERS = 16  # requests in flight at once for the rows shown
LISTED_PER_GET = 5  # measured: a GET (16 at a time) costs about as much as 5 objects listed


@dataclass(frozen=True)
class Listed:
    """One schedule as its Table shows it, with its place in that Table."""

    namespace: str
    name: str
    version: str  # metadata.resourceVersion
    state: str
    scope: int  # which Table
    position: int  # its place there: the API server's order


@dataclass(frozen=True)
class PageRead:
    """The page, the namespaces of every schedule listed, the namespaces the user may not list."""

    page: views.Page
    namespaces: set[str]
    denied: list[str]


def schedules(kube: KubeSession, namespaces: Sequence[str], selector: str | None, now: datetime,
              owner_label: str, wanted: str | None, number: int) -> PageRead:
    """Page ``number`` of the schedules in state ``wanted`` (all without), as views.rows
    builds it from a full LIST (which it falls back to)."""
    if (found := sized(kube, namespaces, selector, now, owner_label, wanted, number)) is not None:
        return found
    listing = reads.schedules(kube, namespaces, selector)
    return PageRead(views.rows(listing.items, now, owner_label, wanted, number),
                    {str(o["metadata"].get("namespace")) for o in listing.items}, listing.denied)


def sized(kube: KubeSession, namespaces: Sequence[str], selector: str | None, now: datetime,
          owner_label: str, wanted: str | None, number: int) -> PageRead | None:
    """The page from the Tables and the objects shown, or None when it cannot be."""
    tables, denied = reads.scoped(kube, namespaces,
                                  lambda k, every: _list(k, every, selector, TABLE))
    entries = _entries([table for _, table in tables])
    if entries is None:
        return None
    ordered = sorted(entries, key=lambda e: (e.namespace, e.name))
    if wanted:
        ordered = [e for e in ordered if e.state == wanted]
    first = views.first_shown(len(ordered), number)
    shown = ordered[first:first + views.PER_PAGE]
    scopes = [replace(kube, namespace=scope) if scope else kube for scope, _ in tables]
    objs = _objects(scopes, [scope is None for scope, _ in tables], shown, selector)
    if objs is None:
        return None
    page = views.Page([views.row(o, now, owner_label) for o in objs], len(ordered), first,
                      views.PER_PAGE)
    return PageRead(page, {e.namespace for e in entries}, denied)


def _list(kube: KubeSession, every: bool, selector: str | None, accept: str = "application/json",
          limit: int | None = None) -> dict[str, Any]:
    """A LIST of ReportSchedules as the user: of the client's namespace or (``every``) all.
    A Table's rows carry each object's metadata (includeObject's default)."""
    if kube.rest is not None:
        where = "" if every else f"/namespaces/{kube.namespace}"
        query = {"labelSelector": selector} if selector else {}
        return kube.rest.get(f"/apis/{GROUP}/{VERSION}{where}/{PLURAL}", accept, **query,
                             **({"limit": str(limit)} if limit else {}))
    options = {"label_selector": selector, "limit": limit, "_headers": {"Accept": accept}}
    found: dict[str, Any] = (
        kube.custom.list_cluster_custom_object(GROUP, VERSION, PLURAL, **options) if every
        else kube.custom.list_namespaced_custom_object(GROUP, VERSION, kube.namespace, PLURAL,
                                                       **options))
    return found


def _entries(tables: list[dict[str, Any]]) -> list[Listed] | None:
    """Every row of the Tables, or None when one is not a Table with the state's columns (an
    older CRD: the page then lists the full objects)."""
    entries = []
    for scope, table in enumerate(tables):
        if table.get("kind") != "Table":
            return None
        names = [c.get("name") for c in table.get("columnDefinitions") or []]
        if not {*STATE_COLUMNS, "Suspended"} <= set(names):
            return None
        for position, line in enumerate(table.get("rows") or []):
            cells = dict(zip(names, line.get("cells") or [], strict=False))
            meta = (line.get("object") or {}).get("metadata") or {}
            entries.append(Listed(str(meta.get("namespace", "")), str(meta.get("name", "")),
                                 str(meta.get("resourceVersion", "")), _state(cells), scope,
                                 position))
    return entries


def _state(cells: dict[str, Any]) -> str:
    """views.state, from the Table's cells."""
    def condition_status(type_: str) -> str | None:
        value = cells.get(type_)
        return value if type_ in STATE_COLUMNS and isinstance(value, str) else None

    return views.state_of(bool(cells.get("Suspended")), condition_status)


def _objects(scopes: list[KubeSession], every: list[bool], shown: list[Listed],
             selector: str | None) -> list[dict[str, Any]] | None:
    """The full objects of ``shown``, in order, each as its Table saw it; else None. Per
    Table, one LIST with a limit up to the last row wanted, unless a GET each costs less."""
    lists: list[tuple[KubeSession, bool, int]] = []  # (client, cluster-wide?, limit)
    gets: list[tuple[KubeSession, str, str]] = []  # (client, namespace, name)
    for scope, kube in enumerate(scopes):
        mine = [e for e in shown if e.scope == scope]
        limit = max((e.position + 1 for e in mine), default=0)
        if mine and limit <= LISTED_PER_GET * len(mine):
            lists.append((kube, every[scope], limit))
        else:
            gets += [(kube, e.namespace, e.name) for e in mine]
    with ThreadPoolExecutor(FETCHERS) as pool:
        listed = pool.map(lambda j: _list(j[0], j[1], selector, limit=j[2]), lists)
        each = list(pool.map(lambda g: _get(*g), gets))
        fetched = [o for found in listed for o in found.get("items") or []]
    if None in each:
        return None
    found = {(o["metadata"].get("namespace"), o["metadata"].get("name")): o
             for o in [*fetched, *each] if o is not None}
    objs = [found.get((e.namespace, e.name)) for e in shown]
    if any(o is None or o["metadata"].get("resourceVersion") != e.version
           for o, e in zip(objs, shown, strict=True)):
        return None
    return [o for o in objs if o is not None]


def _get(kube: KubeSession, namespace: str, name: str) -> dict[str, Any] | None:
    """The schedule ``name`` (through the kubernetes client: its connections are kept
    open); None when it has gone or the user may list but not get it."""
    try:
        found: dict[str, Any] = kube.custom.get_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name)
    except reads.api_errors() as exc:
        if reads.status_code(exc) not in (403, 404):
            raise
        return None
    return found
