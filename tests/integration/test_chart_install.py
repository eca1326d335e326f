"""What a platform team does: `helm install` the chart. The operator runs as a pod from the
operator image (in-cluster config, the chart's ServiceAccount), and a run's pod from the runner
image queries PostgreSQL, emails the report and writes status. `helm upgrade` to a new runner
tag updates every CronJob; `helm uninstall` leaves the CRD and the ReportSchedules."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import images
import pytest
from devstack.install import helm_install
from devstack.mailsink import MailSink
from devstack.postgres import Postgres
from helmchart import helm
from kubernetes import client
from support import Cluster, condition, create_secrets, report_schedule, run_now, wait_for

pytestmark = pytest.mark.own_operator
# Runner pod defaults, as a platform team sets them: they reach every run's pod.
RUNNER_POD = ("--set", "runnerPod.podLabels.team=platform",
              "--set", "runnerPod.resources.requests.cpu=50m",
              "--set", "runnerPod.resources.requests.memory=200Mi")


@pytest.fixture
def installed(cluster: Cluster) -> Iterator[str]:
    """A chart release with our images in its own namespace, uninstalled afterwards."""
    release = f"b{uuid.uuid4().hex[:6]}"
    ops = f"{release}-system"
    built = images.build()
    helm_install(cluster.kubeconfig, release, ops, built["operator"].name, built["runner"].name,
                 *RUNNER_POD)
    yield release
    helm("uninstall", release, "--kubeconfig", str(cluster.kubeconfig), "--namespace", ops,
         "--wait", "--timeout", "120s", check=False)
    cluster.kubectl("delete", "namespace", ops, "--wait=false", check=False)


def _runner_images(cluster: Cluster) -> set[str]:
    return {c.spec.job_template.spec.template.spec.containers[0].image
            for c in client.BatchV1Api(cluster.api).list_cron_job_for_all_namespaces().items}


def test_helm_install_upgrade_and_uninstall_on_the_real_node(
    cluster: Cluster, installed: str, namespace: str, postgres: Postgres, smtp: MailSink,
) -> None:
    release, ops = installed, f"{installed}-system"
    [pod] = cluster.core.list_namespaced_pod(ops).items
    assert pod.spec.service_account_name == f"{release}-operator"
    assert pod.spec.containers[0].image == images.build()["operator"].name
    assert pod.status.phase == "Running"

    create_secrets(cluster, namespace, postgres.url, smtp.port)
    postgres.execute("CREATE TABLE IF NOT EXISTS chart_usage (n int); INSERT INTO chart_usage"
                     " SELECT generate_series(1, 7)")
    cluster.create_rs(namespace, report_schedule(
        "charted", datasets=[{"name": "usage", "query": "SELECT n FROM chart_usage"}]))
    status = run_now(cluster, namespace, "charted", "helm-1")
    last = status["lastRun"]
    assert (last["result"], last["rows"]) == ("Succeeded", 7), last
    assert [rcpt for rcpt, _ in smtp.messages] == [["team@example.com"]]
    [job_pod] = cluster.core.list_namespaced_pod(
        namespace, label_selector=f"job-name={last['runId']}").items
    assert job_pod.spec.containers[0].image == images.runner().name
    assert job_pod.spec.security_context.run_as_user == 10001
    assert job_pod.metadata.labels["team"] == "platform"
    assert job_pod.spec.containers[0].resources.requests == {"cpu": "50m", "memory": "200Mi"}

    # A new runner tag: the operator restarts with it and every CronJob follows.
    upgraded = f"{images.runner().name.rsplit(':', 1)[0]}:upgrade-{release}"
    cluster.node.tag_image(images.runner().name, upgraded)
    helm_install(cluster.kubeconfig, release, ops, images.build()["operator"].name, upgraded,
                 *RUNNER_POD, command="upgrade")
    wait_for(lambda: _runner_images(cluster) == {upgraded}, "CronJobs on the new runner tag",
             timeout=120, explain=lambda: cluster.logs(ops, _operator_pod(cluster, ops)))

    helm("uninstall", release, "--kubeconfig", str(cluster.kubeconfig), "--namespace", ops,
         "--wait", "--timeout", "120s")
    assert cluster.get_rs(namespace, "charted")["spec"]
    assert condition(cluster.get_rs(namespace, "charted"), "Ready")["status"] == "True"
    assert cluster.kubectl("get", "crd", "reportschedules.bulletin.dev").returncode == 0


def _operator_pod(cluster: Cluster, ops: str) -> str:
    return str(cluster.core.list_namespaced_pod(ops).items[-1].metadata.name)
