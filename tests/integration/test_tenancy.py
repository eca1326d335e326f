"""A tenant who may only write ReportSchedules (and ConfigMaps) in a namespace cannot turn the
operator against objects or Secrets it does not own. Real users by impersonation, real RBAC."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from devstack.mailsink import MailSink
from devstack.mariadb import MariaDB
from devstack.operatorproc import OperatorProcess
from devstack.ports import HOST
from devstack.postgres import Postgres
from devstack.s3 import S3Server
from helmchart import kubectl_apply, render
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from support import (
    Cluster,
    as_tenant,
    condition,
    create_secrets,
    event_messages,
    report_schedule,
    run_now,
    run_now_no_wait,
    wait_for,
)

G, V, P = "bulletin.dev", "v1alpha1", "reportschedules"
TENANT = "alice@example.com"


def _stalled(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    cond = condition(cluster.get_rs(namespace, name), "Stalled")
    return cond if cond.get("status") == "True" else {}


@pytest.fixture
def tenant(cluster: Cluster, namespace: str) -> client.CustomObjectsApi:
    """A user who may write ReportSchedules and ConfigMaps here, and read no Secret."""
    return as_tenant(cluster, namespace, TENANT, ("configmaps",))


def test_a_secret_the_tenant_cannot_read_is_never_handed_to_a_run(
    cluster: Cluster, operator: OperatorProcess, namespace: str,
    tenant: client.CustomObjectsApi,
) -> None:
    cluster.core.create_namespaced_secret(namespace, client.V1Secret(
        metadata=client.V1ObjectMeta(name="payroll-db"),
        string_data={"url": "postgresql://payroll:s3cret@db/payroll"}))
    manifest = report_schedule("steal", source={
        "connectionSecretRef": {"name": "payroll-db", "key": "url"}})
    manifest["spec"]["delivery"]["email"]["smtpSecretRef"] = {"name": "payroll-db"}
    tenant.create_namespaced_custom_object(G, V, namespace, P, manifest)

    message = wait_for(lambda: _stalled(cluster, namespace, "steal"), "steal Stalled")["message"]
    assert "Secret 'payroll-db' (spec.source.connectionSecretRef)" in message
    assert "bulletin.dev/usable-by-reports=database" in message
    assert condition(cluster.get_rs(namespace, "steal"), "Stalled")["reason"] == \
        "ReferenceNotUsable"
    assert cluster.batch.list_namespaced_cron_job(namespace).items == []
    assert "s3cret" not in str(cluster.get_rs(namespace, "steal"))

    # Run-now is refused the same way: no Job is created.
    run_now_no_wait(cluster, namespace, "steal", "now")
    wait_for(lambda: cluster.get_rs(namespace, "steal")["status"].get("lastRunRequest") == "now",
             "run-now request answered")
    assert cluster.batch.list_namespaced_job(namespace).items == []
    assert event_messages(cluster, namespace, "RunNowRefused",
                          lambda e: "payroll-db" in (e.message or ""))


def test_names_already_taken_are_never_adopted_or_deleted(
    cluster: Cluster, operator: OperatorProcess, namespace: str,
    tenant: client.CustomObjectsApi,
) -> None:
    rbac = client.RbacAuthorizationV1Api(cluster.api)
    rules = [client.V1PolicyRule(api_groups=[""], resources=["pods"], verbs=["get"])]
    rbac.create_namespaced_role(namespace, client.V1Role(
        metadata=client.V1ObjectMeta(name="x-runner"), rules=rules))
    foreign = client.V1CronJob(
        metadata=client.V1ObjectMeta(name="y"),
        spec=client.V1CronJobSpec(schedule="0 0 * * *", job_template=client.V1JobTemplateSpec(
            spec=client.V1JobSpec(template=client.V1PodTemplateSpec(spec=client.V1PodSpec(
                restart_policy="Never",
                containers=[client.V1Container(name="c", image="other:1")]))))))
    cluster.batch.create_namespaced_cron_job(namespace, foreign)

    tenant.create_namespaced_custom_object(G, V, namespace, P, report_schedule("x"))
    stalled = wait_for(lambda: _stalled(cluster, namespace, "x"), "x Stalled")
    assert stalled["reason"] == "NameConflict"
    assert "Role x-runner already exists and is not owned by this ReportSchedule" in \
        stalled["message"]
    role = rbac.read_namespaced_role("x-runner", namespace)
    assert role.metadata.owner_references is None
    assert [r.resources for r in role.rules] == [["pods"]]

    # An invalid spec must not delete a CronJob that merely has the schedule's name.
    bad = report_schedule("y", schedule={"cron": "0 9 30 2 *"})
    tenant.create_namespaced_custom_object(G, V, namespace, P, bad)
    assert "never runs" in wait_for(lambda: _stalled(cluster, namespace, "y"), "y Stalled")[
        "message"]
    kept = cluster.batch.read_namespaced_cron_job("y", namespace)
    assert kept.spec.job_template.spec.template.spec.containers[0].image == "other:1"
    assert kept.metadata.owner_references is None


def test_one_run_now_at_a_time_and_forged_failures_are_ignored(
    cluster: Cluster, operator: OperatorProcess, namespace: str, postgres: Postgres,
    smtp: MailSink,
) -> None:
    create_secrets(cluster, namespace, postgres.url, smtp.port)
    cluster.create_rs(namespace, report_schedule(
        "slow", datasets=[{"name": "main", "query": "SELECT 1 AS one FROM pg_sleep(20)"}]))
    wait_for(lambda: condition(cluster.get_rs(namespace, "slow"), "Ready").get("status")
             == "True", "slow Ready")
    first = run_now_no_wait(cluster, namespace, "slow", "one")
    wait_for(lambda: cluster.batch.read_namespaced_job(first, namespace), "first Job")
    second = run_now_no_wait(cluster, namespace, "slow", "two")
    wait_for(lambda: cluster.get_rs(namespace, "slow")["status"].get("lastRunRequest") == "two",
             "second request answered")
    jobs = [j.metadata.name for j in cluster.batch.list_namespaced_job(namespace).items]
    assert jobs == [first], f"{second} must not start while {first} runs"
    assert event_messages(cluster, namespace, "RunNowRefused",
                          lambda e: first in (e.message or ""))

    # A Job that only claims the schedule (labels and env, no owner chain) is not recorded.
    template = cluster.batch.read_namespaced_job(first, namespace).spec.template
    forged_pod = template.spec
    forged_pod.containers[0].command = ["python3", "-c", "raise SystemExit(3)"]
    forged = client.V1Job(
        metadata=client.V1ObjectMeta(name="slow-forged", labels=template.metadata.labels),
        spec=client.V1JobSpec(backoff_limit=0, template=client.V1PodTemplateSpec(
            metadata=client.V1ObjectMeta(labels={}), spec=forged_pod)))
    forged.spec.template.spec.service_account_name = None
    cluster.batch.create_namespaced_job(namespace, forged)
    wait_for(lambda: any(c.type == "Failed" and c.status == "True" for c in
                         cluster.batch.read_namespaced_job("slow-forged", namespace)
                         .status.conditions or []), "forged Job failed", timeout=120)
    status = wait_for(lambda: (cluster.get_rs(namespace, "slow").get("status") or {})
                      if ((cluster.get_rs(namespace, "slow").get("status") or {})
                          .get("lastRun") or {}).get("endTime") else None,
                      "first run recorded", timeout=180)
    assert [h["runId"] for h in status["history"]] == [first]
    assert status["lastRun"]["result"] == "Succeeded"


def test_the_largest_valid_spec_reconciles_and_impossible_names_are_refused(
    cluster: Cluster, operator: OperatorProcess, namespace: str,
) -> None:
    # Twenty queries at their 64 KiB limit: 1.3 MB of spec, five times the annotation budget.
    query = "SELECT 1 AS one -- " + "x" * (65536 - 19)
    datasets = [{"name": f"d{n}", "query": query} for n in range(20)]
    cluster.create_rs(namespace, report_schedule("huge", datasets=datasets))
    wait_for(lambda: condition(cluster.get_rs(namespace, "huge"), "Ready").get("status")
             == "True", "huge Ready", explain=lambda: cluster.diagnose(namespace))
    annotations = cluster.get_rs(namespace, "huge")["metadata"].get("annotations") or {}
    assert sum(len(k) + len(v) for k, v in annotations.items()) < 4096

    # A change to it is still seen as a change.
    cluster.patch_rs(namespace, "huge", {"spec": {"suspend": True}})
    wait_for(lambda: cluster.batch.read_namespaced_cron_job("huge", namespace).spec.suspend,
             "huge suspended")

    # A Secret name the API server could never hold is refused at admission, naming the field.
    bad = report_schedule("bad-ref", source={"connectionSecretRef": {"name": "Bad_Name!",
                                                                     "key": "url"}})
    proc = cluster.kubectl("apply", "-n", namespace, "-f", "-", check=False,
                           input_=json.dumps(bad))
    assert proc.returncode != 0
    assert "spec.source.connectionSecretRef.name" in proc.stderr


def test_a_namespace_allowlist_change_reaches_existing_schedules_within_a_minute(
    cluster: Cluster, operator: OperatorProcess, namespace: str,
) -> None:
    cluster.create_rs(namespace, report_schedule("listed"))
    wait_for(lambda: condition(cluster.get_rs(namespace, "listed"), "Ready").get("status")
             == "True", "listed Ready")

    def allowlist() -> str | None:
        cronjob = cluster.batch.read_namespaced_cron_job("listed", namespace)
        env = cronjob.spec.job_template.spec.template.spec.containers[0].env
        return next((e.value for e in env if e.name == "BULLETIN_NAMESPACE_ALLOWED_DOMAINS"),
                    None)

    assert allowlist() is None
    cluster.core.patch_namespace(namespace, {"metadata": {"annotations": {
        "bulletin.dev/allowed-email-domains": "example.com"}}})
    assert wait_for(allowlist, "the allowlist in the CronJob", timeout=60) == "example.com"


def test_an_object_the_api_server_refuses_stalls_the_schedule_once(
    cluster: Cluster, operator: OperatorProcess, namespace: str,
) -> None:
    # Requests above limits pass the CRD and the runner pod policy; the API server judges them
    # on the CronJob.
    bad = report_schedule("refused", runner={"resources": {"requests": {"memory": "2Gi"},
                                                           "limits": {"memory": "1Gi"}}})
    cluster.create_rs(namespace, bad)
    stalled = wait_for(lambda: _stalled(cluster, namespace, "refused"), "refused Stalled")
    assert stalled["reason"] == "Rejected"
    assert "CronJob refused was refused by the API server" in stalled["message"]
    assert "must be less than or equal to memory limit" in stalled["message"]
    assert cluster.cronjob(namespace, "refused") is None
    retries = [line for line in operator.log.read_text().splitlines()
               if namespace in line and "will try again" in line]
    assert retries == [], "a refused object is not retried"


def test_people_get_reportschedules_through_the_built_in_roles(
    cluster: Cluster, namespace: str,
) -> None:
    """The chart's aggregated ClusterRoles reach `view` and `edit` (the aggregation controller
    runs in the local control plane)."""
    objects = [o for o in render("agg", "agg-system")
               if o["kind"] == "ClusterRole" and o["metadata"]["name"] != "agg-operator"]
    kubectl_apply(cluster.kubectl_bin, cluster.kubeconfig, objects)
    rbac = client.RbacAuthorizationV1Api(cluster.api)
    try:
        for user, role in (("viewer@example.com", "view"), ("editor@example.com", "edit")):
            rbac.create_namespaced_role_binding(namespace, client.V1RoleBinding(
                metadata=client.V1ObjectMeta(name=role),
                role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io",
                                          kind="ClusterRole", name=role),
                subjects=[client.RbacV1Subject(kind="User", name=user,
                                               api_group="rbac.authorization.k8s.io")]))

        def can(user: str, verb: str, sub: str = "") -> bool:
            review = client.V1SubjectAccessReview(spec=client.V1SubjectAccessReviewSpec(
                user=user, resource_attributes=client.V1ResourceAttributes(
                    namespace=namespace, group=G, resource=P, subresource=sub, verb=verb)))
            result = client.AuthorizationV1Api(cluster.api).create_subject_access_review(review)
            return bool(result.status.allowed)

        wait_for(lambda: can("viewer@example.com", "list"), "view aggregated")
        wait_for(lambda: can("editor@example.com", "create"), "edit aggregated")
        assert not can("viewer@example.com", "create")
        assert not can("editor@example.com", "patch", "status")
        assert can("editor@example.com", "get", "status")
    finally:
        cluster.kubectl("delete", "clusterrole", "agg-view", "agg-edit", check=False)


class Listener:
    """The tenant's own server: records the first bytes of every connection made to it."""

    def __init__(self) -> None:
        self.server = socket.create_server((HOST, 0))
        self.url = f"http://{HOST}:{self.server.getsockname()[1]}"
        self.received: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                try:
                    self.received.append(conn.recv(65536))
                except OSError:
                    self.received.append(b"")


