"""The startup snapshot stands in for a GET at most once, while fresh, for the schedule's own
objects; a stale entry's write is redone from a fresh read."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import kopf.cli
import pytest
from bulletin_operator import kubeapi, prefetch
from bulletin_operator.apierrors import NameConflict
from bulletin_operator.builders import HASH_ANNOTATION
from bulletin_operator.store import OwnedObjectStore
from kubernetes.client.exceptions import ApiException

UID, NS = "uid-1", "team"


class FakeApi:
    """Objects' metadata by (kind, namespace, name), with resourceVersions and a call log."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self.version = 100
        self.refuse: set[str] = set()

    def put(self, kind: str, name: str, content_hash: str, uid: str = UID) -> dict[str, Any]:
        self.version += 1
        meta = {"name": name, "namespace": NS, "resourceVersion": str(self.version),
                "annotations": {HASH_ANNOTATION: content_hash},
                "ownerReferences": [{"uid": uid, "controller": True}],
                "managedFields": [{"manager": "x"}]}
        self.objects[(kind, NS, name)] = meta
        return meta

    def metadata(self, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
        self.calls.append(("get", name))
        return self.objects.get((kind, namespace, name))

    def create(self, obj: dict[str, Any]) -> None:
        self.calls.append(("create", obj["metadata"]["name"]))
        meta = obj["metadata"]
        self.put(obj["kind"], meta["name"], meta["annotations"][HASH_ANNOTATION])

    def replace(self, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        self.calls.append(("replace", meta["name"]))
        current = self.objects.get((obj["kind"], NS, meta["name"]))
        if current is None:
            raise ApiException(status=404, reason="Not Found")
        if current["resourceVersion"] != meta["resourceVersion"]:
            raise ApiException(status=409, reason="Conflict")
        self.put(obj["kind"], meta["name"], meta["annotations"][HASH_ANNOTATION])

    def list_metadata(self, kind: str, namespace: str | None, selector: str
                      ) -> Iterator[dict[str, Any]]:
        assert selector == prefetch.OWNED_SELECTOR
        if kind in self.refuse:
            raise ApiException(status=403, reason="Forbidden")
        self.calls.append(("list", kind))
        yield from (dict(m) for (k, ns, _), m in self.objects.items()
                    if k == kind and namespace in (None, ns))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def cronjob(name: str, content_hash: str) -> dict[str, Any]:
    return {"kind": "CronJob", "metadata": {"name": name, "namespace": NS,
                                            "annotations": {HASH_ANNOTATION: content_hash}}}


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(api: FakeApi, clock: Clock) -> OwnedObjectStore:
    made = OwnedObjectStore(api)  # type: ignore[arg-type]
    made.snapshot = prefetch.Snapshot(clock)
    return made


def prime(store: OwnedObjectStore, api: FakeApi, clock: Clock) -> None:
    store.snapshot.fill(prefetch.read(api, [None]), clock())  # type: ignore[arg-type]
    api.calls.clear()


def test_a_fresh_entry_replaces_the_read_once(store: OwnedObjectStore, api: FakeApi,
                                              clock: Clock) -> None:
    api.put("CronJob", "a", "h1")
    prime(store, api, clock)
    store.ensure([cronjob("a", "h1")], UID)
    assert api.calls == []
    store.ensure([cronjob("a", "h1")], UID)
    assert api.calls == [("get", "a")], "an entry is used at most once"


def test_a_changed_object_is_replaced_at_the_snapshot_version(store: OwnedObjectStore, api: FakeApi,
                                                              clock: Clock) -> None:
    api.put("CronJob", "a", "h1")
    prime(store, api, clock)
    store.ensure([cronjob("a", "h2")], UID)
    assert api.calls == [("replace", "a")]
    assert api.objects[("CronJob", NS, "a")]["annotations"][HASH_ANNOTATION] == "h2"


def test_a_stale_entry_meets_a_conflict_and_is_redone_from_a_read(
        store: OwnedObjectStore, api: FakeApi, clock: Clock) -> None:
    api.put("CronJob", "a", "h1")
    prime(store, api, clock)
    api.put("CronJob", "a", "h1")  # changed after the LIST: a new resourceVersion
    store.ensure([cronjob("a", "h2")], UID)
    assert api.calls == [("replace", "a"), ("get", "a"), ("replace", "a")]
    assert api.objects[("CronJob", NS, "a")]["annotations"][HASH_ANNOTATION] == "h2"


def test_an_entry_of_a_deleted_object_leads_to_a_create(store: OwnedObjectStore, api: FakeApi,
                                                        clock: Clock) -> None:
    api.put("CronJob", "a", "h1")
    prime(store, api, clock)
    del api.objects[("CronJob", NS, "a")]
    store.ensure([cronjob("a", "h2")], UID)
    assert api.calls == [("replace", "a"), ("get", "a"), ("create", "a")]


def test_a_miss_and_a_stale_snapshot_fall_back_to_the_read(store: OwnedObjectStore, api: FakeApi,
                                                            clock: Clock) -> None:
    api.put("CronJob", "a", "h1")
    prime(store, api, clock)
    api.put("CronJob", "b", "h1")
    store.ensure([cronjob("b", "h1")], UID)
    assert api.calls == [("get", "b")]
    clock.now += prefetch.SNAPSHOT_TTL + 1
    store.ensure([cronjob("a", "h1")], UID)
    assert api.calls == [("get", "b"), ("get", "a")]
    assert len(store.snapshot) == 0, "an expired snapshot is dropped"


def test_an_entry_owned_by_another_uid_is_no_verdict(store: OwnedObjectStore, api: FakeApi,
                                                     clock: Clock) -> None:
    api.put("CronJob", "a", "h1", uid="old-uid")
    prime(store, api, clock)
    api.put("CronJob", "a", "h1")  # the schedule was recreated and owns it now
    store.ensure([cronjob("a", "h1")], UID)
    assert api.calls == [("get", "a")]
    api.put("CronJob", "b", "h1", uid="someone")
    prime(store, api, clock)
    with pytest.raises(NameConflict):
        store.ensure([cronjob("b", "h1")], UID)
    assert api.calls == [("get", "b")], "a conflict is only ever decided on a fresh read"


def test_matches_needs_every_object_fresh_ours_and_unchanged(store: OwnedObjectStore, api: FakeApi,
                                                             clock: Clock) -> None:
    api.put("CronJob", "a", "h1")
    api.put("CronJob", "b", "h1", uid="someone")
    prime(store, api, clock)
    assert store.matches([cronjob("a", "h1")], UID)
    assert not store.matches([cronjob("a", "h1"), cronjob("c", "h1")], UID), "c is missing"
    assert not store.matches([cronjob("a", "h2")], UID), "its content changed"
    assert not store.matches([cronjob("b", "h1")], UID), "b is controlled by someone else"
    assert not store.matches([cronjob("a", "h1")], "other-uid")
    store.ensure([cronjob("a", "h1")], UID)
    assert api.calls == [], "matches reads nothing and leaves the entry for ensure()"
    api.put("CronJob", "a", "h1")
    prime(store, api, clock)
    clock.now += prefetch.SNAPSHOT_TTL + 1
    assert not store.matches([cronjob("a", "h1")], UID), "a stale snapshot proves nothing"


def test_the_snapshot_is_compact_and_skips_refused_kinds(api: FakeApi) -> None:
    api.put("CronJob", "a", "h1")
    api.put("Role", "a", "h1")
    api.refuse.add("Role")
    entries = prefetch.read(api, [NS])  # type: ignore[arg-type]
    assert entries == {("CronJob", NS, "a"): (UID, "h1", str(api.version - 1))}
    assert prefetch.expand(entries[("CronJob", NS, "a")]) == {
        "resourceVersion": str(api.version - 1), "annotations": {HASH_ANNOTATION: "h1"},
        "ownerReferences": [{"uid": UID, "controller": True}]}


def test_namespaces_follow_kopfs_arguments() -> None:
    assert prefetch.watched_namespaces(True, []) == [None]
    assert prefetch.watched_namespaces(False, []) == [None]
    assert prefetch.watched_namespaces(False, ["a", "b"]) == ["a", "b"]
    assert prefetch.watched_namespaces(False, ["a", "team-*"]) == []
    assert prefetch.watched_namespaces(False, ["!kube-system"]) == []


def test_collection_paths_in_one_namespace_or_all() -> None:
    assert kubeapi.path("Role", None) == "/apis/rbac.authorization.k8s.io/v1/roles"
    assert kubeapi.path("ServiceAccount", "x") == "/api/v1/namespaces/x/serviceaccounts"


@pytest.mark.parametrize(("args", "scope"), [
    (["--all-namespaces"], [None]),
    (["-n", "a", "--namespace=b"], ["a", "b"]),
    (["--namespace=team-*"], []),
])
def test_the_scope_is_read_from_kopfs_own_command_line(args: list[str],
                                                       scope: list[str | None]) -> None:
    # `kopf run` is a click command: its parsed arguments are the current context's
    with kopf.cli.run.make_context("run", [*args, "-m", "bulletin_operator.handlers"]):
        assert prefetch.kopf_scope() == scope
    assert prefetch.kopf_scope() == [], "not run by kopf's command line: no snapshot"
