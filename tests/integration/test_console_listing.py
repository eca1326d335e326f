"""The schedules page read at the size of the page (console.listing: the API server's Table of
every schedule, then the full objects of the rows shown) is the page a full LIST gives
(views.rows), for every state filter, owner and page, through both API clients, across two
namespaces whose names sort one way by name and the other by storage key; a user who may list
but not get schedules sees the same page (from the full LIST). Real API server, real RBAC."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import consoledata
import pytest
from bulletin.console import listing, reads, views
from bulletin.plugin.kube import KubeSession, connect
from devstack import operatorproc
from kubernetes import client
from support import Cluster, report_schedule, service_account_client, wait_for

G, V, P = "bulletin.dev", "v1alpha1", "reportschedules"
OWNER = "owner"


def _status(name: str, n: int, now: datetime) -> dict[str, Any] | None:
    """A history, and conditions that give each state in turn (none for every seventh)."""
    status = consoledata.status(name, now, runs=3)
    extra = {1: ("Stalled", "True"), 2: ("Paused", "True"), 3: ("Ready", "False"),
             4: ("Paused", "False")}.get(n % 7)
    if n % 7 == 5:
        return None
    if extra:
        status["conditions"] = [*([] if extra[0] == "Ready" else status["conditions"]),
                                {"type": extra[0], "status": extra[1], "reason": "Test",
                                 "lastTransitionTime": consoledata.stamp(now)}]
    return status


def _populate(cluster: Cluster, namespace: str, count: int, now: datetime) -> None:
    custom = client.CustomObjectsApi(cluster.api)

    def one(n: int) -> None:
        body = report_schedule(f"r-{n:03d}", **({"suspend": True} if n % 7 == 6 else {}))
        body["metadata"]["labels"] = {OWNER: "ann" if n % 3 == 0 else "bo"}
        custom.create_namespaced_custom_object(G, V, namespace, P, body)
        if (status := _status(f"r-{n:03d}", n, now)) is not None:
            custom.patch_namespaced_custom_object_status(G, V, namespace, P, f"r-{n:03d}",
                                                         {"status": status})

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(count)))


def _same(kube: KubeSession, scopes: list[str], now: datetime, **query: Any) -> None:
    args = (kube, scopes, query.get("selector"), now, OWNER, query.get("wanted"),
            query.get("number", 1))
    sized = listing.sized(*args)
    assert sized is not None, query
    full = reads.schedules(kube, scopes, query.get("selector"))
    assert sized.page == views.rows(full.items, now, OWNER, query.get("wanted"),
                                    query.get("number", 1)), query
    assert sized.namespaces == {o["metadata"]["namespace"] for o in full.items}
    assert sized.denied == full.denied


@pytest.fixture
def no_operator() -> Iterator[None]:
    """The suite's operator (if a test before this one started it) stopped meanwhile: it
    would reconcile the statuses shaped here, and move resourceVersions between the reads."""
    with operatorproc.paused():
        yield


def test_the_page_from_the_table_is_the_page_from_a_full_list(cluster: Cluster,
                                                              namespace: str,
                                                              no_operator: None) -> None:
    core, now = client.CoreV1Api(cluster.api), datetime.now(UTC) - timedelta(minutes=1)
    longer = f"{namespace}-b"  # sorts after namespace by name, before it by key ('-' < '/')
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=longer)))
    try:
        _populate(cluster, namespace, 130, now)
        _populate(cluster, longer, 40, now)
        both = [namespace, longer]
        for kube in (KubeSession(namespace, lambda: cluster.api),
                     connect(str(cluster.kubeconfig), None, namespace)):
            for wanted in (None, *views.STATES):
                for number in (1, 2, 3):
                    _same(kube, both, now, wanted=wanted, number=number)
            _same(kube, both, now, selector=f"{OWNER}=ann", number=2)
            _same(kube, [longer], now)
            _same(kube, [], now, number=2)  # cluster-wide
        sized = listing.sized(kube, [namespace], None, now, OWNER, None, 1)
        assert sized is not None and sized.page.total == 130 and len(sized.page.rows) == 100
        _list_only(cluster, namespace, now)
    finally:
        core.delete_namespace(longer)


def _list_only(cluster: Cluster, namespace: str, now: datetime) -> None:
    """A user who may list but not get: the Stalled ones (every seventh) are read by GETs,
    so they come from the full LIST, unchanged; the second page (a LIST with a limit) from
    the Table."""
    core, rbac = client.CoreV1Api(cluster.api), client.RbacAuthorizationV1Api(cluster.api)
    core.create_namespaced_service_account(namespace, client.V1ServiceAccount(
        metadata=client.V1ObjectMeta(name="lister")))
    rbac.create_namespaced_role(namespace, client.V1Role(
        metadata=client.V1ObjectMeta(name="lister"), rules=[client.V1PolicyRule(
            api_groups=[G], resources=[P], verbs=["list"])]))
    rbac.create_namespaced_role_binding(namespace, client.V1RoleBinding(
        metadata=client.V1ObjectMeta(name="lister"),
        role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role",
                                  name="lister"),
        subjects=[client.RbacV1Subject(kind="ServiceAccount", name="lister",
                                       namespace=namespace)]))
    api = service_account_client(cluster, namespace, "lister")
    kube = KubeSession(namespace, lambda: api)
    wait_for(lambda: _lists(kube), "the lister's Role", timeout=30)
    assert listing.sized(kube, [namespace], None, now, OWNER, "Stalled", 1) is None
    assert listing.sized(kube, [namespace], None, now, OWNER, None, 2) is not None
    full = reads.schedules(kube, [namespace], None)
    for wanted, number in (("Stalled", 1), (None, 2)):
        page = listing.schedules(kube, [namespace], None, now, OWNER, wanted, number).page
        assert page == views.rows(full.items, now, OWNER, wanted, number)


def _lists(kube: KubeSession) -> bool:
    try:
        kube.list()
    except reads.api_errors():
        return False
    return True
