"""The read-and-patch subcommands: history, next, suspend/resume and status."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bulletin.plugin.kube import KIND, KubeSession, PluginError, as_list, dump

if TYPE_CHECKING:
    from bulletin.api.calendar import DaysOff

WATCH_SECONDS = 1.0  # how often -w/--watch lists the schedules again

# Markers GitOps tools leave on what they apply: (where, key, tool).
GITOPS_MARKERS = (
    ("annotations", "argocd.argoproj.io/tracking-id", "Argo CD"),
    ("labels", "app.kubernetes.io/instance", "Argo CD"),
    ("labels", "kustomize.toolkit.fluxcd.io/name", "Flux"),
    ("labels", "helm.toolkit.fluxcd.io/name", "Flux"),
)


def _table(text: str, no_headers: bool) -> str:
    """A table, without its header line with ``no_headers``."""
    return text.split("\n", 1)[1] if no_headers else text


def history(kube: KubeSession, name: str | None, output: str | None, limit: int | None,
            no_headers: bool = False, all_namespaces: bool = False) -> None:
    """status.history, newest first: a table, or the raw records; without ``name``, the runs
    of every schedule of the namespace (or of all namespaces)."""
    from bulletin.api.status import ReportScheduleStatus
    from bulletin.plugin.tables import all_history_table, history_table, runs_of, zone_of

    if name is None:
        pairs = runs_of(kube.list(all_namespaces), limit)
        if output in ("json", "yaml"):
            dump([{"namespace": o["metadata"].get("namespace"), "schedule": o["metadata"]["name"],
                   **r.wire()} for o, r in pairs], output)
        elif not pairs:
            print("No runs in status.history yet.", file=sys.stderr)
        else:
            sys.stdout.write(_table(all_history_table(pairs, datetime.now(UTC),
                                                      all_namespaces), no_headers))
        return
    obj = kube.get(name)
    records = ReportScheduleStatus.of(obj).history[:limit]
    if output in ("json", "yaml"):
        dump([r.wire() for r in records], output)
    elif not records:
        print(f"No runs of {name} in status.history yet.", file=sys.stderr)
    else:
        sys.stdout.write(_table(history_table(records, zone_of(obj), datetime.now(UTC)),
                                no_headers))


def next_runs(kube: KubeSession, name: str, count: int, after: datetime | None,
              output: str | None, no_headers: bool = False) -> None:
    """The next ``count`` run times (after ``after``, default now)."""
    from bulletin.api.calendar import CalendarError
    from bulletin.plugin.nextruns import next_records, next_table, rule_for, upcoming
    from bulletin.schedule import ScheduleError

    obj = kube.get(name)
    reference = after or datetime.now(UTC)
    try:
        timing = rule_for(obj, reference, days_off(kube, obj))
    except (ScheduleError, CalendarError) as exc:
        raise PluginError(f"error: {name}: {exc}") from exc
    if (obj.get("spec") or {}).get("suspend"):
        print(f"Warning: {name} is suspended (spec.suspend): these runs start only after"
              f" `kubectl bulletin resume {name}`", file=sys.stderr)
    runs = upcoming(timing, reference, count)
    if output in ("json", "yaml"):
        dump(next_records(runs), output)
    elif not runs:
        print(f"{name} has no run in the next five years.", file=sys.stderr)
    else:
        sys.stdout.write(_table(next_table(runs, reference), no_headers))


def days_off(kube: KubeSession, obj: Mapping[str, Any]) -> dict[str, DaysOff]:
    """The days off of the ReportCalendars the schedules name, by name."""
    from kubernetes.client.exceptions import ApiException

    from bulletin.api.calendar import from_object, named_in

    found: dict[str, DaysOff] = {}
    for name in named_in(obj.get("spec") or {}):
        try:
            calendar: dict[str, Any] | None = kube.calendar(name)
        except ApiException as exc:
            if exc.status != 404:
                raise
            calendar = None
        found[name] = from_object(name, calendar)
    return found


def gitops_owner(obj: Mapping[str, Any]) -> str | None:
    """The GitOps tool whose marks the object carries, if any (with the mark)."""
    meta = obj.get("metadata") or {}
    for where, key, tool in GITOPS_MARKERS:
        if key in (meta.get(where) or {}):
            return f"{tool} ({key})"
    return None


def set_suspend(kube: KubeSession, name: str, suspend: bool) -> None:
    """Set spec.suspend by a merge patch; warn that a GitOps tool may set it back."""
    obj = kube.get(name)
    verb = "suspended" if suspend else "resumed"
    if bool((obj.get("spec") or {}).get("suspend")) == suspend:
        print(f"{KIND}/{name} unchanged (already {verb})")
    else:
        kube.patch(name, {"spec": {"suspend": suspend}})
        print(f"{KIND}/{name} {verb}")
    owner = gitops_owner(obj)
    who = (f"{name} carries the marks of {owner}, which" if owner
           else "A GitOps tool (Argo CD, Flux) that applies this object")
    print(f"Warning: {who} may set spec.suspend back on its next sync; change suspend in"
          " the source of truth (Git) too.", file=sys.stderr)


def status(kube: KubeSession, name: str | None, all_namespaces: bool, output: str | None,
           selector: str | None = None, no_headers: bool = False, watch: bool = False) -> None:
    """A get-style table of one or all schedules (of a label selector), or the objects as
    -o json|yaml; with ``watch``, then a row (or object) for each change, until interrupted."""
    from bulletin.plugin.overview import status_table

    def read() -> list[dict[str, Any]]:
        return [kube.get(name)] if name else kube.list(all_namespaces, selector)

    def show(objs: list[dict[str, Any]], headers: bool) -> None:
        if output in ("json", "yaml"):
            dump(objs[0] if name and not watch else as_list(objs), output)
        else:
            sys.stdout.write(_table(status_table(objs, datetime.now(UTC),
                                                 namespace=all_namespaces,
                                                 wide=output == "wide"), not headers))

    objs = read()
    if objs or output in ("json", "yaml"):
        show(objs, not no_headers)
    else:
        where = "" if all_namespaces else f" in {kube.namespace} namespace"
        print(f"No resources found{where}.", file=sys.stderr)
    if watch:
        follow(read, objs, lambda changed: show(changed, False))


def _version_of(obj: Mapping[str, Any]) -> tuple[tuple[str, str], str]:
    meta = obj["metadata"]
    return (meta.get("namespace", ""), meta["name"]), str(meta.get("resourceVersion"))


def follow(read: Callable[[], list[dict[str, Any]]], objs: list[dict[str, Any]],
           show: Callable[[list[dict[str, Any]]], object], interval: float = WATCH_SECONDS,
           sleep: Callable[[float], None] = time.sleep) -> None:
    """Poll ``read`` every ``interval`` seconds and ``show`` the objects that changed (new or
    a new resourceVersion), as `kubectl get -w` prints a row per change; until ^C."""
    seen = dict(map(_version_of, objs))
    while True:
        sleep(interval)
        changed = [o for o in read() if seen.get(_version_of(o)[0]) != _version_of(o)[1]]
        if changed:
            seen.update(map(_version_of, changed))
            show(changed)
            sys.stdout.flush()