@pytest.fixture
def listener() -> Iterator[Listener]:
    found = Listener()
    yield found
    found.server.close()


TEAM_B_HEADERS = {"name": "team-b-prom", "key": "headers"}


@pytest.mark.parametrize(("source_or_delivery", "message"), [
    ({"source": {"prometheus": {"url": "LISTENER", "headersSecretRef": TEAM_B_HEADERS}}},
     "headersSecretRef: headers go only to the URL of their own Secret"),
    ({"source": {"prometheus": {"urlSecretRef": {"name": "mine", "key": "url"},
                                "headersSecretRef": TEAM_B_HEADERS}}},
     "headersSecretRef: headers go only to the URL of their own Secret"),
    ({"delivery": {"webhooks": [{"name": "w", "url": "LISTENER",
                                 "signingSecretRef": {"name": "team-b-hooks", "key": "key"}}]}},
     "signingSecretRef signs only for the URL of its own Secret"),
])
def test_another_teams_credentials_cannot_be_pointed_at_the_tenants_listener(
    cluster: Cluster, namespace: str, tenant: client.CustomObjectsApi, listener: Listener,
    source_or_delivery: dict[str, Any], message: str,
) -> None:
    spec = json.loads(json.dumps(source_or_delivery).replace("LISTENER", listener.url))
    if "source" in spec:
        spec["datasets"] = [{"name": "main", "promql": "up"}]
    with pytest.raises(ApiException) as refused:
        tenant.create_namespaced_custom_object(G, V, namespace, P,
                                               report_schedule("exfiltrate", **spec))
    assert refused.value.status == 422 and message in str(refused.value.body)
    assert listener.received == []


