"""`helm upgrade --reuse-values` from a release older than a chart value renders the chart with
that value absent (helm reuses the old release's values, not the new chart's defaults): every
value added since a release must render, and mean its default, when it is missing."""

from __future__ import annotations

from typing import Any

from helmchart import render

# Top-level values added after the release the upgrade test starts from (tests/upgrade/FROM).
ADDED = ("archive", "burstPolicy", "console", "leaderElection")


def _operator_env(objects: list[dict[str, Any]]) -> dict[str, str]:
    [deployment] = [o for o in objects if o["kind"] == "Deployment"
                    and o["metadata"]["name"].endswith("-operator")]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", "") for e in container["env"]}


def test_values_added_since_the_last_release_may_be_absent() -> None:
    absent = [f"{key}=null" for key in ADDED]  # --set key=null deletes the key
    for replicas in ("1", "2"):
        objects = render("up", "ops", *absent, f"replicas={replicas}")
        env = _operator_env(objects)
        assert env["BULLETIN_BURST_POLICY"] == "{}"  # the operator's built-in limits
        assert "BULLETIN_ARCHIVE_URL_FILE" not in env
        assert "BULLETIN_LEADER_ELECTION_TIMING" not in env  # the operator's own timing
        assert not [o for o in objects if "console" in o["metadata"]["name"]]
    timing = _operator_env(render("up", "ops", "replicas=2"))["BULLETIN_LEADER_ELECTION_TIMING"]
    assert timing == '{"leaseDurationSeconds":6,"renewDeadlineSeconds":4,"retryPeriodSeconds":1}'
