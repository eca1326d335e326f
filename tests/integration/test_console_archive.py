"""The run archive end to end on the real node: the operator (its own process, configured as
the chart's archive.enabled configures it) writes every run to the suite's PostgreSQL; a
schedule runs more times than its status window keeps; in the console, alice (team a) reads
the older run from the archive and downloads its file from the suite's S3 server (the same
bytes), and the run page shows her download; bob (team b) sees none of it; carol (team a,
without the storage Secret) is told which permission a download needs. The plugin's
`history --archive` and the audit of `kubectl bulletin link` read the archive with the
user's own access."""

from __future__ import annotations

import contextlib
import io
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest
from bulletin.api.linkrequest import LinkRequest, request_annotations
from bulletin.archive.config import ArchiveSecret, Unreachable, url_from_secret
from bulletin.archive.store import Archive
from bulletin.console.access import Access
from bulletin.console.app import build
from bulletin.console.core import Console
from bulletin.plugin.kube import KubeSession, PluginError
from bulletin.plugin.runnow import link
from devstack.mailsink import MailSink
from devstack.operatorproc import OperatorProcess, local_env
from devstack.postgres import Postgres
from devstack.s3 import S3Server
from helmchart import kubectl_apply, render
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from starlette.testclient import TestClient
from support import (
    USABLE,
    Cluster,
    as_tenant,
    create_secrets,
    plugin,
    report_schedule,
    run_now,
    wait_for,
)

pytestmark = pytest.mark.own_operator
RBAC = "rbac.authorization.k8s.io"
BUCKET = f"archive-{uuid.uuid4().hex[:8]}"
QUERY = "SELECT g AS n, md5(g::text) AS hash FROM generate_series(1, 300) AS g"
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@pytest.fixture
def archived_operator(cluster: Cluster, runner_image: str, postgres: Postgres,
                      tmp_path: Path) -> Iterator[OperatorProcess]:
    """The operator with the run archive: its URL in a file, as the chart mounts it."""
    (tmp_path / "url").write_text(postgres.url)
    proc = OperatorProcess(cluster.kubeconfig, cluster.workdir / "operator-archive.log", env={
        **local_env(runner_image), "BULLETIN_ARCHIVE_URL_FILE": str(tmp_path / "url")})
    proc.start()
    yield proc
    proc.stop()




def _role(cluster: Cluster, namespace: str, group: str, secrets: bool) -> None:
    rules = [client.V1PolicyRule(api_groups=["bulletin.dev"], resources=["reportschedules"],
                                 verbs=["get", "list", "watch"])]
    if secrets:
        rules.append(client.V1PolicyRule(api_groups=[""], resources=["secrets"],
                                         resource_names=["s3"], verbs=["get"]))
    rbac = client.RbacAuthorizationV1Api(cluster.api)
    rbac.create_namespaced_role(namespace, client.V1Role(
        metadata=client.V1ObjectMeta(name=group), rules=rules))
    rbac.create_namespaced_role_binding(namespace, client.V1RoleBinding(
        metadata=client.V1ObjectMeta(name=group),
        role_ref=client.V1RoleRef(api_group=RBAC, kind="Role", name=group),
        subjects=[client.RbacV1Subject(kind="Group", name=group, api_group=RBAC)]))


def _schedule(cluster: Cluster, namespace: str, postgres: Postgres, smtp: MailSink,
              s3: S3Server) -> None:
    create_secrets(cluster, namespace, postgres.url, smtp.port)
    cluster.core.create_namespaced_secret(namespace, client.V1Secret(
        metadata=client.V1ObjectMeta(name="s3", labels=USABLE),
        string_data={"accessKeyId": s3.access_key, "secretAccessKey": s3.secret_key,
                     "endpoint": s3.endpoint}))
    s3.create_bucket(BUCKET)
    delivery = {"email": {"smtpSecretRef": {"name": "smtp"}, "to": ["team@example.com"]},
                "storage": {"endpoint": s3.endpoint, "bucket": BUCKET, "encryption": "none",
                            "credentialsSecretRef": {"name": "s3"}, "archive": True}}
    cluster.create_rs(namespace, report_schedule(
        "stored", delivery=delivery, historyLimit=3,
        datasets=[{"name": "numbers", "query": QUERY}]))