def test_a_secret_opened_for_one_use_is_refused_for_another(
    cluster: Cluster, operator: OperatorProcess, namespace: str,
    tenant: client.CustomObjectsApi,
) -> None:
    cluster.core.create_namespaced_secret(namespace, client.V1Secret(
        metadata=client.V1ObjectMeta(name="team-b-db",
                                     labels={"bulletin.dev/usable-by-reports": "database"}),
        string_data={"url": "postgresql://team-b:s3cret@db/b"}))
    manifest = report_schedule("misuse", source={"prometheus": {
        "urlSecretRef": {"name": "team-b-db", "key": "url"}}},
        datasets=[{"name": "main", "promql": "up"}])
    tenant.create_namespaced_custom_object(G, V, namespace, P, manifest)
    stalled = wait_for(lambda: _stalled(cluster, namespace, "misuse"), "misuse Stalled")
    assert stalled["reason"] == "ReferenceNotUsable"
    assert stalled["message"].startswith(
        "Secret 'team-b-db' (spec.source.prometheus.urlSecretRef) is opened to reports for"
        " database only"), stalled["message"]
    assert cluster.batch.list_namespaced_cron_job(namespace).items == []


def test_s3_credentials_never_reach_an_endpoint_their_secret_does_not_name(
    cluster: Cluster, operator: OperatorProcess, namespace: str, postgres: Postgres,
    smtp: MailSink, s3: S3Server, listener: Listener, tenant: client.CustomObjectsApi,
) -> None:
    create_secrets(cluster, namespace, postgres.url, smtp.port)
    cluster.core.create_namespaced_secret(namespace, client.V1Secret(
        metadata=client.V1ObjectMeta(name="team-b-s3",
                                     labels={"bulletin.dev/usable-by-reports": "storage"}),
        string_data={"accessKeyId": s3.access_key, "secretAccessKey": s3.secret_key,
                     "endpoint": s3.endpoint}))
    manifest = report_schedule("archive-elsewhere", delivery={
        "email": {"smtpSecretRef": {"name": "smtp"}, "to": ["team@example.com"]},
        "storage": {"endpoint": listener.url, "bucket": "reports", "archive": True,
                    "credentialsSecretRef": {"name": "team-b-s3"}}})
    tenant.create_namespaced_custom_object(G, V, namespace, P, manifest)
    last = run_now(cluster, namespace, "archive-elsewhere", "now")["lastRun"]
    archive = next(d for d in last["deliveries"] if d["target"] == "archive")
    assert archive["state"] == "Failed", archive
    assert ("spec.delivery.storage.endpoint: the credentials of Secret 'team-b-s3' go only to"
            " the endpoint that Secret names") in archive["error"]
    assert listener.received == []
    assert s3.access_key not in json.dumps(last)


