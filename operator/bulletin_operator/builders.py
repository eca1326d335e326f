"""Pure builders: a ReportSchedule in, the Kubernetes objects that run it out."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import orjson
from bulletin.api import podenv
from bulletin.api.calendar import CALENDAR_PLURAL, calendar_names
from bulletin.api.names import run_now_job_name, short_name
from bulletin.api.runnerpod import RunnerPod
from bulletin.api.runrequest import RUN_REQUEST_ANNOTATION, RunOptions
from bulletin.api.schedule import CatchUp
from bulletin.api.spec import GROUP, KIND, PLURAL, VERSION, ReportScheduleSpec

from bulletin_operator import placement

HASH_ANNOTATION = f"{GROUP}/spec-hash"
SCHEDULE_LABEL = f"{GROUP}/schedule"
CRONJOB_NAME_MAX = 52  # the CronJob controller appends an 11-character suffix to Job names


@dataclass(frozen=True)
class Owner:
    """The ReportSchedule the objects belong to."""

    name: str
    namespace: str
    uid: str
    allowed_domains: str = ""  # the namespace's bulletin.dev/allowed-email-domains annotation


@dataclass(frozen=True)
class RunnerSettings:
    """Operator-wide settings for the runner pods."""

    image: str = "ghcr.io/bulletin-dev/bulletin-runner:0.1.0"
    image_pull_policy: str = "IfNotPresent"
    backoff_limit: int = 2
    active_deadline_seconds: int = 3600
    ttl_seconds_after_finished: int = 86400
    jobs_history_limit: int = 3
    allowed_domains: str = ""  # operator-wide recipient domain allowlist
    allow_private_networks: str = ""  # CIDRs and hosts outbound URLs may reach though private
    allowed_url_hosts: str = ""  # when set, the only hosts webhook and chat URLs may name
    log_format: str = ""  # the runner's BULLETIN_LOG_FORMAT; empty: text
    pod: RunnerPod = field(default_factory=RunnerPod)  # defaults for spec.runner


def cronjob_name(owner: Owner) -> str:
    """Name of the owned CronJob."""
    return short_name(owner.name, CRONJOB_NAME_MAX)


def runner_account_name(owner: Owner) -> str:
    """Name of the runner's ServiceAccount, Role and RoleBinding."""
    return short_name(owner.name, 253, "-runner")


def _labels(owner: Owner) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "bulletin",
        "app.kubernetes.io/component": "runner",
        "app.kubernetes.io/managed-by": "bulletin-operator",
        SCHEDULE_LABEL: short_name(owner.name, 63),
    }


def _metadata(owner: Owner, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": owner.namespace,
        "labels": _labels(owner),
        "ownerReferences": [
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": KIND,
                "name": owner.name,
                "uid": owner.uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }


def with_hash(obj: dict[str, Any]) -> dict[str, Any]:
    """Stamp ``obj`` with a hash of its content, so unchanged objects need no write."""
    digest = hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]
    stamped: dict[str, Any] = orjson.loads(orjson.dumps(obj))  # a deep copy, 5x copy's speed
    stamped["metadata"].setdefault("annotations", {})[HASH_ANNOTATION] = digest
    return stamped


def service_account(owner: Owner) -> dict[str, Any]:
    """The runner's own ServiceAccount."""
    return with_hash(
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": _metadata(owner, runner_account_name(owner))}
    )


def role(owner: Owner, spec: ReportScheduleSpec | None = None) -> dict[str, Any]:
    """Least privilege for a run: read its own ReportSchedule (and the ReportCalendars its
    schedules name, if any: those and no other), write its status, post Events; a burst's
    shards also keep their ledgers in ConfigMaps (create cannot be limited by name)."""
    rules: list[dict[str, Any]] = [
        {"apiGroups": [GROUP], "resources": [PLURAL],
         "resourceNames": [owner.name], "verbs": ["get"]},
        {"apiGroups": [GROUP], "resources": [f"{PLURAL}/status"],
         "resourceNames": [owner.name], "verbs": ["get", "patch", "update"]},
        {"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["create"]},
    ]
    if spec is not None and spec.delivery.burst is not None:  # the shards' ledgers
        rules.append({"apiGroups": [""], "resources": ["configmaps"],
                      "verbs": ["get", "create", "update"]})
    calendars = calendar_names(spec) if spec is not None else []
    if calendars:
        rules.append({"apiGroups": [GROUP], "resources": [CALENDAR_PLURAL],
                      "resourceNames": calendars, "verbs": ["get"]})
    return with_hash(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": _metadata(owner, runner_account_name(owner)),
            "rules": rules,
        }
    )


def role_binding(owner: Owner) -> dict[str, Any]:
    """Binds the runner's Role to its ServiceAccount."""
    name = runner_account_name(owner)
    return with_hash(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": _metadata(owner, name),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": owner.namespace}],
        }
    )


def _env(owner: Owner, spec: ReportScheduleSpec, s: RunnerSettings) -> list[dict[str, Any]]:
    policy = podenv.Policy(allowed_domains=s.allowed_domains,
                           namespace_allowed_domains=owner.allowed_domains,
                           allow_private_networks=s.allow_private_networks,
                           allowed_url_hosts=s.allowed_url_hosts,
                           log_format=s.log_format)
    return podenv.runner_env(owner.name, spec, policy)