@pytest.fixture
def link_policy(cluster: Cluster) -> Iterator[None]:
    """The chart's admission policy of link requests, as `helm install` creates it."""
    release = f"l{uuid.uuid4().hex[:6]}"
    policy = [o for o in render(release, "bulletin-system")
              if o["kind"].startswith("ValidatingAdmissionPolicy")]
    assert len(policy) == 2, [o["kind"] for o in policy]
    kubectl_apply(cluster.kubectl_bin, cluster.kubeconfig, policy)
    yield
    admission = client.AdmissionregistrationV1Api(cluster.api)
    admission.delete_validating_admission_policy_binding(f"{release}-link-requester")
    admission.delete_validating_admission_policy(f"{release}-link-requester")


def _forge(tenant: client.CustomObjectsApi, namespace: str, user: str, dry: bool) -> None:
    request = LinkRequest(token=uuid.uuid4().hex, run_id="r", keys=["k"])
    tenant.patch_namespaced_custom_object(
        "bulletin.dev", "v1alpha1", namespace, "reportschedules", "stored",
        {"metadata": {"annotations": request_annotations(request, user)}},
        **({"dry_run": "All"} if dry else {}))


def _refused(call: Callable[[], None]) -> str | None:
    try:
        call()
    except ApiException as exc:
        return str(exc.body)
    return None


def _link_audit(cluster: Cluster, team_a: str, run_id: str, archive: Archive,
                impersonator: client.ApiClient) -> None:
    """`kubectl bulletin link` prints links only once the operator recorded them under the
    user the API server authenticated; a name that is not the writer's own is refused."""
    linked = plugin(cluster, "link", "stored", "-n", team_a, "--run", run_id)
    assert linked.returncode == 0 and linked.stdout.startswith("http"), linked.stderr
    admin = client.AuthenticationV1Api(cluster.api).create_self_subject_review(
        client.V1SelfSubjectReview()).status.user_info.username
    [entry] = archive.accesses(team_a, "stored", run_id)
    assert (entry.user, entry.action, entry.client) == (admin, "link", "kubectl bulletin link")

    mallory = as_tenant(cluster, team_a, "mallory")  # may patch schedules, as their own name
    refusal = wait_for(lambda: _refused(lambda: _forge(mallory, team_a, "alice", dry=True)),
                       "the admission policy to refuse a forged requester", timeout=60)
    assert "must be your own user name (mallory)" in refusal, refusal
    assert _refused(lambda: _forge(mallory, team_a, "alice", dry=False)) is not None
    _forge(mallory, team_a, "mallory", dry=False)
    wait_for(lambda: [a.user for a in archive.accesses(team_a, "stored", "r")] == ["mallory"],
             "the operator to record mallory's own request", timeout=60)

    as_alice = client.ApiClient(impersonator.configuration)  # get, no patch: no audited link
    as_alice.set_default_header("Impersonate-User", "alice")
    as_alice.set_default_header("Impersonate-Group", "team-a")
    out = io.StringIO()
    with pytest.raises(PluginError, match="needs patch on reportschedules"), \
            contextlib.redirect_stdout(out):
        link(KubeSession(team_a, lambda: as_alice), "stored", run_id, None, None, None)
    assert out.getvalue() == ""
    assert {a.user for a in archive.accesses(team_a, "stored")} == {admin, "alice", "mallory"}


