"""The console never widens anyone's access: two users of two teams, impersonated by the
console's ServiceAccount (which may only impersonate) from trusted proxy headers, see only
their own team's schedules, and an action is offered and done exactly where `kubectl auth
can-i` says they may; a bearer token signs in and acts as itself. Real API server, real RBAC."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from bulletin.console import csrf
from bulletin.console.access import Access
from bulletin.console.app import build
from bulletin.console.core import Console
from bulletin.plugin.kube import connect
from devstack.operatorproc import OperatorProcess
from devstack.postgres import Postgres
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from starlette.testclient import TestClient
from support import (
    Cluster,
    condition,
    create_secrets,
    report_schedule,
    service_account_client,
    wait_for,
)

RBAC = "rbac.authorization.k8s.io"
TEAMS = {"alice": "team-a", "bob": "team-b"}
SECRET = b"s" * 32


def _role(cluster: Cluster, namespace: str, group: str, verbs: list[str],
          extra: tuple[client.V1PolicyRule, ...] = ()) -> None:
    rbac = client.RbacAuthorizationV1Api(cluster.api)
    rbac.create_namespaced_role(namespace, client.V1Role(
        metadata=client.V1ObjectMeta(name=group), rules=[client.V1PolicyRule(
            api_groups=["bulletin.dev"], resources=["reportschedules"], verbs=verbs), *extra]))
    rbac.create_namespaced_role_binding(namespace, client.V1RoleBinding(
        metadata=client.V1ObjectMeta(name=group),
        role_ref=client.V1RoleRef(api_group=RBAC, kind="Role", name=group),
        subjects=[client.RbacV1Subject(kind="Group", name=group, api_group=RBAC)]))




def _can_i(cluster: Cluster, user: str, namespace: str, name: str) -> bool:
    proc = cluster.kubectl("auth", "can-i", "patch", f"reportschedules.bulletin.dev/{name}",
                           "-n", namespace, "--as", user, "--as-group", TEAMS[user],
                           check=False)
    return proc.stdout.strip() == "yes"


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert found, page
    return found.group(1)


def _token(browser: TestClient) -> str:
    """The form token of the browser's CSRF cookie (as any of its forms carries it)."""
    return csrf.token_for(SECRET, browser.cookies[csrf.COOKIE])


def test_two_teams_see_and_do_only_what_rbac_allows(
    cluster: Cluster, namespace: str, second_namespace: str, impersonator: client.ApiClient
) -> None:
    team_a, team_b = namespace, second_namespace
    _role(cluster, team_a, "team-a", ["get", "list", "watch", "patch"])
    _role(cluster, team_b, "team-b", ["get", "list", "watch"])
    cluster.create_rs(team_a, report_schedule("a-report"))
    cluster.create_rs(team_b, report_schedule("b-report"))
    sa = client.CustomObjectsApi(impersonator)
    with pytest.raises(ApiException) as denied:  # the console's own account reads nothing
        sa.list_cluster_custom_object("bulletin.dev", "v1alpha1", "reportschedules")
    assert denied.value.status == 403
    access = Access("header", team_a, configuration=impersonator.configuration)
    app = build(Console(access, namespaces=[team_a, team_b], secret=SECRET))
    browsers = {user: TestClient(app, headers={"X-Forwarded-User": user,
                                               "X-Forwarded-Groups": TEAMS[user]})
                for user in TEAMS}

    mine = {"alice": (team_a, "a-report"), "bob": (team_b, "b-report")}
    for user, browser in browsers.items():
        listing = browser.get("/")
        assert listing.status_code == 200, listing.text
        assert "script-src 'none'" in listing.headers["content-security-policy"]
        ns, name = mine[user]
        other_ns, other = mine["bob" if user == "alice" else "alice"]
        assert f'href="/s/{ns}/{name}"' in listing.text and other not in listing.text
        assert f"You may not list schedules in: {other_ns}." in listing.text
        assert f"Signed in as <strong>{user}</strong>" in listing.text
        assert browser.get(f"/s/{other_ns}/{other}").status_code == 403
        page = browser.get(f"/s/{ns}/{name}")
        assert page.status_code == 200
        assert ('id="run-now"' in page.text) == _can_i(cluster, user, ns, name)

    assert _can_i(cluster, "alice", team_a, "a-report")
    assert not _can_i(cluster, "bob", team_b, "b-report")
    bob = browsers["bob"]
    refused = bob.post(f"/s/{team_b}/b-report/suspend", data={"csrf": _token(bob)})
    assert refused.status_code == 403 and "Refused by Kubernetes RBAC" in refused.text
    assert not cluster.get_rs(team_b, "b-report")["spec"].get("suspend")

    alice = browsers["alice"]
    forged = alice.post(f"/s/{team_a}/a-report/suspend", data={"csrf": "0" * 64})
    assert forged.status_code == 403 and "CSRF" in forged.text
    assert not cluster.get_rs(team_a, "a-report")["spec"].get("suspend")
    form = alice.get(f"/s/{team_a}/a-report").text
    done = alice.post(f"/s/{team_a}/a-report/suspend", data={"csrf": _csrf(form)})
    assert done.status_code == 200 and "a-report is suspended" in done.text
    assert cluster.get_rs(team_a, "a-report")["spec"]["suspend"] is True
    assert ">Resume<" in done.text

    stranger = TestClient(app)
    assert stranger.get("/").status_code == 401  # no proxy header: nobody


