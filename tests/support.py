"""Helpers for integration tests: polling, kubectl, and manifests."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from bulletin.api.references import USABLE_LABEL
from bulletin.api.status import ReportScheduleStatus
from bulletin_operator.builders import run_now_job_name
from devstack.ports import HOST
from kubernetes import client
from kubernetes.client.exceptions import ApiException

T = TypeVar("T")


def wait_for(
    fn: Callable[[], T | None], what: str, timeout: float = 60, interval: float = 0.3,
    explain: Callable[[], str] | None = None,
) -> T:
    """Poll ``fn`` until it returns something truthy; fail with ``what`` after ``timeout``
    (and whatever ``explain`` says about the state of things)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            result = fn()
            if result:
                return result
            last = result
        except Exception as exc:  # polling tolerates transient errors; the last one is reported
            last = exc
        if time.monotonic() > deadline:
            detail = f"\n{explain()}" if explain else ""
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what}; last: {last!r}{detail}")
        time.sleep(interval)


@dataclass
class Cluster:
    """The running local control plane, seen from a test."""

    kubeconfig: Path
    kubectl_bin: Path
    api: client.ApiClient
    node: Any  # localkube.node.Node
    workdir: Path

    def kubectl(self, *args: str, check: bool = True, input_: str | None = None
                ) -> subprocess.CompletedProcess[str]:
        """Run the real kubectl against the control plane."""
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        proc = subprocess.run([str(self.kubectl_bin), *args], env=env, input=input_,
                              capture_output=True, text=True, timeout=120)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {proc.stderr}")
        return proc

    def logs(self, namespace: str, pod: str) -> str:
        """A pod's log, through the kubelet (as `kubectl logs`)."""
        return str(self.core.read_namespaced_pod_log(pod, namespace))

    def kill(self, namespace: str, pod: str) -> None:
        """SIGKILL a pod's running container on the node, as the OOM killer would."""
        [status] = self.core.read_namespaced_pod(pod, namespace).status.container_statuses
        self.node.kill_container(status.container_id)

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    @property
    def batch(self) -> client.BatchV1Api:
        return client.BatchV1Api(self.api)

    def diagnose(self, namespace: str) -> str:
        """Jobs, pods, pod logs and the operator's log tail, for failure messages."""
        lines = []
        for job in self.batch.list_namespaced_job(namespace).items:
            conds = [(c.type, c.status, c.message) for c in job.status.conditions or []]
            lines.append(f"job {job.metadata.name}: {conds}")
        for pod in self.core.list_namespaced_pod(namespace).items:
            lines.append(f"pod {pod.metadata.name}: {pod.status.phase}")
            try:
                lines.append(self.logs(namespace, pod.metadata.name)[-3000:])
            except Exception as exc:  # a pod that never ran has no log
                lines.append(f"(no log: {exc})")
        log = self.workdir / "operator.log"
        if log.exists():
            lines.append("operator log:\n" + log.read_text()[-3000:])
        return "\n".join(lines)

    def cronjob(self, namespace: str, name: str) -> Any:
        """The CronJob, or None when it does not exist."""
        try:
            return self.batch.read_namespaced_cron_job(name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def get_rs(self, namespace: str, name: str) -> dict[str, Any]:
        obj: dict[str, Any] = self.custom.get_namespaced_custom_object(
            "bulletin.dev", "v1alpha1", namespace, "reportschedules", name)
        return obj

    def create_rs(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        obj: dict[str, Any] = self.custom.create_namespaced_custom_object(
            "bulletin.dev", "v1alpha1", namespace, "reportschedules", body)
        return obj

    def patch_rs(self, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        obj: dict[str, Any] = self.custom.patch_namespaced_custom_object(
            "bulletin.dev", "v1alpha1", namespace, "reportschedules", name, body)
        return obj


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    """The condition of ``type_`` in an object's status ({} if absent)."""
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return {}


def report_schedule(name: str, **spec: Any) -> dict[str, Any]:
    """A ReportSchedule manifest with sensible defaults, overridden by ``spec``."""
    base: dict[str, Any] = {
        "schedule": {"cron": "0 9 * * MON", "timeZone": "Europe/Berlin"},
        "source": {"connectionSecretRef": {"name": "db", "key": "url"}},
        "datasets": [{"name": "main", "query": "SELECT 1 AS one"}],
        "delivery": {"email": {"smtpSecretRef": {"name": "smtp"}, "to": ["team@example.com"]}},
    }
    base.update(spec)
    return {"apiVersion": "bulletin.dev/v1alpha1", "kind": "ReportSchedule",
            "metadata": {"name": name}, "spec": base}


USABLE = {USABLE_LABEL: "true"}  # Secrets and ConfigMaps opened to ReportSchedules


def create_secrets(cluster: Cluster, namespace: str, db_url: str, smtp_port: int) -> None:
    """The `db` and `smtp` Secrets that report_schedule() refers to."""
    cluster.core.create_namespaced_secret(namespace, client.V1Secret(
        metadata=client.V1ObjectMeta(name="db", labels=USABLE), string_data={"url": db_url}))
    cluster.core.create_namespaced_secret(namespace, client.V1Secret(
        metadata=client.V1ObjectMeta(name="smtp", labels=USABLE),
        string_data={"host": HOST, "port": str(smtp_port), "security": "none",
                     "from": "reports@example.com"}))


def run_now_no_wait(cluster: Cluster, namespace: str, name: str, token: str,
                    options: dict[str, Any] | None = None) -> str:
    """Request a run with the annotation; the run id it will have."""
    annotations: dict[str, Any] = {"bulletin.dev/run-requested-at": token}
    if options is not None:
        annotations["bulletin.dev/run-options"] = json.dumps(options)
    cluster.patch_rs(namespace, name, {"metadata": {"annotations": annotations}})
    return run_now_job_name(name, token)


def run_now(cluster: Cluster, namespace: str, name: str, token: str,
            options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Request a run and wait until status records it; the status."""
    run_id = run_now_no_wait(cluster, namespace, name, token, options)
    return wait_for_run(cluster, namespace, name,
                        lambda s: (s.get("lastRun") or {}).get("runId") == run_id)


def wait_for_run(cluster: Cluster, namespace: str, name: str,
                 match: Callable[[dict[str, Any]], bool], timeout: float = 180
                 ) -> dict[str, Any]:
    """Wait until the last run has ended and ``match(status)`` holds; the status."""
    def finished() -> dict[str, Any] | None:
        status = cluster.get_rs(namespace, name).get("status") or {}
        last = status.get("lastRun") or {}
        return status if match(status) and last.get("endTime") else None

    return wait_for(finished, f"a finished run of {name}", timeout=timeout,
                    explain=lambda: cluster.diagnose(namespace))


def event_messages(cluster: Cluster, namespace: str, reason: str,
                   match: Callable[[Any], bool] = lambda _: True, timeout: float = 60
                   ) -> list[str]:
    """The messages of the Events with ``reason`` that ``match`` accepts, once there is one
    (a run posts its Event after its status write, so it may trail the status by a moment)."""
    def found() -> list[str]:
        items = cluster.core.list_namespaced_event(namespace, field_selector=f"reason={reason}")
        return [str(e.message or "") for e in items.items if match(e)]

    return wait_for(found, f"a {reason} Event in {namespace}", timeout=timeout)


def ready_cronjob(cluster: Cluster, namespace: str, name: str) -> Any:
    """The CronJob of schedule ``name``, once the schedule is Ready."""
    def ready() -> Any:
        obj = cluster.get_rs(namespace, name)
        if condition(obj, "Ready").get("status") != "True":
            return None
        return cluster.batch.read_namespaced_cron_job(obj["status"]["cronJobName"], namespace)

    return wait_for(ready, f"{name} Ready with its CronJob",
                    explain=lambda: cluster.diagnose(namespace))


def fire_cronjob(cluster: Cluster, namespace: str, cronjob: Any, when: Any) -> str:
    """Start a Job from the CronJob's template, named as the CronJob controller names the run
    it starts at ``when`` (a datetime); the Job's name."""
    name = f"{cronjob.metadata.name}-{int(when.timestamp()) // 60}"
    template = cronjob.spec.job_template
    cluster.batch.create_namespaced_job(namespace, client.V1Job(
        metadata=client.V1ObjectMeta(name=name, labels=template.metadata.labels),
        spec=template.spec))
    return name


def job_complete(cluster: Cluster, namespace: str, name: str) -> bool:
    """Whether Job ``name`` has its Complete condition."""
    job = cluster.batch.read_namespaced_job(name, namespace)
    return any(c.type == "Complete" and c.status == "True" for c in job.status.conditions or [])


def service_account_client(cluster: Cluster, namespace: str, account: str) -> client.ApiClient:
    """An API client authenticated as a ServiceAccount, with a fresh 10-minute token."""
    token = cluster.core.create_namespaced_service_account_token(
        account, namespace, client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=600)))
    conf = client.Configuration()
    conf.host = cluster.api.configuration.host
    conf.ssl_ca_cert = cluster.api.configuration.ssl_ca_cert
    conf.api_key = {"authorization": f"Bearer {token.status.token}"}
    return client.ApiClient(conf)


def plugin(cluster: Cluster, *args: str, timeout: float = 120
           ) -> subprocess.CompletedProcess[str]:
    """`kubectl bulletin ARGS`, found by kubectl on PATH like any plugin (next to this Python)."""
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run([str(cluster.kubectl_bin), "bulletin", *args], env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


def as_tenant(cluster: Cluster, namespace: str, user: str,
              core_resources: tuple[str, ...] = ()) -> client.CustomObjectsApi:
    """``user``, impersonated, who may write ReportSchedules (and the core group's
    ``core_resources``, e.g. configmaps) in ``namespace`` and nothing else: no Secret."""
    rbac = client.RbacAuthorizationV1Api(cluster.api)
    rules = [client.V1PolicyRule(api_groups=["bulletin.dev"], resources=["reportschedules"],
                                 verbs=["*"])]
    if core_resources:
        rules.append(client.V1PolicyRule(api_groups=[""], resources=list(core_resources),
                                         verbs=["*"]))
    rbac.create_namespaced_role(namespace, client.V1Role(
        metadata=client.V1ObjectMeta(name="report-author"), rules=rules))
    rbac.create_namespaced_role_binding(namespace, client.V1RoleBinding(
        metadata=client.V1ObjectMeta(name="report-author"),
        role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role",
                                  name="report-author"),
        subjects=[client.RbacV1Subject(kind="User", name=user,
                                       api_group="rbac.authorization.k8s.io")]))
    impersonated = client.ApiClient(cluster.api.configuration)
    impersonated.set_default_header("Impersonate-User", user)
    with_core = client.CoreV1Api(impersonated)
    try:
        with_core.list_namespaced_secret(namespace)
    except ApiException as exc:
        assert exc.status == 403, exc
    else:
        raise AssertionError(f"{user} can list Secrets in {namespace}")
    return client.CustomObjectsApi(impersonated)


def ledger_sent(cluster: Cluster, namespace: str, run_id: str, shard: int,
                target: str = "email") -> int:
    """Recipients a burst shard's ledger (its ConfigMap) holds as Sent to ``target``."""
    data = cluster.core.read_namespaced_config_map(f"{run_id}-shard-{shard}", namespace).data
    return sum(bin(b).count("1") for b in zlib.decompress(base64.b64decode(data[target])))


def status_after(status: Mapping[str, Any],
                 change: Callable[[ReportScheduleStatus], ReportScheduleStatus]) -> dict[str, Any]:
    """``status`` (wire form) after ``change``, as Kube.update_status writes it (the fields it
    changed over those read), without the byte budget."""
    before = ReportScheduleStatus.parse(status)
    return {**status, **before.changes(change(before))}
