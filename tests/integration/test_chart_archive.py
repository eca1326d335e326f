"""The console end to end on the real node, as issue 21 asks: `helm install` with
archive.enabled and console.enabled (auth header) runs our operator and console images; two
impersonated users of two teams each see only their own team's schedules; alice runs hers from
the console, and after the status window (historyLimit 1) rolled over she reads that run from
the run archive on the suite's PostgreSQL and downloads its file from the suite's S3 server
(the same bytes); bob may not. The operator's log never holds the URL's password."""

from __future__ import annotations

import re
import uuid

import httpx
import images
import pytest
from bulletin.archive.store import Archive
from devstack.install import helm_install
from devstack.mailsink import MailSink
from devstack.postgres import Postgres
from devstack.s3 import S3Server
from helmchart import helm
from kubernetes import client
from support import (
    USABLE,
    Cluster,
    create_secrets,
    report_schedule,
    run_now,
    wait_for,
    wait_for_run,
)

pytestmark = pytest.mark.own_operator
RBAC = "rbac.authorization.k8s.io"


def _console_ip(cluster: Cluster, ops: str) -> str:
    def ready() -> str | None:
        for pod in cluster.core.list_namespaced_pod(
                ops, label_selector="app.kubernetes.io/component=console").items:
            if {c.type: c.status for c in pod.status.conditions or []}.get("Ready") == "True":
                return str(pod.status.pod_ip)
        return None

    return wait_for(ready, "a Ready console pod", timeout=180)


def _team(cluster: Cluster, namespace: str, group: str) -> None:
    """``group`` may read and run (patch) the namespace's schedules, see their Jobs and get
    the storage Secret; nothing else."""
    rbac = client.RbacAuthorizationV1Api(cluster.api)
    rbac.create_namespaced_role(namespace, client.V1Role(
        metadata=client.V1ObjectMeta(name=group), rules=[
            client.V1PolicyRule(api_groups=["bulletin.dev"], resources=["reportschedules"],
                                verbs=["get", "list", "watch", "patch"]),
            client.V1PolicyRule(api_groups=["batch"], resources=["jobs"], verbs=["get"]),
            client.V1PolicyRule(api_groups=[""], resources=["secrets"], resource_names=["s3"],
                                verbs=["get"])]))
    rbac.create_namespaced_role_binding(namespace, client.V1RoleBinding(
        metadata=client.V1ObjectMeta(name=group),
        role_ref=client.V1RoleRef(api_group=RBAC, kind="Role", name=group),
        subjects=[client.RbacV1Subject(kind="Group", name=group, api_group=RBAC)]))


def _stored_schedule(cluster: Cluster, namespace: str, name: str, s3: S3Server,
                     bucket: str) -> None:
    cluster.core.create_namespaced_secret(namespace, client.V1Secret(
        metadata=client.V1ObjectMeta(name="s3", labels=USABLE),
        string_data={"accessKeyId": s3.access_key, "secretAccessKey": s3.secret_key,
                     "endpoint": s3.endpoint}))
    delivery = {"email": {"smtpSecretRef": {"name": "smtp"}, "to": ["team@example.com"]},
                "storage": {"endpoint": s3.endpoint, "bucket": bucket, "encryption": "none",
                            "credentialsSecretRef": {"name": "s3"}, "archive": True}}
    cluster.create_rs(namespace, report_schedule(name, delivery=delivery, historyLimit=1))


def _browser(ip: str, user: str, group: str) -> httpx.Client:
    """A browser of the console behind the authenticating proxy (which names the user)."""
    return httpx.Client(base_url=f"http://{ip}:8080", timeout=90, headers={
        "X-Forwarded-User": user, "X-Forwarded-Groups": group})


def _post(browser: httpx.Client, path: str) -> httpx.Response:
    """A form's POST, with the CSRF token of the page it is on (as the browser sends it)."""
    page = browser.get(path.rsplit("/", 1)[0])
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token, page.text
    return browser.post(path, data={"csrf": token.group(1)})


def test_two_teams_run_read_and_download_through_the_charted_console(
    cluster: Cluster, namespace: str, second_namespace: str, postgres: Postgres,
    smtp: MailSink, s3: S3Server,
) -> None:
    team_a, team_b = namespace, second_namespace
    release = f"a{uuid.uuid4().hex[:6]}"
    ops, bucket = f"{release}-system", f"charted-{uuid.uuid4().hex[:8]}"
    cluster.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ops)))
    cluster.core.create_namespaced_secret(ops, client.V1Secret(
        metadata=client.V1ObjectMeta(name="runs-db"), string_data={"url": postgres.url}))
    built, archive = images.build(), Archive(postgres.url)
    try:
        helm_install(cluster.kubeconfig, release, ops, built["operator"].name,
                     built["runner"].name, "--set", "archive.enabled=true",
                     "--set", "archive.existingSecret=runs-db", "--set", "console.enabled=true",
                     "--set", "console.auth=header",
                     "--set", f"console.namespaces={{{team_a},{team_b}}}")
        s3.create_bucket(bucket)
        for team, group, name in ((team_a, "team-a", "charted"), (team_b, "team-b", "theirs")):
            create_secrets(cluster, team, postgres.url, smtp.port)
            _team(cluster, team, group)
            _stored_schedule(cluster, team, name, s3, bucket)
        ip = _console_ip(cluster, ops)
        alice, bob = _browser(ip, "alice", "team-a"), _browser(ip, "bob", "team-b")
        for browser, mine, theirs in ((alice, "charted", "theirs"), (bob, "theirs", "charted")):
            listed = browser.get("/")
            assert listed.status_code == 200 and f"/{mine}\"" in listed.text, listed.text
            assert f"/{theirs}\"" not in listed.text

        ran = _post(alice, f"/s/{team_a}/charted/run")
        started = re.search(r"The operator started run ([a-z0-9-]+)\.", ran.text)
        assert ran.status_code == 200 and started, ran.text
        first = started.group(1)
        wait_for_run(cluster, team_a, "charted", lambda s: s["lastRun"]["runId"] == first)
        later = run_now(cluster, team_a, "charted", "t2")
        assert [h["runId"] for h in later["history"]] != [first]  # rolled out of status
        wait_for(lambda: (found := archive.run(team_a, "charted", first)) is not None
                 and found.object_keys, "the charted operator to archive the first run",
                 timeout=60)
        [key] = archive.run(team_a, "charted", first).object_keys  # type: ignore[union-attr]
        history = alice.get(f"/s/{team_a}/charted/history")
        assert history.status_code == 200 and f"/runs/{first}" in history.text
        file = key.rsplit("/", 1)[-1]
        got = alice.get(f"/s/{team_a}/charted/runs/{first}/files/{file}")
        assert got.status_code == 200, got.text
        assert got.content == s3.client().get_object(Bucket=bucket, Key=key)["Body"].read()
        for path in ("/history", f"/runs/{first}/files/{file}"):
            assert bob.get(f"/s/{team_a}/charted{path}").status_code == 403, path
        assert "s3" not in [a.user for a in archive.accesses(team_a, "charted")]
        assert [(a.user, a.action) for a in archive.accesses(team_a, "charted")] == [
            ("alice", "download")]
        logs = cluster.kubectl("logs", "-n", ops, f"deployment/{release}-operator").stdout
        assert postgres.password not in logs and s3.secret_key not in history.text
        archive.engine.dispose()
    finally:
        helm("uninstall", release, "--kubeconfig", str(cluster.kubeconfig), "--namespace", ops,
             "--wait", "--timeout", "120s", check=False)
        cluster.kubectl("delete", "namespace", ops, "--wait=false", check=False)
