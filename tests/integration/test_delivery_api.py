"""spec.delivery on a real API server: the CEL rules reject bad targets, defaults are filled."""

from __future__ import annotations

import json
from typing import Any

import pytest
from support import Cluster, report_schedule

HOOK = {"name": "ops", "url": "https://hooks.example.com/x"}
STORAGE = {"bucket": "reports", "credentialsSecretRef": {"name": "s3"}}


def _apply(cluster: Cluster, namespace: str, delivery: dict[str, Any]) -> tuple[int, str]:
    proc = cluster.kubectl("apply", "-n", namespace, "-f", "-", check=False,
                           input_=json.dumps(report_schedule("d", delivery=delivery)))
    return proc.returncode, proc.stderr


@pytest.mark.parametrize(("delivery", "message"), [
    ({"webhooks": []}, "spec.delivery: set at least one target"),
    ({"webhooks": [HOOK, HOOK]}, "spec.delivery.webhooks: names must be unique"),
    ({"webhooks": [{"name": "ops"}]}, "set exactly one of url or urlSecretRef"),
    ({"webhooks": [{**HOOK, "urlSecretRef": {"name": "h", "key": "k"}}]},
     "set exactly one of url or urlSecretRef"),
    ({"webhooks": [{**HOOK, "url": "ftp://x"}]}, "spec.delivery.webhooks[0].url"),
    ({"slack": {}}, "spec.delivery.slack.webhookSecretRef"),
    ({"slack": {"webhookSecretRef": {"name": "c", "key": "k"}},
      "storage": {**STORAGE, "retentionDays": 1}}, "links must not outlive the objects"),
])
def test_bad_delivery_is_rejected(cluster: Cluster, namespace: str, delivery: dict[str, Any],
                                  message: str) -> None:
    code, stderr = _apply(cluster, namespace, delivery)
    assert code != 0
    assert message in stderr, stderr


def test_chat_only_delivery_is_accepted_with_defaults(cluster: Cluster, namespace: str) -> None:
    code, stderr = _apply(cluster, namespace, {
        "teams": {"webhookSecretRef": {"name": "chat", "key": "teams"}}, "storage": STORAGE})
    assert code == 0, stderr
    delivery = cluster.get_rs(namespace, "d")["spec"]["delivery"]
    assert delivery["linkAboveBytes"] == 10 * 1024 * 1024
    assert delivery["retry"] == {"attempts": 5, "initialBackoffSeconds": 2,
                                 "maxBackoffSeconds": 60}
    assert delivery["storage"]["retentionDays"] == 90
    assert delivery["storage"]["archive"] is False
    out = cluster.kubectl("explain", "reportschedule.spec.delivery.webhooks.signingSecretRef"
                          ).stdout
    assert "HMAC-SHA256" in out