def test_older_runs_downloads_and_audit_from_the_archive(
    cluster: Cluster, archived_operator: OperatorProcess, namespace: str, second_namespace: str,
    postgres: Postgres, smtp: MailSink, s3: S3Server, impersonator: client.ApiClient,
    monkeypatch: pytest.MonkeyPatch, link_policy: None,
) -> None:
    team_a, archive = namespace, Archive(postgres.url)
    _role(cluster, team_a, "team-a", secrets=True)
    _role(cluster, team_a, "team-a-readers", secrets=False)
    _role(cluster, second_namespace, "team-b", secrets=True)
    _schedule(cluster, team_a, postgres, smtp, s3)
    runs = [run_now(cluster, team_a, "stored", f"t{n}")["lastRun"]["runId"]
            for n in range(1, 5)]
    kept = [h["runId"] for h in cluster.get_rs(team_a, "stored")["status"]["history"]]
    assert kept == runs[:0:-1]  # the status window keeps three; the first run scrolled out
    wait_for(lambda: archive.count(team_a, "stored", EPOCH) == 4, "four archived runs",
             timeout=60)
    oldest = runs[0]
    found = archive.run(team_a, "stored", oldest)
    assert found is not None and found.record.result is not None
    [key] = found.object_keys
    stored = s3.client().get_object(Bucket=BUCKET, Key=key)["Body"].read()

    access = Access("header", team_a, configuration=impersonator.configuration)
    app = build(Console(access, namespaces=[team_a, second_namespace], archive=archive))

    def browser(user: str, group: str) -> TestClient:
        return TestClient(app, headers={"X-Forwarded-User": user, "X-Forwarded-Groups": group})

    alice, bob, carol = (browser("alice", "team-a"), browser("bob", "team-b"),
                         browser("carol", "team-a-readers"))
    page = alice.get(f"/s/{team_a}/stored")
    assert page.status_code == 200 and f'href="/s/{team_a}/stored/history"' in page.text
    history = alice.get(f"/s/{team_a}/stored/history")
    assert history.status_code == 200, history.text
    assert all(f"/runs/{r}" in history.text for r in runs)
    old = alice.get(f"/s/{team_a}/stored/runs/{oldest}")
    assert old.status_code == 200 and "From the run archive" in old.text
    link = f"/s/{team_a}/stored/runs/{oldest}/files/{quote('numbers.csv')}"
    assert f'href="{link}"' in old.text and "No downloads or links yet." in old.text
    got = alice.get(link, headers={"X-Forwarded-For": "203.0.113.7"})
    assert got.status_code == 200 and got.content == stored
    assert "attachment" in got.headers["content-disposition"]
    seen = alice.get(f"/s/{team_a}/stored/runs/{oldest}").text
    assert "<td>alice</td><td>downloaded</td><td>numbers.csv</td><td>203.0.113.7</td>" in seen

    for path in ("/history", f"/runs/{oldest}", f"/runs/{oldest}/files/numbers.csv"):
        assert bob.get(f"/s/{team_a}/stored{path}").status_code == 403, path
    denied = carol.get(link)
    assert denied.status_code == 403 and f"get Secret {team_a}/s3" in denied.text
    assert s3.secret_key not in denied.text + seen + old.text
    assert [(a.user, a.action) for a in archive.accesses(team_a, "stored")] == [
        ("alice", "download")]

    # The plugin: those who may read the archive's Secret (here the admin) read and audit it;
    # others are told where the archive is reachable.
    cluster.core.create_namespaced_secret(second_namespace, client.V1Secret(
        metadata=client.V1ObjectMeta(name="runs-db"), string_data={"url": postgres.url}))
    where = f"{second_namespace}/runs-db"
    table = plugin(cluster, "history", "stored", "-n", team_a, "--archive", "--since", "90d",
                   "--archive-secret", where)
    assert table.returncode == 0, table.stderr
    assert table.stdout.startswith("RUN") and all(r in table.stdout for r in runs)
    monkeypatch.setenv("BULLETIN_ARCHIVE_SECRET", where)  # `link` has no flag for it
    _link_audit(cluster, team_a, runs[-1], archive, impersonator)
    as_alice = client.ApiClient(impersonator.configuration)
    as_alice.set_default_header("Impersonate-User", "alice")
    with pytest.raises(Unreachable) as out_of_reach:
        url_from_secret(client.CoreV1Api(as_alice), ArchiveSecret.parse(where))
    assert f"reachable only through the hosted console, or by those who may read Secret" \
           f" {where}" in str(out_of_reach.value)

    assert postgres.password not in archived_operator.log.read_text()

    down = TestClient(build(Console(access, namespaces=[team_a], archive=Archive(
        "postgresql://bulletin:pw@127.0.0.1:9/gone"))), headers={
        "X-Forwarded-User": "alice", "X-Forwarded-Groups": "team-a"})
    recent = down.get(f"/s/{team_a}/stored/runs/{runs[-1]}")  # in status: shown, no audit
    assert recent.status_code == 200 and "The run archive did not answer" in recent.text
    for path in ("/history", f"/runs/{oldest}",  # no download without its audit record
                 f"/runs/{runs[-1]}/files/numbers.csv"):
        assert down.get(f"/s/{team_a}/stored{path}").status_code == 503, path

    unarchived = build(Console(access, namespaces=[team_a]))
    plain = TestClient(unarchived, headers={"X-Forwarded-User": "alice",
                                            "X-Forwarded-Groups": "team-a"})
    assert ("History is the status window (last 3 runs); the platform team can enable the run"
            " archive.") in plain.get(f"/s/{team_a}/stored").text
    assert plain.get(f"/s/{team_a}/stored/runs/{oldest}").status_code == 404
