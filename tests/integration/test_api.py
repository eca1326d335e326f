"""The CRD on a real API server: admission rejects bad manifests with a clear message."""

from __future__ import annotations

import json

import pytest
from bulletin.api.mailcrypto import IN_THE_CLEAR
from bulletin.api.protection import COLUMN_WITHOUT_PROTECTION, NO_PASSWORD, NOTHING_TO_PROTECT
from bulletin.api.schedule import STAGGER_CRON
from support import Cluster, report_schedule


def _apply(cluster: Cluster, namespace: str, manifest: dict[str, object]) -> tuple[int, str]:
    proc = cluster.kubectl("apply", "-n", namespace, "-f", "-", check=False,
                           input_=json.dumps(manifest))
    return proc.returncode, proc.stderr


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"schedule": {"cron": "0 9 * * *", "daily": {"at": "09:00"}}},
         "spec.schedule: set exactly one of cron, daily, weekly or monthly"),
        ({"schedule": {"daily": {"at": "9am"}}}, "spec.schedule.daily.at"),
        ({"schedule": {"cron": "every monday"}}, "spec.schedule.cron"),
        ({"delivery": {}}, "spec.delivery: set at least one target"),
        ({"datasets": [{"name": "a", "query": "SELECT 1"}, {"name": "a", "query": "SELECT 2"}]},
         "spec.datasets: dataset names must be unique"),
        ({"formats": ["docx"]}, "spec.formats[0]"),
        ({"schedules": [{"name": "eu", "cron": "0 9 * * *"}]},
         "spec.schedule and spec.schedules: set exactly one of them"),
        ({"schedules": [{"name": "eu", "cron": "0 9 * * *"}, {"name": "eu", "cron": "0 8 * * *"}]},
         "spec.schedules: entry names must be unique"),
        ({"report": {"summaryDataset": "kpis"}}, "spec.report.summaryDataset: name one of"),
        ({"report": {"charts": [{"kind": "bar", "dataset": "mian", "x": "a", "y": ["b"]}]}},
         "spec.report.charts[].dataset: name one of spec.datasets"),
        ({"report": {"columns": {"totals": [{"name": "a"}]}}},
         "spec.report.columns: name one of spec.datasets"),
        ({"gates": {"minRows": [{"dataset": "other", "min": 1}]}},
         "spec.gates.minRows[].dataset: name one of spec.datasets"),
        ({"schedule": {"cron": "H 9 * * *", "staggerMinutes": 15}},
         f"spec.schedule: Invalid value: \"object\": {STAGGER_CRON}"),
        ({"schedules": [{"name": "eu", "daily": {"at": "09:00"}, "staggerMinutes": 5},
                        {"name": "us", "cron": "0 9 * * *", "staggerMinutes": 5}]},
         f"spec.schedules[1]: Invalid value: \"object\": {STAGGER_CRON}"),
        ({"protection": {"instructions": "Ask."}}, NO_PASSWORD),
        ({"formats": ["html"], "protection": {"instructions": "Ask.", "passwordSecretRef": {
            "name": "pw", "key": "password"}}}, NOTHING_TO_PROTECT),
        ({"datasets": [{"name": "people", "query": "SELECT 1"}, {"name": "b", "query": "SELECT 2"}],
          "delivery": {"email": {"smtpSecretRef": {"name": "smtp"}},
                       "burst": {"dataset": "people", "passwordColumn": "pin"}}},
         COLUMN_WITHOUT_PROTECTION),
        ({"delivery": {"email": {"smtpSecretRef": {"name": "smtp"}, "to": ["a@example.com"],
                                 "encryption": {"certificatesRef": {"name": "certs"},
                                                "withoutCertificate": "clear"}}}},
         IN_THE_CLEAR),
        ({"delivery": {"email": {"smtpSecretRef": {"name": "smtp"}, "to": ["a@example.com"]},
                       "storage": {"bucket": "reports", "credentialsSecretRef": {"name": "s3"},
                                   "encryption": "aes"}}},
         "spec.delivery.storage.encryption"),
    ],
)
def test_bad_manifest_is_rejected_with_the_field(
    cluster: Cluster, namespace: str, spec: dict[str, object], message: str
) -> None:
    code, stderr = _apply(cluster, namespace, report_schedule("bad", **spec))
    assert code != 0
    assert message in stderr, stderr


def test_good_manifest_is_accepted_with_defaults(cluster: Cluster, namespace: str) -> None:
    code, stderr = _apply(cluster, namespace, report_schedule("good"))
    assert code == 0, stderr
    spec = cluster.get_rs(namespace, "good")["spec"]
    assert spec["suspend"] is False
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["historyLimit"] == 10
    assert spec["formats"] == ["csv"]


def test_kubectl_explain_teaches_the_api(cluster: Cluster) -> None:
    out = cluster.kubectl("explain", "reportschedule.spec.schedule.timeZone").stdout
    assert "IANA time zone" in out
    out = cluster.kubectl("explain", "reportschedule.spec.schedules.name").stdout
    assert "unique in spec.schedules" in out
    out = cluster.kubectl("explain", "reportschedule.spec.schedule.staggerMinutes").stdout
    assert "the API server refuses it with cron" in " ".join(out.split())


def _served_names(cluster: Cluster) -> dict[str, set[str]]:
    """Every served resource (``plural.group``) with its plural and short names, from discovery."""
    paths = ["/api/v1"]
    groups = json.loads(cluster.kubectl("get", "--raw", "/apis").stdout)["groups"]
    paths += [f"/apis/{g['preferredVersion']['groupVersion']}" for g in groups]
    served: dict[str, set[str]] = {}
    for path in paths:
        listing = json.loads(cluster.kubectl("get", "--raw", path).stdout)
        group = listing["groupVersion"].rpartition("/")[0]
        for res in listing["resources"]:
            if "/" not in res["name"]:  # not a subresource
                served[f"{res['name']}.{group}"] = {res["name"], *res.get("shortNames", [])}
    return served


def test_short_names_clash_with_nothing_built_in(cluster: Cluster, namespace: str) -> None:
    """`kubectl get rs` stays ReplicaSet's; `rsched` and `reports` find schedules."""
    served = _served_names(cluster)
    ours = served.pop("reportschedules.bulletin.dev")
    assert ours == {"reportschedules", "rsched", "reports"}
    assert "rs" in served["replicasets.apps"]
    clashes = {name: names & ours for name, names in served.items() if names & ours}
    assert not clashes
    code, stderr = _apply(cluster, namespace, report_schedule("listed"))
    assert code == 0, stderr
    for alias in ("rsched", "reports", "bulletin"):  # "bulletin" is the category
        out = cluster.kubectl("get", alias, "-n", namespace, "-o", "name").stdout
        assert out.split() == ["reportschedule.bulletin.dev/listed"], (alias, out)
    assert cluster.kubectl("get", "rs", "-n", namespace, "-o", "name").stdout == ""
