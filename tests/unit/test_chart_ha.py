"""The chart with more than one replica (issue 22, point 1): RollingUpdate that never runs two
leaders' worth of pods down, a readiness probe, a default anti-affinity, the Lease timing, and
one replica keeping Recreate. Rendered by `helm template` (helm built from tests/helm)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from helmchart import CHART, helm, render


def deployment(*values: str) -> dict[str, Any]:
    [found] = [o for o in render("rel", "ops", *values) if o["kind"] == "Deployment"]
    return dict(found)


def test_more_than_one_replica_rolls_one_pod_at_a_time_with_readiness_and_spread() -> None:
    spec = deployment("replicas=2")["spec"]
    assert spec["strategy"] == {"type": "RollingUpdate",
                                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    pod = spec["template"]["spec"]
    container = pod["containers"][0]
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["BULLETIN_LEADER_ELECTION"] == "ops/rel-operator"
    assert json.loads(env["BULLETIN_LEADER_ELECTION_TIMING"]) == {
        "leaseDurationSeconds": 6, "renewDeadlineSeconds": 4, "retryPeriodSeconds": 1}
    [term] = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"][
        "app.kubernetes.io/instance"] == "rel"


def test_one_replica_keeps_recreate_and_no_lease() -> None:
    spec = deployment()["spec"]
    assert spec["strategy"] == {"type": "Recreate"}
    pod = spec["template"]["spec"]
    assert "affinity" not in pod
    assert "readinessProbe" in pod["containers"][0]
    names = {e["name"] for e in pod["containers"][0]["env"]}
    assert not names & {"BULLETIN_LEADER_ELECTION", "BULLETIN_LEADER_ELECTION_TIMING"}


@pytest.mark.parametrize("value", [
    "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]"
    ".matchExpressions[0].key=zone",
    "topologySpreadConstraints[0].maxSkew=1,topologySpreadConstraints[0].topologyKey=zone,"
    "topologySpreadConstraints[0].whenUnsatisfiable=ScheduleAnyway",
])
def test_own_placement_replaces_the_default_anti_affinity(value: str) -> None:
    pod = deployment("replicas=2", value)["spec"]["template"]["spec"]
    assert "podAntiAffinity" not in pod.get("affinity", {})


def test_lease_timing_that_could_let_two_act_is_refused() -> None:
    proc = helm("template", "rel", str(CHART), "--set", "replicas=2",
                "--set", "leaderElection.renewDeadlineSeconds=8", check=False)
    assert proc.returncode != 0
    assert "retryPeriodSeconds < renewDeadlineSeconds < leaseDurationSeconds" in proc.stderr