@pytest.mark.parametrize(("database", "query", "refused"), [
    ("mariadb", "SET STATEMENT tx_read_only=0 FOR DROP TABLE {table}", "refused SET STATEMENT"),
    ("postgres", "SELECT set_config('statement_timeout', '0', false), pg_sleep(30)"
     " FROM {table}", "refused set_config()"),
])
def test_a_tenants_query_cannot_write_or_lift_its_timeout(
    cluster: Cluster, operator: OperatorProcess, namespace: str, postgres: Postgres,
    mariadb: MariaDB, smtp: MailSink, tenant: client.CustomObjectsApi, database: str,
    query: str, refused: str,
) -> None:
    table = f"victim_{namespace.replace('-', '_')}"
    server: Any = mariadb if database == "mariadb" else postgres
    server.execute(f"CREATE TABLE {table} (n INT); INSERT INTO {table} VALUES (1)")
    create_secrets(cluster, namespace, server.url, smtp.port)
    tenant.create_namespaced_custom_object(G, V, namespace, P, report_schedule(
        "attack", datasets=[{"name": "main", "query": query.format(table=table)}],
        source={"connectionSecretRef": {"name": "db", "key": "url"},
                "statementTimeoutSeconds": 2}))
    last = run_now(cluster, namespace, "attack", "now")["lastRun"]
    assert last["result"] == "Failed", last
    assert f"dataset 'main': query failed: {refused}" in last["message"], last["message"]
    assert _count(server, table) == 1  # the table is still there, unchanged


def _count(server: Any, table: str) -> int:
    if isinstance(server, MariaDB):
        return int(server.execute(f"SELECT count(*) FROM {table}").split()[-1])
    import psycopg

    with psycopg.connect(server.url) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
        return int(row[0]) if row else -1
