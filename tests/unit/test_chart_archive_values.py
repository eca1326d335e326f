"""The chart's run archive (archive.*): off by default (no mount, no env); enabled, the
Secret is mounted read-only into the operator and the console only, never into runner pods;
enabled without a Secret fails the install."""

from __future__ import annotations

from typing import Any

from helmchart import CHART, helm, render


def pods(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o["spec"]["template"]["spec"] for o in objects
            if o["kind"] == "Deployment"}


def test_off_by_default() -> None:
    for spec in pods(render("rel", "ops", "console.enabled=true")).values():
        assert not [v for v in spec.get("volumes", []) if v["name"] == "archive"]
        assert "ARCHIVE" not in str(spec["containers"][0].get("env"))


def test_enabled_mounts_the_secret_into_operator_and_console() -> None:
    found = pods(render("rel", "ops", "console.enabled=true", "archive.enabled=true",
                        "archive.existingSecret=runs-db", "archive.retentionDays=30"))
    for name in ("rel-operator", "rel-console"):
        spec = found[name]
        [volume] = [v for v in spec["volumes"] if v["name"] == "archive"]
        assert volume["secret"] == {"secretName": "runs-db", "defaultMode": 0o440,
                                    "items": [{"key": "url", "path": "url"}]}
        [container] = spec["containers"]
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env["BULLETIN_ARCHIVE_URL_FILE"] == "/etc/bulletin/archive/url"
        assert env["BULLETIN_ARCHIVE_SECRET"] == "ops/runs-db:url"
        assert env["BULLETIN_ARCHIVE_RETENTION_DAYS"] == "30"
        assert {"name": "archive", "mountPath": "/etc/bulletin/archive",
                "readOnly": True} in container["volumeMounts"]


def test_enabled_without_a_secret_fails() -> None:
    done = helm("template", "rel", str(CHART), "--namespace", "ops", "--set",
                "archive.enabled=true", check=False)
    assert done.returncode != 0 and "archive.existingSecret" in done.stderr
