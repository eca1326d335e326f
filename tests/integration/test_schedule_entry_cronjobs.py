"""spec.schedules on the real control plane: one CronJob per entry in its own time zone, a run
from an entry's CronJob records the entry, and a removed entry's CronJob goes (ours only)."""

from __future__ import annotations

import re
from typing import Any

from devstack.mailsink import MailSink
from devstack.operatorproc import OperatorProcess
from devstack.postgres import Postgres
from kubernetes import client
from support import Cluster, condition, create_secrets, report_schedule, wait_for, wait_for_run

EMEA = {"name": "emea", "daily": {"at": "09:00"}, "timeZone": "Europe/Berlin"}
AMER = {"name": "amer", "weekly": {"days": ["MON"], "at": "07:30"},
        "timeZone": "America/New_York"}
LABEL = "bulletin.dev/schedule"


def _cronjobs(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    found = cluster.batch.list_namespaced_cron_job(namespace, label_selector=f"{LABEL}={name}")
    return {c.metadata.name: c for c in found.items}


def _foreign_cronjob(cluster: Cluster, namespace: str, name: str) -> None:
    """A CronJob with our labels and an entry-like name that no ReportSchedule owns."""
    pod = client.V1PodSpec(restart_policy="Never", containers=[
        client.V1Container(name="c", image="example.invalid/none")])
    cluster.batch.create_namespaced_cron_job(namespace, client.V1CronJob(
        metadata=client.V1ObjectMeta(name=name, labels={LABEL: "multi"}),
        spec=client.V1CronJobSpec(schedule="0 0 1 1 *", suspend=True, job_template=(
            client.V1JobTemplateSpec(spec=client.V1JobSpec(template=client.V1PodTemplateSpec(
                spec=pod)))))))


def _get_columns(cluster: Cluster, namespace: str, name: str) -> dict[str, str]:
    """READY and TIMEZONE as plain `kubectl get reportschedules` prints them (the default
    columns, no -o wide); cells are split on the header's column starts."""
    lines = cluster.kubectl("get", "reportschedules", "-n", namespace).stdout.splitlines()
    header, row = lines[0], next(line for line in lines[1:] if line.split()[0] == name)
    starts = [m.start() for m in re.finditer(r"\S+(?: \S+)*", header)]  # e.g. "LAST RUN"
    cells = {header[a:b].strip(): row[a:b].strip()
             for a, b in zip(starts, [*starts[1:], None], strict=True)}
    return {key: cells[key] for key in ("READY", "TIMEZONE")}


def test_each_entry_has_its_cronjob_and_runs_record_their_entry(
    cluster: Cluster, operator: OperatorProcess, namespace: str, postgres: Postgres,
    smtp: MailSink,
) -> None:
    create_secrets(cluster, namespace, postgres.url, smtp.port)
    _foreign_cronjob(cluster, namespace, "multi-apac")
    manifest = report_schedule("multi", schedules=[EMEA, AMER])
    del manifest["spec"]["schedule"]
    cluster.create_rs(namespace, manifest)

    def ready() -> dict[str, Any] | None:
        obj = cluster.get_rs(namespace, "multi")
        return obj if condition(obj, "Ready").get("status") == "True" else None

    status = wait_for(ready, "multi Ready", explain=lambda: cluster.diagnose(namespace))["status"]
    assert status["cronJobName"] == "multi-emea, multi-amer"
    assert _get_columns(cluster, namespace, "multi") == {
        "READY": "True", "TIMEZONE": "Europe/Berlin,America/New_York"}
    assert status["schedule"] == ("emea: 0 9 * * * (Europe/Berlin);"
                                  " amer: 30 7 * * 1 (America/New_York)")
    cronjobs = _cronjobs(cluster, namespace, "multi")
    assert {n: (c.spec.schedule, c.spec.time_zone) for n, c in cronjobs.items()} == {
        "multi-emea": ("0 9 * * *", "Europe/Berlin"),
        "multi-amer": ("30 7 * * 1", "America/New_York"),
        "multi-apac": ("0 0 1 1 *", None)}

    # A run started from the amer entry's CronJob, as `kubectl create job --from` does.
    cluster.kubectl("create", "job", "-n", namespace, "--from=cronjob/multi-amer", "multi-amer-now")
    done = wait_for_run(cluster, namespace, "multi",
                        lambda st: st["lastRun"].get("runId") == "multi-amer-now")
    assert done["lastRun"]["result"] == "Succeeded", done["lastRun"]
    assert done["lastRun"]["scheduleEntry"] == "amer"
    assert done["history"][0]["scheduleEntry"] == "amer"

    # Removing an entry deletes its CronJob; the other entry's and the foreign one stay.
    amer_uid = cronjobs["multi-amer"].metadata.uid
    cluster.patch_rs(namespace, "multi", {"spec": {"schedules": [AMER]}})
    wait_for(lambda: "multi-emea" not in _cronjobs(cluster, namespace, "multi"),
             "the emea entry's CronJob deleted", explain=lambda: cluster.diagnose(namespace))
    left = _cronjobs(cluster, namespace, "multi")
    assert set(left) == {"multi-amer", "multi-apac"}
    assert left["multi-amer"].metadata.uid == amer_uid
    assert cluster.get_rs(namespace, "multi")["status"]["cronJobName"] == "multi-amer"

    # Back to a single schedule: its CronJob replaces the entries'.
    cluster.patch_rs(namespace, "multi", {"spec": {"schedules": None, "schedule": {
        "cron": "0 6 * * *", "timeZone": "Asia/Tokyo"}}})
    wait_for(lambda: set(_cronjobs(cluster, namespace, "multi")) == {"multi", "multi-apac"},
             "the single schedule's CronJob alone", explain=lambda: cluster.diagnose(namespace))
    assert cluster.cronjob(namespace, "multi").spec.time_zone == "Asia/Tokyo"
    wait_for(lambda: _get_columns(cluster, namespace, "multi")["TIMEZONE"] == "Asia/Tokyo",
             "kubectl get shows the single schedule's zone")