def test_a_bearer_token_signs_in_and_acts_as_itself(cluster: Cluster, namespace: str) -> None:
    cluster.core.create_namespaced_service_account(namespace, client.V1ServiceAccount(
        metadata=client.V1ObjectMeta(name="reader")))
    rbac = client.RbacAuthorizationV1Api(cluster.api)
    rbac.create_namespaced_role(namespace, client.V1Role(
        metadata=client.V1ObjectMeta(name="reader"), rules=[client.V1PolicyRule(
            api_groups=["bulletin.dev"], resources=["reportschedules"], verbs=["get", "list"])]))
    rbac.create_namespaced_role_binding(namespace, client.V1RoleBinding(
        metadata=client.V1ObjectMeta(name="reader"),
        role_ref=client.V1RoleRef(api_group=RBAC, kind="Role", name="reader"),
        subjects=[client.RbacV1Subject(kind="ServiceAccount", name="reader",
                                       namespace=namespace)]))
    cluster.create_rs(namespace, report_schedule("weekly"))
    reader = service_account_client(cluster, namespace, "reader")
    token = reader.configuration.api_key["authorization"].removeprefix("Bearer ")
    access = Access("token", namespace, configuration=reader.configuration)
    browser = TestClient(build(Console(access, namespaces=[namespace])))

    first = browser.get("/", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/login"
    form = browser.get("/login")
    wrong = browser.post("/login", data={"csrf": _csrf(form.text), "token": "not-a-token"})
    assert wrong.status_code == 401 and "did not accept" in wrong.text
    signed = browser.post("/login", data={"csrf": _csrf(form.text), "token": token},
                          follow_redirects=False)
    assert signed.status_code == 303
    assert "HttpOnly" in signed.headers["set-cookie"]
    page = wait_for(lambda: (r := browser.get("/")).status_code == 200 and r, "the listing")
    assert f"system:serviceaccount:{namespace}:reader" in page.text
    assert 'href="/s/' + namespace + '/weekly"' in page.text and token not in page.text
    schedule = browser.get(f"/s/{namespace}/weekly")
    assert ("Runs on the cron schedule \u201c0 9 * * MON\u201d Europe/Berlin, for the previous"
            " day.") in schedule.text
    assert 'id="run-now"' not in schedule.text  # get and list only
    assert "team@example.com" in schedule.text


def test_run_now_shows_the_operators_refusal_as_it_happens(
    cluster: Cluster, operator: OperatorProcess, namespace: str, impersonator: client.ApiClient
) -> None:
    """alice's team may read the run's Job and the schedule's Events (as namespace `edit`
    does): the page says what the operator said."""
    _role(cluster, namespace, "team-a", ["get", "list", "watch", "patch"], (
        client.V1PolicyRule(api_groups=["batch"], resources=["jobs"], verbs=["get"]),
        client.V1PolicyRule(api_groups=[""], resources=["events"], verbs=["list"])))
    cluster.core.create_namespaced_secret(namespace, client.V1Secret(
        metadata=client.V1ObjectMeta(name="db"), string_data={"url": "postgresql://db/x"}))
    cluster.create_rs(namespace, report_schedule("locked"))
    wait_for(lambda: condition(cluster.get_rs(namespace, "locked"), "Stalled").get("status")
             == "True", "locked Stalled")
    access = Access("header", namespace, configuration=impersonator.configuration)
    alice = TestClient(build(Console(access, namespaces=[namespace], secret=SECRET)),
                       headers={"X-Forwarded-User": "alice", "X-Forwarded-Groups": "team-a",
                                "X-Forwarded-Email": "alice@example.com"})
    page = alice.get(f"/s/{namespace}/locked")
    assert "Send a test to alice@example.com" in page.text
    assert "Stalled" in page.text and "postgresql://db/x" not in page.text
    answer = alice.post(f"/s/{namespace}/locked/run", data={"csrf": _csrf(page.text)})
    assert answer.status_code == 409, answer.text
    assert "the operator refused to run locked now: " in answer.text
    assert "Secret &#39;db&#39; (spec.source.connectionSecretRef)" in answer.text
    assert "RunNowRefused" in answer.text  # the Event, in Recent Events
    assert cluster.batch.list_namespaced_job(namespace).items == []

    token = _csrf(answer.text)
    test = alice.post(f"/s/{namespace}/locked/test",
                      data={"csrf": token, "to": "mallory@example.com"})  # "to" is ignored
    assert test.status_code == 409 and "the operator refused to run locked" in test.text
    annotations = cluster.get_rs(namespace, "locked")["metadata"]["annotations"]
    assert json.loads(annotations["bulletin.dev/run-options"]) == {"to": ["alice@example.com"]}

    bad = alice.post(f"/s/{namespace}/locked/backfill",
                     data={"csrf": token, "range": "2026-13", "each": "month"})
    assert bad.status_code == 409 and "--period &#39;2026-13&#39; with --each" in bad.text
    started = alice.post(f"/s/{namespace}/locked/backfill",
                         data={"csrf": token, "range": "2026-01..2026-03", "each": "month"})
    assert started.status_code == 200, started.text
    assert "Backfill of locked started: 3 run(s), 2026-01 to 2026-03" in started.text
    stopped = wait_for(lambda: "(finished)" in (r := alice.get(f"/s/{namespace}/locked")).text
                       and r.text, "the backfill to stop at the first refusal", timeout=120)
    assert "stopped: the operator refused to run locked now: " in stopped


def _form(namespace: str, name: str, **changes: str) -> dict[str, str | list[str]]:
    """The schedule form as a browser posts it."""
    fields: dict[str, str | list[str]] = {
        "name": name, "namespace": namespace, "when": "weekly", "at": "09:00",
        "days": ["MON", "THU"], "time_zone": "Europe/Berlin", "secret_name": "db",
        "secret_key": "url", "dataset_name_0": "sales", "dataset_kind_0": "sql",
        "dataset_query_0": "SELECT 1 AS one", "formats": ["csv", "xlsx"],
        "email_to": "team@example.com", "email_secret": "smtp", "do": "check"}
    fields.update(changes)
    return fields


def test_the_form_checks_by_dry_run_and_applies_only_where_rbac_allows(
    cluster: Cluster, namespace: str, second_namespace: str, impersonator: client.ApiClient
) -> None:
    team_a, team_b = namespace, second_namespace
    _role(cluster, team_a, "team-a", ["get", "list", "watch", "create", "update", "patch"], (
        client.V1PolicyRule(api_groups=[""], resources=["secrets"], verbs=["get"],
                            resource_names=["db"]),
        client.V1PolicyRule(api_groups=["bulletin.dev"], resources=["reportcalendars"],
                            verbs=["get"])))
    client.CustomObjectsApi(cluster.api).create_namespaced_custom_object(
        "bulletin.dev", "v1alpha1", team_a, "reportcalendars", {
            "apiVersion": "bulletin.dev/v1alpha1", "kind": "ReportCalendar",
            "metadata": {"name": "office"}, "spec": {"weekend": ["SAT", "SUN"]}})
    _role(cluster, team_b, "team-b", ["get", "list", "watch"])
    access = Access("header", team_a, configuration=impersonator.configuration)
    app = build(Console(access, namespaces=[team_a, team_b], secret=SECRET))
    alice, bob = (TestClient(app, headers={"X-Forwarded-User": user,
                                           "X-Forwarded-Groups": TEAMS[user]})
                  for user in ("alice", "bob"))

    new = bob.get(f"/new?namespace={team_b}")
    assert new.status_code == 200 and 'id="apply"' not in new.text
    assert f"You may not create ReportSchedules in {team_b}" in new.text
    refused = bob.post("/edit", data={**_form(team_b, "b-form", do="apply"), "csrf": _token(bob)})
    assert "Kubernetes RBAC refused the server-side dry run" in refused.text, refused.text
    assert "Created" not in refused.text and "kind: ReportSchedule" in refused.text
    with pytest.raises(ApiException) as gone:
        cluster.get_rs(team_b, "b-form")
    assert gone.value.status == 404

    assert 'id="apply"' in alice.get(f"/new?namespace={team_a}").text
    token = _token(alice)
    bad = alice.post("/edit", data={**_form(team_a, "a-form", at="25:00"), "csrf": token})
    assert bad.status_code == 422
    assert re.search(r'id="at"[^>]*aria-describedby="h-at e-at" aria-invalid="true"', bad.text)
    assert re.search(r'id="e-at">spec.schedule.weekly.at: ', bad.text), bad.text
    server = alice.post("/edit", data={**_form(team_a, "A_Form"), "csrf": token})
    assert server.status_code == 422  # only the API server knows object names
    assert re.search(r'id="e-name">metadata.name: [^<]*A_Form', server.text), server.text
    checked = alice.post("/edit", data={**_form(team_a, "a-form", calendar="office"),
                                        "csrf": token})
    assert checked.status_code == 200 and "The API server accepts this schedule" in checked.text
    assert "Days off on the way:" in checked.text and "weekend" in checked.text
    assert checked.text.count("Z</td></tr>") == 5  # the next five runs, with their UTC time
    assert re.search(r"Mon 09:00 CES?T", checked.text) and "kind: ReportSchedule" in checked.text
    with pytest.raises(ApiException):
        cluster.get_rs(team_a, "a-form")  # a dry run saves nothing
    preview = alice.post("/edit", data={**_form(team_a, "a-form", do="preview"), "csrf": token})
    assert f"You may read Secret db in {team_a}" in preview.text
    other = alice.post("/edit", data={**_form(team_a, "a-form", do="preview", secret_name="x"),
                                      "csrf": token})
    assert f"You may not read Secret x in {team_a}" in other.text

    applied = alice.post("/edit", data={**_form(team_a, "a-form", do="apply"), "csrf": token})
    assert applied.status_code == 200 and f"Created a-form in {team_a}." in applied.text
    saved = cluster.get_rs(team_a, "a-form")
    assert saved["spec"]["schedule"]["weekly"] == {"days": ["MON", "THU"], "at": "09:00"}
    assert "status" not in saved
    edit = alice.get(f"/s/{team_a}/a-form/edit").text
    version = re.search(r'name="generation" value="(\d+)"', edit)
    assert version and ">SELECT 1 AS one</textarea>" in edit
    client.CustomObjectsApi(cluster.api).patch_namespaced_custom_object_status(
        "bulletin.dev", "v1alpha1", team_a, "reportschedules", "a-form",
        {"status": {"observedGeneration": 1}})  # as the operator does: not a conflict
    changed = _form(team_a, "a-form", do="apply", at="10:15", generation=version.group(1))
    updated = alice.post("/edit", data={**changed, "csrf": token})
    assert f"Updated a-form in {team_a}." in updated.text, updated.text
    assert cluster.get_rs(team_a, "a-form")["spec"]["schedule"]["weekly"]["at"] == "10:15"
    stale = alice.post("/edit", data={**changed, "at": "11:00", "csrf": token})
    assert stale.status_code == 422 and "a-form was changed since you opened" in stale.text
    assert cluster.get_rs(team_a, "a-form")["spec"]["schedule"]["weekly"]["at"] == "10:15"
    forged = alice.post("/edit", data={**changed, "csrf": "0" * 64})
    assert forged.status_code == 403 and "CSRF" in forged.text

    multi = report_schedule("multi")
    multi["spec"].pop("schedule")
    multi["spec"]["schedules"] = [{"name": "emea", "daily": {"at": "08:00"}}]
    cluster.create_rs(team_a, multi)
    assert 'href="/s/' + team_a + '/multi/edit"' in alice.get(f"/s/{team_a}/multi").text
    page = alice.get(f"/s/{team_a}/multi/edit").text
    assert "Keep its several entries (spec.schedules)" in page
    generation = re.search(r'name="generation" value="(\d+)"', page)
    assert generation
    kept = alice.post("/edit", data={**_form(team_a, "multi", when="keep", do="apply",
                                             generation=generation.group(1)), "csrf": token})
    assert f"Updated multi in {team_a}." in kept.text, kept.text
    spec = cluster.get_rs(team_a, "multi")["spec"]
    assert [e["name"] for e in spec["schedules"]] == ["emea"] and "schedule" not in spec


def test_an_update_rides_over_status_writes_but_not_over_spec_changes(
    cluster: Cluster, namespace: str
) -> None:
    """What Apply does on Edit: the resourceVersion read at submit time, read again when the
    operator wrote status or metadata in between; a spec changed by someone else wins."""
    from bulletin.console import editform
    from bulletin.console.editor import write_fresh
    from bulletin.plugin.kube import KubeSession

    custom = client.CustomObjectsApi(cluster.api)
    cluster.create_rs(namespace, report_schedule("raced"))
    kube = KubeSession(namespace, lambda: cluster.api)
    read = cluster.get_rs(namespace, "raced")
    spec = {**read["spec"], "historyLimit": 20}
    manifest = editform.manifest("raced", namespace, spec)
    custom.patch_namespaced_custom_object_status(
        "bulletin.dev", "v1alpha1", namespace, "reportschedules", "raced",
        {"status": {"observedGeneration": 1}})  # the operator, between the read and the write
    saved = write_fresh(kube, read, manifest, "1", dry_run=False)
    assert saved["spec"]["historyLimit"] == 20 and saved["metadata"]["generation"] == 2
    assert cluster.get_rs(namespace, "raced")["status"]["observedGeneration"] == 1

    again = cluster.get_rs(namespace, "raced")
    cluster.patch_rs(namespace, "raced", {"spec": {"historyLimit": 30}})  # someone else
    with pytest.raises(ApiException) as conflict:
        write_fresh(kube, again, editform.manifest("raced", namespace, {
            **again["spec"], "historyLimit": 40}), "2", dry_run=False)
    assert conflict.value.status == 409
    assert cluster.get_rs(namespace, "raced")["spec"]["historyLimit"] == 30


def test_preview_renders_the_form_in_local_mode_only(
    cluster: Cluster, namespace: str, postgres: Postgres
) -> None:
    """Local mode (`kubectl bulletin console`, the user's own kubeconfig and machine): Preview
    reads the database Secret as the user, runs the form's query against the suite's real
    PostgreSQL and renders the files; a failing query says why without the URL's password."""
    create_secrets(cluster, namespace, postgres.url, 2525)
    kube = connect(str(cluster.kubeconfig), None, namespace)
    access = Access("local", namespace, local=kube, local_token="local-token")
    me = TestClient(build(Console(access, namespaces=[namespace], secret=SECRET)),
                    cookies={access.local_cookie: "local-token"})
    assert me.get(f"/new?namespace={namespace}").status_code == 200
    query = "SELECT g AS n, md5(g::text) AS hash FROM generate_series(1, 7) AS g"
    shown = me.post("/edit", data={**_form(namespace, "p-form", do="preview",
                                           dataset_query_0=query), "csrf": _token(me)})
    assert shown.status_code == 200, shown.text
    assert "Rendered on this machine" in shown.text, shown.text
    assert re.search(r"<td>sales</td><td>7</td>", shown.text), shown.text
    links = dict(re.findall(r'href="(/preview/[^"]+/([^"/]+))" download', shown.text))
    csv = next(link for link in links if link.endswith(".csv"))
    got = me.get(csv)
    assert got.status_code == 200 and got.text.splitlines()[1:] == [
        f"{g},{hashlib.md5(str(g).encode()).hexdigest()}" for g in range(1, 8)], got.text
    assert {name for name in links.values()} >= {"email.eml", "email.txt", "p-form.xlsx"}
    assert "To: team@example.com" in shown.text and "sales: 7" in shown.text
    assert me.get(csv.replace("/preview/", "/preview/x")).status_code == 404

    failing = me.post("/edit", data={**_form(namespace, "p-form", do="preview",
                                             dataset_query_0="SELECT * FROM no_such_table"),
                                     "csrf": _token(me)})
    assert "The run would fail" in failing.text and "no_such_table" in failing.text
    assert postgres.password not in failing.text + shown.text