def _volumes(spec: ReportScheduleSpec) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The pod's volumes and the runner's mounts: scratch space (the root filesystem is
    read-only), custom templates and S/MIME certificates."""
    volumes: list[dict[str, Any]] = [{"name": "work", "emptyDir": {"sizeLimit": "2Gi"}},
                                     {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}]
    mounts: list[dict[str, Any]] = [{"name": "work", "mountPath": "/work"},
                                    {"name": "tmp", "mountPath": "/tmp"}]
    templates = spec.report.template_config_map_ref
    if templates is not None:
        volumes.append({"name": "templates",
                        "configMap": {"name": templates.name, "optional": True}})
        mounts.append({"name": "templates", "mountPath": podenv.TEMPLATES_PATH, "readOnly": True})
    email = spec.delivery.email
    if email is not None and email.encryption is not None:
        ref = email.encryption.certificates_ref
        volumes.append({"name": "certificates", **(
            {"secret": {"secretName": ref.name, "optional": True}} if ref.kind == "Secret"
            else {"configMap": {"name": ref.name, "optional": True}})})
        mounts.append({"name": "certificates", "mountPath": podenv.CERTIFICATES_PATH,
                       "readOnly": True})
    return volumes, mounts


def _pod_template(owner: Owner, spec: ReportScheduleSpec, s: RunnerSettings) -> dict[str, Any]:
    volumes, mounts = _volumes(spec)
    pod = placement.merge(s.pod, spec.runner)
    container = {
        "name": "runner",
        "image": s.image,
        "imagePullPolicy": s.image_pull_policy,
        "command": ["bulletin-runner"],
        "env": _env(owner, spec, s),
        "resources": placement.resources(pod),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        # The runner writes a redacted summary there; raw logs never reach status or Events.
        "terminationMessagePolicy": "File",
        "volumeMounts": mounts,
    }
    metadata: dict[str, Any] = {"labels": {**(pod.pod_labels or {}), **_labels(owner)}}
    if pod.pod_annotations:
        metadata["annotations"] = dict(pod.pod_annotations)
    return {
        "metadata": metadata,
        "spec": {
            **placement.pod_spec_fields(pod),
            "serviceAccountName": runner_account_name(owner),
            "restartPolicy": "Never",
            "enableServiceLinks": False,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 10001,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [container],
            "volumes": volumes,
        },
    }


def _shards(spec: ReportScheduleSpec, s: RunnerSettings) -> dict[str, Any]:
    """A burst's Job is Indexed: one completion per shard, each pod's JOB_COMPLETION_INDEX its
    shard, and a failed shard retried alone (backoffLimitPerIndex, GA in Kubernetes 1.33)."""
    burst = spec.delivery.burst
    if burst is None:
        return {"backoffLimit": s.backoff_limit}
    return {"completionMode": "Indexed", "completions": burst.shards,
            "parallelism": burst.parallelism, "backoffLimitPerIndex": s.backoff_limit}


def _job_spec(owner: Owner, spec: ReportScheduleSpec, s: RunnerSettings) -> dict[str, Any]:
    return {
        **_shards(spec, s),
        # A run that recorded its own failure exits 2, one its ReportSchedule is too large to
        # record exits 3: retrying would only repeat it.
        "podFailurePolicy": {
            "rules": [
                {"action": "FailJob",
                 "onExitCodes": {"containerName": "runner", "operator": "In", "values": [2, 3]}},
                {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
            ]
        },
        "activeDeadlineSeconds": s.active_deadline_seconds,
        "ttlSecondsAfterFinished": s.ttl_seconds_after_finished,
        "template": _pod_template(owner, spec, s),
    }


def starting_deadline(spec: ReportScheduleSpec) -> int:
    """How late a missed run may still start: short for catchUp None, a day for Latest."""
    if spec.starting_deadline_seconds is not None:
        return spec.starting_deadline_seconds
    return 300 if spec.catch_up is CatchUp.NONE else 86400


def cronjob(
    owner: Owner, spec: ReportScheduleSpec, s: RunnerSettings, schedule: str
) -> dict[str, Any]:
    """The CronJob that fires on ``schedule`` (a superset; each run checks its own time)."""
    cron_spec: dict[str, Any] = {
        "schedule": schedule,
        "timeZone": spec.schedule.time_zone,
        "suspend": spec.suspend,
        "concurrencyPolicy": spec.concurrency_policy.value,
        "startingDeadlineSeconds": starting_deadline(spec),
        "successfulJobsHistoryLimit": s.jobs_history_limit,
        "failedJobsHistoryLimit": s.jobs_history_limit,
        "jobTemplate": {
            "metadata": {"labels": _labels(owner)},
            "spec": _job_spec(owner, spec, s),
        },
    }
    return with_hash(
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": _metadata(owner, cronjob_name(owner)),
            "spec": cron_spec,
        }
    )


def run_now_job(
    owner: Owner, spec: ReportScheduleSpec, s: RunnerSettings, token: str,
    options: RunOptions | None = None,
) -> dict[str, Any]:
    """A one-off Job from the CronJob's template, for a run-now request ``token``."""
    name = run_now_job_name(owner.name, token)
    job_spec = _job_spec(owner, spec, s)
    container = job_spec["template"]["spec"]["containers"][0]
    container["env"] = [*container["env"], *podenv.run_now_env(options)]
    metadata = _metadata(owner, name)
    metadata["annotations"] = {RUN_REQUEST_ANNOTATION: token}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": job_spec}
